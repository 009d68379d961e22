import { afterEach, expect, it, vi } from 'vitest';
import { decodeCdapMessage, MemoryNetwork, OpCode } from '../../src/index.js';
import { cleanup, member, withEnroller } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

it('enrolWithBootstrap("b") during the monitor\'s recovery pre-empts it: "b" is tried', async () => {
  vi.useFakeTimers();
  const net = new MemoryNetwork({ seed: 4 });
  const a = await withEnroller({}, net);
  const { mgr } = member(net, 'm', {
    heartbeatIntervalSecs: 0.25,
    connectionTimeoutSecs: 1,
    timeoutMs: 500,
    retransmitMs: 100,
    maxRetransmitMs: 200,
  });
  await mgr.enrolWithBootstrap('bootstrap');
  mgr.startConnectionMonitoring();
  net.detach('bootstrap'); // gone without a word (a crash), not a graceful stop
  await a.enroller.stop(); // the only known bootstrap dies; the monitor starts its recovery
  await vi.advanceTimersByTimeAsync(2000);
  await withEnroller({}, net, 'bootstrap-b'); // the operator brings up another one and points the member at it
  const toB: number[] = [];
  net.tap((p) => {
    if (p.to === 'bootstrap-b' && decodeCdapMessage(p.pdu).opCode === OpCode.M_CONNECT) toB.push(performance.now());
  });
  mgr.enrolWithBootstrap('bootstrap-b').catch(() => undefined);
  await vi.advanceTimersByTimeAsync(60_000);
  expect(toB.length).toBeGreaterThan(0);
});
