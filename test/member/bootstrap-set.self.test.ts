import { afterEach, expect, it, vi } from 'vitest';
import { decodeCdapMessage, MemoryNetwork } from '../../src/index.js';
import { cleanup, member, withEnroller } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

it("an enroller advertising the member's own address: the member never takes itself for a bootstrap", async () => {
  vi.useFakeTimers();
  const net = new MemoryNetwork({ seed: 3 });
  // e.g. one list of "every enroller of the DIF" deployed everywhere, and this member is one of them
  const { enroller } = await withEnroller({ alternates: ['m', 'bootstrap-b'] }, net);
  const { mgr } = member(net, 'm', {
    heartbeatIntervalSecs: 0.25,
    connectionTimeoutSecs: 1,
    timeoutMs: 500,
    retransmitMs: 100,
    maxRetransmitMs: 200,
  });
  await mgr.enrolWithBootstrap('bootstrap');
  const toSelf: string[] = [];
  net.tap((p) => {
    if (p.from === 'm' && p.to === 'm') toSelf.push(String(decodeCdapMessage(p.pdu).opCode));
  });
  const targets: string[] = [];
  mgr.on('reenroll:attempt', ({ bootstrap }) => targets.push(bootstrap));
  mgr.startConnectionMonitoring();
  net.detach('bootstrap'); // gone without a word (a crash), not a graceful stop
  await enroller.stop();
  await vi.advanceTimersByTimeAsync(10_000);
  expect(mgr.bootstraps().map((b) => b.address)).not.toContain('m');
  expect(toSelf).toEqual([]);
  expect(targets).not.toContain('m');
});
