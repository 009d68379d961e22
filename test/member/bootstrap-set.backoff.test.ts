import { afterEach, expect, it, vi } from 'vitest';
import { cleanup, member, withEnroller } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

it("a success resets the bootstrap's failures: each new, unrelated outage starts with the first backoff (at most the base)", async () => {
  vi.useFakeTimers();
  const { net } = await withEnroller();
  const { mgr } = member(
    net,
    'm',
    {
      heartbeatIntervalSecs: 0.25,
      connectionTimeoutSecs: 1,
      timeoutMs: 500,
      retransmitMs: 100,
      maxRetransmitMs: 200,
      reenrollBackoffBaseMs: 1000,
      reenrollBackoffCapMs: 30_000,
    },
    { random: () => 0.999 },
  );
  await mgr.enrolWithBootstrap('bootstrap');
  mgr.startConnectionMonitoring();
  let lostAt = 0;
  const firstAttemptDelay: number[] = [];
  mgr.on('connection:lost', () => {
    lostAt = performance.now();
    firstAttemptDelay.push(Number.NaN);
  });
  mgr.on('reenroll:attempt', ({ attempt }) => {
    if (attempt === 1) firstAttemptDelay[firstAttemptDelay.length - 1] = performance.now() - lostAt;
  });
  for (let outage = 0; outage < 6; outage++) {
    // a short blip: cut just long enough to be detected, healed at once; the first attempt after it always works
    net.partition('m', 'bootstrap');
    await vi.advanceTimersByTimeAsync(1100);
    net.heal('m', 'bootstrap');
    await vi.advanceTimersByTimeAsync(60_000); // fully recovered and stable for a minute
    expect(mgr.state.type).toBe('enrolled');
  }
  // full jitter with n = 0 after a success: at most base (1000 ms) every time
  for (const d of firstAttemptDelay) expect(d).toBeLessThanOrEqual(1000);
});
