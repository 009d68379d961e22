/**
 * The shared timing wheel (src/util/ticker.ts): every entry runs once, never
 * before its time and at most one bucket after it, whatever the order of
 * scheduling, cancelling and time passing; a wheel with nothing scheduled
 * holds no timer; a wheel whose process was late reads the I/O queued
 * meanwhile before it runs what fell due.
 */
import dgram from 'node:dgram';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type Clock, LATE_MS } from '../../src/util/clock.js';
import { TICK_MS, Ticker, type TickerEntry } from '../../src/util/ticker.js';

/** A clock on vitest's fake timers, counting the timers it has pending. */
function fakeClock(): Clock & { pending(): number } {
  const live = new Set<unknown>();
  return {
    now: () => performance.now(),
    setTimeout: (run, ms) => {
      const handle: ReturnType<typeof setTimeout> = setTimeout(() => {
        live.delete(handle);
        run();
      }, ms);
      live.add(handle);
      return handle;
    },
    clearTimeout: (handle) => {
      live.delete(handle);
      clearTimeout(handle as ReturnType<typeof setTimeout>);
    },
    setInterval: () => {
      throw new Error('the wheel needs no interval');
    },
    clearInterval: () => undefined,
    pending: () => live.size,
  };
}

type Op =
  | { kind: 'schedule'; delay: number }
  | { kind: 'cancel'; which: number }
  | { kind: 'move'; which: number; delay: number }
  | { kind: 'advance'; ms: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('schedule' as const),
    delay: fc.oneof(fc.integer({ min: -50, max: 3000 }), fc.double({ min: 0, max: 100, noNaN: true })),
  }),
  fc.record({ kind: fc.constant('cancel' as const), which: fc.nat() }),
  // place() an entry again, whether it is still scheduled (moved), ran, or was cancelled (reused)
  fc.record({ kind: fc.constant('move' as const), which: fc.nat(), delay: fc.integer({ min: -50, max: 3000 }) }),
  fc.record({ kind: fc.constant('advance' as const), ms: fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 2000 })) }),
);

afterEach(() => {
  vi.useRealTimers();
});

