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

  it('is exactly least-recently-heard: remembers the last maxPeers addresses heard, forgets the one heard longest ago (random traffic, against a model)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.array(fc.integer({ min: 0, max: 11 }), { maxLength: 200 }), (maxPeers, peers) => {
        // One token and no refill: a remembered address is refused, a forgotten one gets a fresh bucket.
        const rate = new RateLimiter(1, 1, maxPeers, new ManualClock());
        let remembered: string[] = []; // the model: the most recently heard last
        for (const p of peers) {
          const peer = `p${p}`;
          expect(rate.take(peer), `${peer} after ${remembered.join(' ')}`).toBe(!remembered.includes(peer));
          remembered = [...remembered.filter((r) => r !== peer), peer].slice(-maxPeers);
          expect(rate.size).toBe(remembered.length);
        }
      }),
    );
  });

  // Found by a review (2026-12-06; fixed with it): a limiter in two generations of maxPeers / 2 forgot addresses that
  // took turns within the bound, and each came back with a full bucket.
  it('addresses taking turns within maxPeers get their bursts once, however long they keep at it', () => {
    const accepted = (maxPeers: number, addresses: number, rounds: number, burst: number): number => {
      const rate = new RateLimiter(1, burst, maxPeers, new ManualClock()); // the clock never moves: no refill
      let n = 0;
      for (let r = 0; r < rounds; r++)
        for (let a = 0; a < addresses; a++) for (let i = 0; i < burst; i++) if (rate.take(`10.0.0.${a}:7000`)) n++;
      return n;
    };
    expect(accepted(10, 10, 100, 2)).toBe(10 * 2);
    expect(accepted(10, 7, 100, 2)).toBe(7 * 2);
    expect(accepted(3, 3, 100, 2)).toBe(3 * 2);
    expect(accepted(10_000, 10_000, 10, 1)).toBe(10_000); // of 100,000 sent
  });
});
