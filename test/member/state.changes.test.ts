import { afterEach, expect, it, vi } from 'vitest';
import type { EnrollmentState } from '../../src/index.js';
import { cleanup, member, withEnroller } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});
const fmt = (s: EnrollmentState) => (s.type === 'reenrolling' ? `reenrolling#${s.attempt}@${s.bootstrap}` : s.type);

it('each recovery attempt changes the state once (never to an identical state), and close() during recovery goes from reenrolling to closed', async () => {
  vi.useFakeTimers();
  const { net, enroller } = await withEnroller();
  const { mgr } = member(net, 'm', {
    heartbeatIntervalSecs: 0.25,
    connectionTimeoutSecs: 1,
    timeoutMs: 500,
    retransmitMs: 100,
    maxRetransmitMs: 200,
  });
  await mgr.enrolWithBootstrap('bootstrap');
  mgr.startConnectionMonitoring();
  const seq: string[] = [];
  const repeats: string[] = [];
  mgr.on('state:change', (s, prev) => {
    seq.push(fmt(s));
    if (JSON.stringify(s) === JSON.stringify(prev)) repeats.push(fmt(s));
  });
  net.detach('bootstrap'); // gone without a word (a crash), not a graceful stop
  await enroller.stop();
  await vi.advanceTimersByTimeAsync(6000);
  await mgr.close();
  expect(repeats).toEqual([]);
  expect(seq.slice(-2)).not.toEqual(['idle', 'closed']); // close() during recovery should go reenrolling > closed
});

it('close() inside an "enrolled" listener leaves no timer behind', async () => {
  vi.useFakeTimers();
  const { net, enroller } = await withEnroller();
  const { mgr } = member(net, 'm', { heartbeatIntervalSecs: 30, connectionTimeoutSecs: 90 });
  let closing: Promise<void> | undefined;
  mgr.once('enrolled', () => {
    closing = mgr.close();
  });
  await mgr.enrolWithBootstrap('bootstrap').catch(() => undefined);
  await vi.advanceTimersByTimeAsync(0);
  await closing; // once close() is done (its M_RELEASE sent), not while it may still wait for the send
  await enroller.stop();
  expect(vi.getTimerCount()).toBe(0);
});
