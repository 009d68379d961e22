import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Result, retryHintOf } from '../../src/cdap/messages.js';
import { MAX_RETRY_IN_MS, MIN_SLOT_GAP_MS, ReturnSlots } from '../../src/enroller/return-slots.js';
import { MemoryNetwork, OpCode } from '../../src/index.js';
import { cleanup, connectMsg, member, RawPeer, withEnroller } from '../support/helpers.js';

/** The slots of `count` members refused one after another at `now`. */
const refuse = (slots: ReturnSlots, now: number, inProgress: number, count: number): number[] =>
  Array.from({ length: count }, () => slots.next(now, inProgress));

describe('ReturnSlots: when members refused "busy" come back', () => {
  it('a fresh enroller spaces them by the smallest gap, each member its own slot after the last', () => {
    const slots = new ReturnSlots();
    const told = refuse(slots, 0, 1024, 30);
    expect(told.slice(0, 10)).toEqual(Array(10).fill(1)); // 0.1 .. 1.0 ms, in whole ms
    expect(told[29]).toBeGreaterThanOrEqual(30 * MIN_SLOT_GAP_MS); // 3 ms (4 with the sum's rounding)
    expect(told[29]).toBeLessThanOrEqual(30 * MIN_SLOT_GAP_MS + 1);
    expect(told).toEqual([...told].sort((a, b) => a - b));
  });

  it("spaces them by Little's law: an enrollment's time in progress over the enrollments in progress", () => {
    const slots = new ReturnSlots();
    slots.completed(100);
    expect(slots.gapMs(100)).toBe(1);
    expect(refuse(slots, 0, 100, 5)).toEqual([1, 2, 3, 4, 5]);
    expect(slots.gapMs(1000)).toBe(MIN_SLOT_GAP_MS); // never closer than one enroller can take them
    expect(slots.gapMs(0)).toBe(100); // (no division by zero)
  });

  it('the time in progress is a moving average of completed enrollments', () => {
    const slots = new ReturnSlots();
    slots.completed(100);
    slots.completed(200);
    expect(slots.gapMs(1)).toBe(112.5); // 100 + (200 - 100) / 8
  });

  it('slots handed out are kept: members refused later queue after them, and a queue long past starts afresh', () => {
    const slots = new ReturnSlots();
    slots.completed(50);
    expect(refuse(slots, 0, 10, 4)).toEqual([5, 10, 15, 20]);
    slots.completed(50); // room was made: no stall
    expect(slots.next(10, 10)).toBe(15); // the last slot was at 20: 10 ms from now, one gap after it
    slots.completed(50);
    expect(slots.next(1000, 10)).toBe(5); // long after the last slot: one gap from now
    expect(slots.next(2000, 10)).toBe(5 + 1000); // refused at 1000 and nothing completed since: a stall of 1 s
  });

  it('while nothing completes, each member refused again waits about twice as long; the first completion ends that', () => {
    const slots = new ReturnSlots();
    let now = 0;
    const waits: number[] = [];
    for (let i = 0; i < 12; i++) {
      const wait = slots.next(now, 2);
      waits.push(wait);
      refuse(slots, now, 2, 50); // others refused meanwhile take the slots after it
      now += wait; // the one member comes back when told, and is refused again
    }
    for (let i = 1; i < waits.length; i++) {
      expect(waits[i]).toBeGreaterThanOrEqual(1.5 * (waits[i - 1] as number));
      expect(waits[i]).toBeLessThanOrEqual(2 * (waits[i - 1] as number) + 6); // + the 50 queued ahead (5 ms)
    }
    expect(now).toBeGreaterThan(1000); // 12 refusals span over a second, not 12 ms
    slots.completed(4);
    // room is being made again: one gap (4 / 2 ms) after the slots already handed out (12 x 50 x 0.1 ms at most), no stall
    expect(slots.next(now, 2)).toBeLessThanOrEqual(2 + 1);
  });

  it('a stall ends when nothing is in progress any more (its enrollments forgotten or abandoned, none completed)', () => {
    const slots = new ReturnSlots();
    slots.next(0, 2);
    expect(slots.next(1000, 2)).toBe(1001); // stalled for 1 s
    slots.idle();
    expect(slots.next(3_600_000, 2)).toBe(1); // an hour later, a new burst: no stall carried over
  });

  it('reset: a stopped and started enroller measures afresh', () => {
    const slots = new ReturnSlots();
    slots.completed(1000);
    refuse(slots, 0, 1, 10);
    slots.reset();
    expect(slots.next(5, 1)).toBe(1);
    expect(slots.gapMs(1)).toBe(MIN_SLOT_GAP_MS);
  });

  it(`never tells a member to wait more than ${MAX_RETRY_IN_MS} ms, nor less than 1 ms`, () => {
    const slots = new ReturnSlots();
    slots.completed(1e9);
    expect(refuse(slots, 0, 1, 3)).toEqual([MAX_RETRY_IN_MS, MAX_RETRY_IN_MS, MAX_RETRY_IN_MS]);
    const fresh = new ReturnSlots();
    expect(fresh.next(5, 1)).toBe(1);
    // at any clock time (the sum's rounding must not carry it to 60,001)
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1e7, noNaN: true }), (now) => {
        const far = new ReturnSlots();
        far.completed(1e9);
        expect(far.next(now, 1)).toBe(MAX_RETRY_IN_MS);
      }),
      { numRuns: 2000 }, // about 1% of times below 1e7 ms round up past the cap
    );
  });
});

