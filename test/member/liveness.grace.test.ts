/**
 * Found by a review (2026-12-07) of the grace a late deadline gives (src/member/liveness.ts): a monitor started on a
 * connection already silent past its timeout placed its deadline in the past, the wheel put it in a bucket long
 * past, and the tick that ran it looked late: a grace of one keepalive interval on a process that was never late.
 * An entry placed in the past now goes into the present bucket (src/util/ticker.ts `place`).
 */
import { afterEach, expect, it, vi } from 'vitest';
import { MemoryNetwork } from '../../src/index.js';
import { cleanup, member, settle, withEnroller } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

it('a monitor started on a connection already silent past the timeout declares the loss at once', async () => {
  vi.useFakeTimers();
  const net = new MemoryNetwork({ seed: 1 });
  await withEnroller({}, net);
  const { mgr } = member(net, 'm', { bootstraps: ['bootstrap'], heartbeatIntervalSecs: 1, connectionTimeoutSecs: 2, timeoutMs: 500 });
  const lost: number[] = [];
  mgr.on('connection:lost', () => lost.push(performance.now()));
  const enrolled = mgr.enrol();
  await vi.advanceTimersByTimeAsync(250);
  await enrolled;
  net.partition('m', 'bootstrap'); // the bootstrap goes silent: keepalives unanswered
  await settle();
  await vi.advanceTimersByTimeAsync(3500); // past the timeout, with no monitor to notice
  expect(lost).toEqual([]);
  const startedAt = performance.now();
  mgr.startConnectionMonitoring();
  await vi.advanceTimersByTimeAsync(30);
  expect(lost.length).toBe(1);
  expect((lost[0] as number) - startedAt).toBeLessThanOrEqual(20); // a bucket, not an interval
});
