import { afterEach, expect, it, vi } from 'vitest';
import { decodeCdapMessage, MemoryNetwork } from '../../src/index.js';
import { scriptedResolver } from '../support/dns.js';
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

it('a configuration that lists the member’s own address (the same list deployed everywhere) does not make it a bootstrap, before or after a lookup', async () => {
  const ENROLLER = '10.0.0.1:7000';
  const { net } = await withEnroller({}, new MemoryNetwork({ seed: 3 }), ENROLLER);
  const toSelf: number[] = [];
  net.tap((p) => {
    if (p.to === p.from) toSelf.push(decodeCdapMessage(p.pdu).opCode);
  });
  const { mgr } = member(net, 'm', { bootstraps: ['m', ENROLLER] });
  expect(mgr.bootstraps().map((b) => b.address)).toEqual([ENROLLER]);
  await mgr.enrol();

  const NAME = '_rina-enroll._udp.example.test';
  const dns = scriptedResolver({ [NAME]: [{ name: 'a.test', port: 7000, priority: 0, weight: 0 }] }, { 'a.test': { a: ['10.0.0.1'] } });
  const { mgr: looking } = member(net, 'm2', { bootstraps: ['m2', `srv:${NAME}`] }, { discovery: { resolver: dns.resolver } });
  await looking.enrol();
  expect(dns.calls.srv).toBe(1);
  expect(looking.bootstraps().map((b) => [b.address, b.source])).toEqual([[ENROLLER, 'dns']]);
  expect(toSelf).toEqual([]);
});
