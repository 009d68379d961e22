/**
 * Found by a review (2026-12-06; fixed with it): a failed call is no completion, but the busy time it spent is still
 * counted in the gap of the next completion (`#since` is not moved), so an
 * outage in which every bind fails comes back as one enormous "gap". With a
 * call that never settles (which StorePace says it tolerates: "counts as one
 * in flight, nothing more"), the busy guard then refuses everyone for ever:
 * nothing new is admitted, so no completion can ever bring the average down.
 */
import { describe, expect, it } from 'vitest';
import { StorePace } from '../../src/enroller/store-pace.js';
import { ManualClock } from './manual-clock.js';

/** The enroller's default `maxStoreWaitMs`. */
const MAX_STORE_WAIT_MS = 1000;

describe('StorePace after an outage', () => {
  it('binds given up in bursts during a 60 s outage do not make one quick completion look like a 60 s gap', () => {
    const clock = new ManualClock();
    const pace = new StorePace(clock);
    pace.begin(); // a call that never settles (one in flight, nothing more, says StorePace)
    const warm = pace.begin();
    clock.advance(40);
    warm(); // the store completes binds 40 ms apart
    expect(pace.waitMs()).toBe(40);
    // etcd out of reach for 60 s: every 2 s, the 8 binds waiting in the window are given up unsent
    for (let round = 0; round < 30; round++) {
      const ends = Array.from({ length: 8 }, () => pace.begin());
      clock.advance(2000);
      for (const end of ends) end(false);
    }
    // etcd is back: a bind completes in 40 ms
    const back = pace.begin();
    clock.advance(40);
    back();
    // One call in flight (the one that never settles), and the store completes binds quickly again: the guard must
    // admit. It does not, and never will: no new bind is admitted, so no completion comes to move the average.
    expect(pace.waitMs()).toBeLessThanOrEqual(MAX_STORE_WAIT_MS);
  });

  it('without a hung call: right after an outage, ten quick binds in flight make a newcomer wait over a minute', () => {
    const clock = new ManualClock();
    const pace = new StorePace(clock);
    const warm = pace.begin();
    clock.advance(40);
    warm(); // the store completes binds 40 ms apart
    // A 60 s outage under steady arrivals: every second 8 binds start, and each fails 2 s later (the busy time never ends).
    const generations: Array<Array<(completed?: boolean) => void>> = [Array.from({ length: 8 }, () => pace.begin())];
    for (let s = 0; s < 60; s++) {
      clock.advance(1000);
      generations.push(Array.from({ length: 8 }, () => pace.begin()));
      if (generations.length > 2) for (const end of generations.shift() ?? []) end(false);
    }
    // etcd is back: ten binds start (the last binds given up are still in flight), the first completes in 40 ms
    const binds = Array.from({ length: 10 }, () => pace.begin());
    for (const end of generations.splice(0).flat()) end(false);
    clock.advance(40);
    binds[0]?.();
    // 9 in flight x a gap that swallowed the whole outage (some 7.5 s): every newcomer is refused for over a minute
    expect(pace.waitMs()).toBeLessThanOrEqual(MAX_STORE_WAIT_MS);
    for (const end of binds) end();
  });
});