describe('an enroller tells each member it refuses "busy" its slot', () => {
  afterEach(async () => {
    await cleanup();
    vi.useRealTimers();
  });

  /** The `try again in` of the busy answer each of `names` gets, asking one after another. */
  async function refusals(net: MemoryNetwork, names: string[]): Promise<Array<number | undefined>> {
    const told: Array<number | undefined> = [];
    for (const name of names) {
      const peer = new RawPeer(net.attach(name));
      await peer.send('bootstrap', connectMsg(1, name));
      await vi.advanceTimersByTimeAsync(20); // the answer's way back
      const reply = peer.ofType(OpCode.M_CONNECT_R)[0];
      expect(reply?.result).toBe(Result.BUSY);
      told.push(retryHintOf(reply?.resultReason ?? ''));
    }
    return told;
  }

  it('from how long its completed enrollments took: 40 ms each, 2 in progress, a slot every 20 ms', async () => {
    vi.useFakeTimers();
    const net = new MemoryNetwork({ seed: 1, delayMs: 10 }); // an enrollment: 4 crossings of 10 ms after its M_CONNECT arrived
    await withEnroller({ maxPendingEnrollments: 2, pendingTimeoutMs: 600_000 }, net);
    const { mgr } = member(net, 'm');
    const enrolled = mgr.enrolWithBootstrap('bootstrap');
    await vi.advanceTimersByTimeAsync(200);
    await enrolled;
    for (const name of ['squat0', 'squat1']) await new RawPeer(net.attach(name)).send('bootstrap', connectMsg(1, name));
    await vi.advanceTimersByTimeAsync(20);
    // each 20 ms later than the last, and the stall (20 ms per ask, nothing completing) adds to the second
    const [first, second] = await refusals(net, ['late0', 'late1']);
    expect(first).toBe(20);
    expect(second).toBeGreaterThanOrEqual(40);
    expect(second).toBeLessThanOrEqual(40 + 20);
  });

  it('a stall is not carried past the moment nothing is in progress, nor past stop() and start()', async () => {
    vi.useFakeTimers();
    const net = new MemoryNetwork({ seed: 1 });
    const { enroller } = await withEnroller({ maxPendingEnrollments: 2, pendingTimeoutMs: 2000 }, net);
    const squat = async (round: number) => {
      for (const i of [0, 1]) await new RawPeer(net.attach(`squat${round}-${i}`)).send('bootstrap', connectMsg(1, `squat${round}-${i}`));
      await vi.advanceTimersByTimeAsync(1);
    };
    await squat(1);
    expect(await refusals(net, ['a0'])).toEqual([1]);
    await vi.advanceTimersByTimeAsync(1000);
    const [stalled] = await refusals(net, ['a1']);
    expect(stalled).toBeGreaterThanOrEqual(1000); // nothing completed for a second
    await vi.advanceTimersByTimeAsync(3000); // the squatters are forgotten: nothing in progress
    expect(enroller.pendingEnrollments).toBe(0);
    await squat(2);
    expect(await refusals(net, ['b0'])).toEqual([1]); // a new stall starts from nothing
    await vi.advanceTimersByTimeAsync(500);
    expect((await refusals(net, ['b1']))[0]).toBeGreaterThanOrEqual(500);
    await enroller.stop();
    await enroller.start();
    await squat(3);
    expect(await refusals(net, ['c0'])).toEqual([1]); // nor is it carried past a restart
  });
});