describe('Ticker', () => {
  it('runs each entry once per placing, never before its time and at most one bucket after, under any schedule/cancel/move/advance order', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 60 }), async (ops) => {
        vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
        const clock = fakeClock();
        const ticker = new Ticker(TICK_MS, clock);
        // expected: how many times the entry should have run once everything due has run
        // ran: each run's time, with the placing it ran for (its time, and when it was placed)
        type Run = { t: number; at: number; scheduled: number };
        const entries: Array<{ at: number; scheduled: number; ran: Run[]; expected: number; entry: ReturnType<Ticker['after']> }> = [];
        for (const o of ops) {
          if (o.kind === 'schedule') {
            const at = clock.now() + o.delay;
            const record = {
              at,
              scheduled: clock.now(),
              ran: [] as Run[],
              expected: 1,
              entry: undefined as unknown as ReturnType<Ticker['after']>,
            };
            record.entry = ticker.schedule(at, () => record.ran.push({ t: clock.now(), at: record.at, scheduled: record.scheduled }));
            entries.push(record);
          } else if (o.kind === 'cancel' && entries.length > 0) {
            const record = entries[o.which % entries.length];
            if (record !== undefined && record.ran.length < record.expected) {
              ticker.cancel(record.entry);
              record.expected = record.ran.length;
            }
          } else if (o.kind === 'move' && entries.length > 0) {
            const record = entries[o.which % entries.length] as (typeof entries)[number];
            record.at = clock.now() + o.delay;
            record.scheduled = clock.now();
            record.expected = record.ran.length + 1; // a run still pending moves; one that happened stays
            ticker.place(record.entry, record.at);
          } else if (o.kind === 'advance') {
            await vi.advanceTimersByTimeAsync(o.ms);
          }
        }
        await vi.advanceTimersByTimeAsync(3100 + TICK_MS);
        for (const r of entries) {
          expect(r.ran).toHaveLength(r.expected);
          if (r.expected === 0) continue;
          // Every run against the placing it ran for (a placing moved or cancelled after it ran in the same instant is not it)
          for (const run of r.ran) {
            expect(run.t).toBeGreaterThanOrEqual(run.at);
            // At most one bucket after it was due, or after it was scheduled when that was already past its time.
            expect(run.t).toBeLessThanOrEqual(Math.max(run.at, run.scheduled) + TICK_MS);
          }
        }
        expect(ticker.size).toBe(0);
        expect(clock.pending()).toBe(0);
        vi.useRealTimers();
      }),
      { numRuns: 200 },
    );
  });

  it('runs an entry due in the future at most one bucket late, even when a sooner one is scheduled after it', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const clock = fakeClock();
    const ticker = new Ticker(TICK_MS, clock);
    const t0 = clock.now();
    const ran: Array<[string, number]> = [];
    ticker.after(1000, () => ran.push(['late', clock.now() - t0]));
    ticker.after(15, () => ran.push(['soon', clock.now() - t0]));
    expect(clock.pending()).toBe(1); // one timer, re-armed for the sooner bucket
    await vi.advanceTimersByTimeAsync(2000);
    expect(ran.map(([name]) => name)).toEqual(['soon', 'late']);
    for (const [name, at] of ran) {
      const due = name === 'soon' ? 15 : 1000;
      expect(at).toBeGreaterThanOrEqual(due);
      expect(at).toBeLessThanOrEqual(due + TICK_MS);
    }
    expect(clock.pending()).toBe(0);
  });

  it("never asks for a timer longer than Node's longest delay (2^31 - 1 ms), whatever an entry's time", () => {
    const delays: number[] = [];
    const clock: Clock = {
      now: () => 0,
      setTimeout: (_run, ms) => {
        delays.push(ms);
        return delays.length;
      },
      clearTimeout: () => undefined,
      setInterval: () => 0,
      clearInterval: () => undefined,
    };
    const ticker = new Ticker(TICK_MS, clock);
    ticker.schedule(2 ** 31 + 5, () => undefined);
    expect(delays).toEqual([2 ** 31 - 1]);
  });

  it('holds no timer once its last entry is cancelled', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const clock = fakeClock();
    const ticker = new Ticker(TICK_MS, clock);
    const a = ticker.after(500, () => undefined);
    const b = ticker.after(50, () => undefined);
    ticker.cancel(b);
    expect(clock.pending()).toBe(1);
    ticker.cancel(a);
    expect(clock.pending()).toBe(0);
    expect(ticker.size).toBe(0);
  });

  it('an entry moved into the past by a callback of its own bucket runs once per placing, and the count stays exact', () => {
    let t = 1000; // the start of bucket 100
    const clock: Clock = { ...fakeClock(), now: () => t, setTimeout: () => ({}) as never, clearTimeout: () => undefined };
    const ticker = new Ticker(TICK_MS, clock);
    const runs: number[] = [];
    const x = {
      at: 0,
      bucket: -1,
      run(): void {
        runs.push(t);
        if (runs.length === 1) ticker.place(x, 995); // re-placed in the past from its own run
      },
    };
    // y runs first and moves x, not yet run, into the past: the wheel is empty meanwhile (the bucket counted out)
    const y = { at: 0, bucket: -1, run: (): void => void ticker.place(x, 995) };
    ticker.place(y, 1000);
    ticker.place(x, 1000);
    for (; t <= 1040; t += TICK_MS) ticker.tick();
    expect(runs).toHaveLength(2); // the move's run and the re-placing's, never the old placing's
    expect(ticker.size).toBe(0);
    const z = ticker.schedule(5000, () => undefined);
    expect(ticker.size).toBe(1);
    ticker.cancel(z);
    expect(ticker.size).toBe(0);
  });

  it('keeps turning when a callback throws, and runs what a callback schedules in the past at once', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const clock = fakeClock();
    const ticker = new Ticker(TICK_MS, clock);
    const ran: string[] = [];
    ticker.after(10, () => {
      ran.push('thrower');
      ticker.schedule(clock.now() - 5, () => ran.push('scheduled in the past'));
      throw new Error('boom');
    });
    ticker.after(10, () => ran.push('sibling'));
    await vi.advanceTimersByTimeAsync(10 + 2 * TICK_MS);
    expect(ran).toEqual(['thrower', 'sibling', 'scheduled in the past']);
    expect(clock.pending()).toBe(0);
  });
});

