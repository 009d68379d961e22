import { describe, expect, it } from 'vitest';
import { exponentialDelay, fullJitterDelay } from '../../src/util/backoff.js';

describe('exponentialDelay', () => {
  it('doubles from the base after each failure, up to the cap', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => exponentialDelay(n, 100, 2000))).toEqual([100, 200, 400, 800, 1600, 2000]);
  });

  it('stays finite and at the cap for absurd failure counts', () => {
    expect(exponentialDelay(10_000, 100, 2000)).toBe(2000);
    expect(exponentialDelay(10_000, 100, Number.MAX_VALUE)).toBe(100 * 2 ** 52);
  });

  it('treats n below 1 as the first failure', () => {
    expect(exponentialDelay(0, 100, 2000)).toBe(100);
  });
});

describe('fullJitterDelay', () => {
  const settings = { baseMs: 100, capMs: 1000, floorMs: 10 };

  it('draws in [floor, ceiling) where the ceiling doubles per failure up to the cap', () => {
    expect(fullJitterDelay(1, settings, () => 0.999)).toBe(99);
    expect(fullJitterDelay(3, settings, () => 0.5)).toBe(200);
    expect(fullJitterDelay(20, settings, () => 0.999)).toBe(999);
  });

  it('never waits less than the floor', () => {
    expect(fullJitterDelay(1, settings, () => 0)).toBe(10);
  });

  it('draws exactly one random number per delay', () => {
    let draws = 0;
    fullJitterDelay(4, settings, () => {
      draws++;
      return 0.3;
    });
    expect(draws).toBe(1);
  });
});
