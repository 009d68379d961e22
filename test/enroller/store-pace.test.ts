import { describe, expect, it } from 'vitest';
import { StorePace } from '../../src/enroller/store-pace.js';
import { ManualClock } from './manual-clock.js';

describe('StorePace', () => {
  it('an idle store makes nobody wait, however slow it was', () => {
    const clock = new ManualClock();
    const pace = new StorePace(clock);
    expect(pace.waitMs()).toBe(0);
    const end = pace.begin();
    clock.advance(5000);
    end();
    expect(pace.inFlight).toBe(0);
    expect(pace.waitMs()).toBe(0);
  });

  it('with calls in flight: in flight x the moving average of the busy time between completions', () => {
    const clock = new ManualClock();
    const pace = new StorePace(clock);
    const first = pace.begin();
    clock.advance(100);
    first();
    clock.advance(10_000); // idle time is not counted
    const ends = [pace.begin(), pace.begin(), pace.begin()];
    expect(pace.waitMs()).toBe(300);
    clock.advance(260);
    expect(pace.waitMs()).toBe(300); // waiting is not completing: the pace moves at completions only
    ends[0]?.(); // a gap of 260: 100 + (260 - 100) / 8
    expect(pace.waitMs()).toBe(2 * 120);
    ends[0]?.(); // ended once only
    expect(pace.inFlight).toBe(2);
    ends[1]?.(); // at the same time: one run of two completions in 260, two gaps of 130: 100 + 30 * (1 - (7/8)^2)
    expect(pace.waitMs()).toBeCloseTo(107.03, 2);
    clock.advance(40);
    ends[2]?.(); // a run of its own: 107.03 + (40 - 107.03) / 8
    expect(pace.inFlight).toBe(0);
    const more = pace.begin();
    expect(pace.waitMs()).toBeCloseTo(98.65, 2);
    more();
  });

  it('a call that never settles counts as one in flight and no more: the store is not judged slower for its silence', () => {
    const clock = new ManualClock();
    const pace = new StorePace(clock);
    pace.begin(); // never ends
    expect(pace.waitMs()).toBe(0); // nothing measured yet
    const other = pace.begin();
    clock.advance(40);
    other();
    clock.advance(3_600_000);
    expect(pace.waitMs()).toBe(40); // one in flight x a gap of 40
  });

  it('time(): a call answered at once, resolved, rejected or thrown ends once, and its answer is given back as it came', async () => {
    const clock = new ManualClock();
    const pace = new StorePace(clock);
    expect(pace.time(() => 7)).toBe(7);
    expect(pace.inFlight).toBe(0);
    let resolve = (_: boolean): void => undefined;
    const pending = pace.time(() => new Promise<boolean>((r) => (resolve = r)));
    expect(pace.inFlight).toBe(1);
    clock.advance(50);
    resolve(false);
    expect(await pending).toBe(false);
    expect(pace.inFlight).toBe(0);
    await expect(pace.time(() => Promise.reject(new Error('down')))).rejects.toThrow('down');
    expect(pace.inFlight).toBe(0);
    expect(() =>
      pace.time(() => {
        throw new Error('sync');
      }),
    ).toThrow('sync');
    expect(pace.inFlight).toBe(0);
    pace.begin();
    expect(pace.waitMs()).toBe(0 + 50 / 8); // the call answered at once (0), then the 50 ms one; the failures are no completions
  });

  it('a failed call ends its flight but is no completion: binds given up unsent do not make the store look faster', () => {
    const clock = new ManualClock();
    const pace = new StorePace(clock);
    const warm = pace.begin();
    clock.advance(200);
    warm(); // one completion 200 ms into busy time
    const ends = Array.from({ length: 10 }, () => pace.begin());
    expect(pace.waitMs()).toBe(10 * 200);
    clock.advance(2000);
    for (const end of ends.slice(0, 8)) end(false); // given up together, unsent (a window full past the call timeout)
    expect(pace.inFlight).toBe(2);
    expect(pace.waitMs()).toBe(2 * 200); // as slow as before: eight failures in a burst are not eight completions of no time
    ends[8]?.(); // the next completion comes 2 s after the last one
    expect(pace.waitMs()).toBe(1 * (200 + (2000 - 200) / 8));
  });
});

/** The enroller's default `maxStoreWaitMs`. */
const MAX_STORE_WAIT_MS = 1000;

/**
 * Found by a review (2026-12-06; fixed with it): a failed call was no completion, but the busy time it spent was
 * still counted in the gap of the next completion (`#since` was not moved), so an
 * outage in which every bind failed came back as one enormous "gap". With a
 * call that never settles (which StorePace says it tolerates: "counts as one
 * in flight, nothing more"), the busy guard then refused everyone for ever:
 * nothing new was admitted, so no completion could bring the average down.
 */
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
    // admit. Before the fix it never did: no new bind was admitted, so no completion came to move the average.
    expect(pace.waitMs()).toBeLessThanOrEqual(MAX_STORE_WAIT_MS);
  });

  it('without a hung call: right after an outage, ten quick binds in flight do not make a newcomer wait over a minute', () => {
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
    // Before the fix: 9 in flight x a gap that swallowed the whole outage (some 7.5 s), every newcomer refused for over a minute
    expect(pace.waitMs()).toBeLessThanOrEqual(MAX_STORE_WAIT_MS);
    for (const end of binds) end();
  });

  it('binds completed in batches (32 answered within a millisecond, one batch every 100 ms) are paced as 320 a second, not as ten times that', () => {
    const clock = new ManualClock();
    const pace = new StorePace(clock);
    const inFlight = Array.from({ length: 1000 }, () => pace.begin());
    for (let batch = 0; batch < 20; batch++) {
      clock.advance(100);
      for (let i = 0; i < 32; i++) {
        inFlight.shift()?.();
        inFlight.push(pace.begin()); // as many start again: 1,000 stay in flight
      }
    }
    // 1,000 in flight at 320 a second: about 3.1 s. One by one, 31 gaps of 0 for each of 100 ms would say ~0.2 s.
    expect(pace.inFlight).toBe(1000);
    expect(pace.waitMs()).toBeGreaterThan(2500);
    expect(pace.waitMs()).toBeLessThan(3500);
  });

  it('a burst of 256 completions within a millisecond (8 batches of 32) after 400 ms is paced as 256 in 400 ms', () => {
    const clock = new ManualClock();
    const pace = new StorePace(clock);
    const first = pace.begin();
    clock.advance(400);
    first(); // one gap of 400
    const burst = Array.from({ length: 256 }, () => pace.begin());
    const stay = pace.begin(); // one more in flight, for the reading
    clock.advance(400);
    for (const end of burst) end();
    // 400 + (400/256 - 400) * (1 - (7/8)^256): all but nothing of the old average is left
    expect(pace.waitMs()).toBeCloseTo(1.5625, 3);
    stay();
  });

  it('two completions under a millisecond apart with the store idle between them are two runs, not one', () => {
    const clock = new ManualClock();
    const pace = new StorePace(clock);
    const a = pace.begin();
    clock.advance(100);
    a(); // the first gap: 100
    clock.advance(0.3); // idle
    const b = pace.begin(); // b's busy time starts now
    clock.advance(0.5);
    b(); // 0.8 ms after a, but a run of its own: 100 + (0.5 - 100) / 8 (one run with a would say 100.8 / 2 for both)
    const c = pace.begin();
    expect(pace.waitMs()).toBeCloseTo(87.5625, 4);
    c();
  });
});
