import { afterEach, expect, it, vi } from 'vitest';
import { cleanup, member, withEnroller } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

it('an explicit reEnroll() announces the wait p-retry really takes: each retryInMs is the gap to the next attempt, doubling from initialBackoffMs', async () => {
  vi.useFakeTimers();
  const { net } = await withEnroller();
  const config = { timeoutMs: 300, retransmitMs: 50, maxRetransmitMs: 100, initialBackoffMs: 200, maxRetries: 4 };
  const { mgr } = member(net, 'm', config);
  await mgr.enrolWithBootstrap('bootstrap');
  net.partition('m', 'bootstrap');
  const attempts: number[] = [];
  const failures: Array<{ at: number; retryInMs: number | undefined }> = [];
  mgr.on('reenroll:attempt', () => attempts.push(performance.now()));
  mgr.on('reenroll:failure', ({ retryInMs }) => failures.push({ at: performance.now(), retryInMs }));
  const outcome = mgr.reEnroll().catch((e: Error) => e.name);
  await vi.advanceTimersByTimeAsync(10_000);
  expect(await outcome).toBe('EnrollmentTimeoutError');
  expect(attempts.length).toBe(4);
  expect(failures.map((f) => f.retryInMs)).toEqual([200, 400, 800, undefined]);
  for (let i = 0; i < 3; i++) {
    const gap = (attempts[i + 1] as number) - (failures[i] as { at: number }).at;
    expect(gap).toBeGreaterThanOrEqual(failures[i]?.retryInMs as number);
    expect(gap).toBeLessThan((failures[i]?.retryInMs as number) + 5);
  }
});
