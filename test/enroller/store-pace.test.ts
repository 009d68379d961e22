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

  it('with calls in flight: (in flight + 1) x the moving average of the busy time between completions', () => {
    const clock = new ManualClock();
    const pace = new StorePace(clock);
    const first = pace.begin();
    clock.advance(100);
    first();
    clock.advance(10_000); // idle time is not counted
    const ends = [pace.begin(), pace.begin(), pace.begin()];
    expect(pace.waitMs()).toBe(400);
    clock.advance(260);
    expect(pace.waitMs()).toBe(400);
    ends[0]?.(); // a gap of 260: 100 + (260 - 100) / 16
    expect(pace.waitMs()).toBe(3 * 110);
    ends[0]?.(); // ended once only
    expect(pace.inFlight).toBe(2);
    ends[1]?.(); // a gap of 0: 110 - 110 / 16
    expect(pace.waitMs()).toBeCloseTo(2 * 103.125);
  });

  it('a store silent for longer than its pace says, with calls in flight, is as slow as its silence', () => {
    const clock = new ManualClock();
    const pace = new StorePace(clock);
    const end = pace.begin();
    expect(pace.waitMs()).toBe(0); // nothing measured yet: only the silence counts
    clock.advance(700);
    expect(pace.waitMs()).toBe(700);
    end();
    pace.begin();
    clock.advance(3000);
    expect(pace.waitMs()).toBe(3000);
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
    expect(pace.waitMs()).toBeGreaterThan(0); // the 50 ms measured, decayed by the two calls of no time
  });
});