describe('Ticker: a process that was late', () => {
  /** fakeClock, read `lag` ms ahead of the fake timers: the timer fires on time by its own count, `lag` ms late by the clock. */
  function laggingClock() {
    const clock = fakeClock();
    const lagging = { ...clock, lag: 0, now: () => clock.now() + lagging.lag };
    return lagging;
  }

  it.each([
    [LATE_MS + 1, 'put off one event-loop turn'],
    [LATE_MS, 'run at once'],
  ])('a timer firing %i ms past its bucket: what is due is %s, and only once', async (lag, _) => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const clock = laggingClock();
    const ticker = new Ticker(TICK_MS, clock);
    const ran: string[] = [];
    ticker.after(100 - (clock.now() % TICK_MS), () => ran.push('due')); // due at a bucket's start: the timer fires on it
    await vi.advanceTimersByTimeAsync(50);
    clock.lag = lag; // the process stalls
    await vi.advanceTimersByTimeAsync(50);
    const putOff = lag > LATE_MS;
    expect(ran).toEqual(putOff ? [] : ['due']);
    expect(clock.pending()).toBe(putOff ? 1 : 0);
    await vi.advanceTimersByTimeAsync(1); // the 0 ms timer (1 ms, as in Node): still late by the clock, it runs now (never put off twice)
    expect(ran).toEqual(['due']);
    expect(clock.pending()).toBe(0);
  });

  it('is behind() while a put-off is pending; a put-off ended by a cancel leaves nothing behind, and the next late firing is put off too', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const clock = laggingClock();
    const ticker = new Ticker(TICK_MS, clock);
    const ran: string[] = [];
    const first = ticker.after(100 - (clock.now() % TICK_MS), () => ran.push('first'));
    expect(ticker.behind()).toBe(false);
    await vi.advanceTimersByTimeAsync(50);
    clock.lag = 25;
    await vi.advanceTimersByTimeAsync(50);
    expect(ticker.behind()).toBe(true); // put off
    ticker.cancel(first);
    expect(ticker.behind()).toBe(false);
    expect(clock.pending()).toBe(0);
    const delay = 100 - (clock.now() % TICK_MS);
    ticker.after(delay, () => ran.push('second'));
    clock.lag = 50; // late again
    await vi.advanceTimersByTimeAsync(delay); // to the firing, not past it
    expect(ran).toEqual([]);
    expect(ticker.behind()).toBe(true);
    await vi.advanceTimersByTimeAsync(1);
    expect(ran).toEqual(['second']);
    expect(ticker.behind()).toBe(false);
  });

  it('is behind() when its timer is overdue by more than LATE_MS, the process not having got to it', () => {
    let now = 0;
    const clock: Clock = {
      now: () => now,
      setTimeout: () => 1,
      clearTimeout: () => undefined,
      setInterval: () => 0,
      clearInterval: () => undefined,
    };
    const ticker = new Ticker(TICK_MS, clock);
    ticker.schedule(100, () => undefined);
    now = 100 + LATE_MS;
    expect(ticker.behind()).toBe(false);
    now += 1;
    expect(ticker.behind()).toBe(true);
    ticker.tick();
    expect(ticker.behind()).toBe(false); // nothing left, nothing armed
  });

  it('an explicit tick() runs what is due however late the clock is', () => {
    let now = 0;
    const clock: Clock = {
      now: () => now,
      setTimeout: () => 1,
      clearTimeout: () => undefined,
      setInterval: () => 0,
      clearInterval: () => undefined,
    };
    const ticker = new Ticker(TICK_MS, clock);
    const ran: number[] = [];
    ticker.schedule(20, () => ran.push(now));
    now = 5_000;
    ticker.tick();
    expect(ran).toEqual([5_000]);
  });

  it('on the system clock: a datagram that arrived while the process was blocked is read before the entry that fell due meanwhile', async () => {
    const ticker = new Ticker(TICK_MS);
    const socket = dgram.createSocket('udp4');
    const sender = dgram.createSocket('udp4');
    try {
      await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
      await new Promise<void>((resolve) => sender.bind(0, '127.0.0.1', resolve));
      const order: string[] = [];
      const read = new Promise<void>((resolve) =>
        socket.on('message', () => {
          order.push('datagram');
          resolve();
        }),
      );
      const ran = new Promise<void>((resolve) =>
        ticker.after(5, () => {
          order.push('entry');
          resolve();
        }),
      );
      sender.send('heartbeat', socket.address().port, '127.0.0.1'); // leaves on the next tick of the process
      const until = performance.now() + 150;
      while (performance.now() < until) {
        // blocked: the entry falls due, the datagram arrives, neither is handled
      }
      await Promise.all([read, ran]);
      expect(order).toEqual(['datagram', 'entry']);
    } finally {
      socket.close();
      sender.close();
    }
  });
});

