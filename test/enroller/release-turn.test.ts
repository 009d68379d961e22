/**
 * Whose turn it is to release a name (src/enroller/release-turn.ts): the
 * enrollers that see one list give a name's turns to each of them once, so
 * exactly one goes first; the order differs from name to name, so no
 * enroller releases everything; and no turn is shorter than the hold.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_RELEASE_STAGGER_MS, releaseDelayMs, releaseTurn } from '../../src/enroller/release-turn.js';

describe('releaseTurn', () => {
  it('the enrollers that see the same list take turns 0..N-1, each once, for any name', () => {
    fc.assert(
      fc.property(fc.string(), fc.uniqueArray(fc.string({ minLength: 1 }), { minLength: 1, maxLength: 20 }), (name, enrollers) => {
        const turns = enrollers.map((self) =>
          releaseTurn(
            name,
            self,
            enrollers.filter((e) => e !== self),
          ),
        );
        expect([...turns].sort((a, b) => a - b)).toEqual(enrollers.map((_, i) => i));
      }),
      { numRuns: 300 },
    );
  });

  it('spreads the first turns over the enrollers: each of 10 goes first for some of 1,000 names, none for most', () => {
    const enrollers = Array.from({ length: 10 }, (_, i) => `127.0.0.1:${7000 + i}`);
    const first = new Map<string, number>();
    for (let n = 0; n < 1000; n++) {
      const name = `member-${n}`;
      const who = enrollers.find(
        (self) =>
          releaseTurn(
            name,
            self,
            enrollers.filter((e) => e !== self),
          ) === 0,
      );
      first.set(who as string, (first.get(who as string) ?? 0) + 1);
    }
    expect(first.size).toBe(10);
    for (const count of first.values()) expect(count).toBeLessThan(250);
  });

  it('delays a release by whole turns of the hold, at most a second each; alone, never', () => {
    expect(releaseDelayMs('m', 'a', [], 300_000)).toBe(0);
    const others = ['b', 'c', 'd'];
    const turn = releaseTurn('m', 'a', others);
    expect(releaseDelayMs('m', 'a', others, 300_000)).toBe(turn * MAX_RELEASE_STAGGER_MS);
    expect(releaseDelayMs('m', 'a', others, 200)).toBe(turn * 200);
  });
});
