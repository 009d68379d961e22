import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../../src/enroller/rate-limiter.js';
import { ManualClock } from './manual-clock.js';

describe('RateLimiter: a token bucket per shim address', () => {
  it('allows a burst, then refuses until tokens refill at the rate', () => {
    const clock = new ManualClock();
    const rate = new RateLimiter(10, 3, 100, clock); // 10 per second, bursts of 3
    expect([1, 2, 3, 4].map(() => rate.take('a'))).toEqual([true, true, true, false]);
    clock.advance(99); // 0.99 token
    expect(rate.take('a')).toBe(false);
    clock.advance(2); // 1.01 tokens: a refused message costs nothing
    expect(rate.take('a')).toBe(true);
    expect(rate.take('a')).toBe(false);
  });

  it('keeps one bucket per address: one flooding address does not starve another', () => {
    const rate = new RateLimiter(1, 2, 100, new ManualClock());
    expect([rate.take('a'), rate.take('a'), rate.take('a')]).toEqual([true, true, false]);
    expect(rate.take('b')).toBe(true);
    expect(rate.size).toBe(2);
  });

  it('forgets the least recently heard address beyond maxPeers: its next message finds a full bucket', () => {
    const rate = new RateLimiter(1, 1, 2, new ManualClock());
    expect(rate.take('a')).toBe(true);
    expect(rate.take('a')).toBe(false); // a's bucket is empty
    rate.take('b');
    rate.take('c'); // three addresses, room for two: a (heard least recently) goes
    expect(rate.size).toBe(2);
    expect(rate.take('a')).toBe(true); // forgotten, so a fresh bucket
    expect(rate.size).toBe(2); // and b went in its turn
    rate.take('c');
    expect(rate.take('b')).toBe(true);
  });

  it('never holds more than maxPeers buckets, and never forgets one of the last maxPeers / 2 addresses heard (random traffic)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.array(fc.integer({ min: 0, max: 11 }), { maxLength: 200 }), (maxPeers, peers) => {
        // One token and no refill: a remembered address is refused, a forgotten one gets a fresh bucket.
        const rate = new RateLimiter(1, 1, maxPeers, new ManualClock());
        const kept = Math.max(1, Math.floor(maxPeers / 2));
        const heard: string[] = []; // distinct addresses, the most recently heard last
        for (const p of peers) {
          const peer = `p${p}`;
          const allowed = rate.take(peer);
          const i = heard.indexOf(peer);
          if (i >= heard.length - kept && i >= 0) expect(allowed, `${peer} was among the last ${kept} heard`).toBe(false);
          if (i >= 0) heard.splice(i, 1);
          heard.push(peer);
          expect(rate.size).toBeLessThanOrEqual(maxPeers);
        }
      }),
    );
  });
});