/** What an entry does when it runs: nothing, or cancel, move or schedule another. */
type Act =
  | { kind: 'none' }
  | { kind: 'cancel'; which: number }
  | { kind: 'move'; which: number; delay: number }
  | { kind: 'schedule'; delay: number; act: number };
const act: fc.Arbitrary<Act> = fc.oneof(
  fc.constant({ kind: 'none' as const }),
  fc.record({ kind: fc.constant('cancel' as const), which: fc.nat() }),
  fc.record({ kind: fc.constant('move' as const), which: fc.nat(), delay: fc.integer({ min: -20, max: 60 }) }),
  fc.record({ kind: fc.constant('schedule' as const), delay: fc.integer({ min: -20, max: 60 }), act: fc.nat() }),
);
it('a wheel with nothing scheduled holds no timer, after every step, whatever its entries do when they run', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(op, { maxLength: 50 }), fc.array(act, { minLength: 1, maxLength: 20 }), async (ops, acts) => {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
      const clock = fakeClock();
      const ticker = new Ticker(TICK_MS, clock);
      const entries: TickerEntry[] = [];
      const pick = (which: number): TickerEntry | undefined => entries[which % Math.max(1, entries.length)];
      const schedule = (delay: number, a: number): void => {
        const what = acts[a % acts.length] as Act;
        entries.push(
          ticker.schedule(clock.now() + delay, () => {
            if (what.kind === 'cancel') ticker.cancel(pick(what.which));
            else if (what.kind === 'move') {
              const e = pick(what.which);
              if (e !== undefined) ticker.place(e, clock.now() + what.delay);
            } else if (what.kind === 'schedule') schedule(what.delay, what.act);
          }),
        );
      };
      for (const o of ops) {
        if (o.kind === 'schedule') schedule(o.delay, entries.length);
        else if (o.kind === 'cancel') ticker.cancel(pick(o.which));
        else if (o.kind === 'move') {
          const e = pick(o.which);
          if (e !== undefined) ticker.place(e, clock.now() + o.delay);
        } else await vi.advanceTimersByTimeAsync(o.ms);
        if (ticker.size === 0) expect(clock.pending()).toBe(0);
        expect(clock.pending()).toBeLessThanOrEqual(1);
      }
      vi.useRealTimers();
    }),
    { numRuns: 1000 },
  );
});

describe('Ticker.late', () => {
  /** A wheel on a clock the test moves, ticked by hand. */
  function handWheel() {
    let t = 1_000;
    const clock: Clock = {
      now: () => t,
      setTimeout: () => 0,
      clearTimeout: () => undefined,
      setInterval: () => 0,
      clearInterval: () => undefined,
    };
    return { ticker: new Ticker(TICK_MS, clock), move: (ms: number) => (t += ms) };
  }

  it('is true only inside a tick that began more than LATE_MS past its earliest bucket, whatever its entries take', () => {
    const { ticker, move } = handWheel();
    const seen: boolean[] = [];
    ticker.after(50, () => seen.push(ticker.late));
    move(50);
    ticker.tick(); // on time
    ticker.after(50, () => {
      seen.push(ticker.late);
      move(500); // an entry that takes long does not make the process late for the next
    });
    ticker.after(55, () => seen.push(ticker.late));
    move(50 + LATE_MS + TICK_MS);
    ticker.tick(); // the process got to it late
    ticker.after(10, () => seen.push(ticker.late));
    move(10);
    ticker.tick();
    expect(seen).toEqual([false, true, true, false]);
    expect(ticker.late).toBe(false);
  });
});
