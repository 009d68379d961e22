import { mock } from 'node:test';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EnrollmentManager, MemoryRib } from '../../src/index.js';
import { type Clock, clockFrom, deadlineTimer, LATE_MS, sleep, systemClock, type TimerHandle } from '../../src/util/clock.js';
import { Ticker } from '../../src/util/ticker.js';
import { cleanup, withEnroller } from '../support/helpers.js';

afterEach(async () => {
  mock.timers.reset();
  vi.useRealTimers();
  await cleanup();
});

/** A clock whose time moves only when the test says, with timers it fires by hand. */
function manualClock(): Clock & { advance(ms: number): void } {
  let t = 0;
  const timers = new Map<number, { at: number; run: () => void; every?: number }>();
  let next = 1;
  return {
    now: () => t,
    setTimeout: (run, ms) => {
      timers.set(next, { at: t + ms, run });
      return next++;
    },
    clearTimeout: (id) => void timers.delete(id as number),
    setInterval: (run, ms) => {
      timers.set(next, { at: t + ms, run, every: ms });
      return next++;
    },
    clearInterval: (id) => void timers.delete(id as number),
    advance(ms: number) {
      const end = t + ms;
      for (;;) {
        const due = [...timers].filter(([, timer]) => timer.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
        if (due === undefined) break;
        const [id, timer] = due;
        t = Math.max(t, timer.at);
        if (timer.every === undefined) timers.delete(id);
        else timer.at += timer.every;
        timer.run();
      }
      t = end;
    },
  };
}

describe('systemClock', () => {
  it('makes timers that do not keep the process alive', () => {
    const timeout = systemClock.setTimeout(() => undefined, 60_000) as NodeJS.Timeout;
    const interval = systemClock.setInterval(() => undefined, 60_000) as NodeJS.Timeout;
    try {
      expect(timeout.hasRef()).toBe(false);
      expect(interval.hasRef()).toBe(false);
    } finally {
      systemClock.clearTimeout(timeout);
      systemClock.clearInterval(interval);
    }
  });

  it('reads the global timers at each call, so fake timers installed later drive it', async () => {
    vi.useFakeTimers();
    let fired = false;
    systemClock.setTimeout(() => {
      fired = true;
    }, 1000);
    await vi.advanceTimersByTimeAsync(999);
    expect(fired).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(fired).toBe(true);
  });
});

describe('clockFrom', () => {
  it('is the system clock when nothing is given', () => {
    expect(clockFrom(undefined)).toBe(systemClock);
  });

  it('calls each member given on the object given: a class instance keeps its this', () => {
    class Frozen {
      readonly at = 7;
      now(): number {
        return this.at;
      }
    }
    expect(clockFrom(new Frozen()).now()).toBe(7);
  });

  it('takes what is given and the system for the rest', () => {
    const clock = clockFrom({ now: () => 42 });
    expect(clock.now()).toBe(42);
    const handle = clock.setTimeout(() => undefined, 60_000) as NodeJS.Timeout;
    expect(handle.hasRef()).toBe(false);
    clock.clearTimeout(handle);
  });

  // Found by an audit (2026-12-06): a member's first attempt cleared its retransmission timer before one was set, and
  // a strict clock (one that throws for a handle it never gave out) failed the enrollment.
  it('never asks a given clock to clear a handle it did not give out (none set yet)', () => {
    const cleared: unknown[] = [];
    const strict = {
      clearTimeout: (h: unknown) => cleared.push(h),
      clearInterval: (h: unknown) => cleared.push(h),
    };
    const clock = clockFrom(strict);
    clock.clearTimeout(undefined);
    clock.clearInterval(undefined);
    expect(cleared).toEqual([]);
    clock.clearTimeout(7);
    expect(cleared).toEqual([7]);
  });
});

describe('sleep', () => {
  it('resolves after the time on the given clock', async () => {
    const clock = manualClock();
    let done = false;
    const slept = sleep(100, undefined, clock).then(() => {
      done = true;
    });
    clock.advance(99);
    await Promise.resolve();
    expect(done).toBe(false);
    clock.advance(1);
    await slept;
    expect(done).toBe(true);
  });

  it('rejects with the reason on abort, and clears its timer', async () => {
    const clock = manualClock();
    const cleared = vi.spyOn(clock, 'clearTimeout');
    const ac = new AbortController();
    const slept = sleep(100, ac.signal, clock);
    ac.abort(new Error('stop'));
    await expect(slept).rejects.toThrow('stop');
    expect(cleared).toHaveBeenCalledTimes(1);
  });

  it('rejects at once on a signal already aborted', async () => {
    await expect(sleep(100, AbortSignal.abort(new Error('before')))).rejects.toThrow('before');
  });
});

describe('deadlineTimer', () => {
  /**
   * The system clock on fake timers, read `lag` ms ahead of them: a timer fires on time by its own count, `lag` ms
   * late by the clock. `pending()` counts the timers set through it and not yet fired or cleared (not
   * `clock.pending()`, which counts any other code's timers too: under a loaded full run, one of an earlier test
   * fell due in the middle of these).
   */
  function lagging() {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const live = new Set<TimerHandle>();
    const clock = {
      ...systemClock,
      lag: 0,
      now: () => performance.now() + clock.lag,
      setTimeout: (callback: () => void, ms: number): TimerHandle => {
        const handle = systemClock.setTimeout(() => {
          live.delete(handle);
          callback();
        }, ms);
        live.add(handle);
        return handle;
      },
      clearTimeout: (handle: TimerHandle) => {
        live.delete(handle);
        systemClock.clearTimeout(handle);
      },
      pending: () => live.size,
    };
    return clock;
  }

  it.each([
    [LATE_MS, false],
    [LATE_MS + 1, true],
  ])('a timer firing %i ms late: put off one event-loop turn = %s, and never twice', async (lag, putOff) => {
    const clock = lagging();
    const ran: string[] = [];
    deadlineTimer(clock, 100, () => ran.push('run'));
    await vi.advanceTimersByTimeAsync(50);
    clock.lag = lag; // the process stalls
    await vi.advanceTimersByTimeAsync(50);
    expect(ran).toEqual(putOff ? [] : ['run']);
    expect(clock.pending()).toBe(putOff ? 1 : 0);
    await vi.advanceTimersByTimeAsync(1); // the 0 ms timer (1 ms, as in Node), still late by the clock
    expect(ran).toEqual(['run']);
    expect(clock.pending()).toBe(0);
  });

  it('clear() cancels the timer in force, before it fires or once it was put off', async () => {
    const clock = lagging();
    const ran: string[] = [];
    deadlineTimer(clock, 100, () => ran.push('early')).clear();
    const putOff = deadlineTimer(clock, 100, () => ran.push('put off'));
    clock.lag = 500;
    await vi.advanceTimersByTimeAsync(100);
    expect(clock.pending()).toBe(1);
    putOff.clear();
    await vi.advanceTimersByTimeAsync(100);
    expect(ran).toEqual([]);
    expect(clock.pending()).toBe(0);
  });
});

describe('Ticker on an injected clock', () => {
  it('runs an entry at its time, never before, when the test ticks it', () => {
    const clock = manualClock();
    const ticker = new Ticker(20, clock);
    const runs: number[] = [];
    ticker.schedule(100, () => runs.push(clock.now()));
    clock.advance(99);
    ticker.tick();
    expect(runs).toEqual([]);
    clock.advance(21);
    expect(runs.length).toBe(1);
    expect(runs[0]).toBeGreaterThanOrEqual(100);
    expect(ticker.size).toBe(0);
  });
});

describe('a manager driven by node:test mock timers', () => {
  it('detects a silent bootstrap on the mocked clock alone (clock: { now: Date.now })', async () => {
    mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: 0 });
    const { net } = await withEnroller({}, undefined);
    const shim = net.attach('m');
    const mgr = new EnrollmentManager({
      shim,
      rib: new MemoryRib(),
      ipcpName: 'm',
      config: { heartbeatIntervalSecs: 1, connectionTimeoutSecs: 3, timeoutMs: 1000 },
      clock: { now: () => Date.now() },
    });
    const enrolled = mgr.enrolWithBootstrap('bootstrap');
    for (let i = 0; i < 20 && mgr.state.type !== 'enrolled'; i++) {
      mock.timers.tick(5);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await enrolled;
    mgr.startConnectionMonitoring();
    const lost: number[] = [];
    mgr.on('connection:lost', ({ silentMs }) => lost.push(silentMs));
    net.partition('m', 'bootstrap');
    const from = Date.now();
    while (lost.length === 0 && Date.now() - from < 5_000) {
      mock.timers.tick(10);
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(lost.length).toBe(1);
    expect(lost[0]).toBeGreaterThanOrEqual(3000);
    expect(lost[0]).toBeLessThan(3100);
    await mgr.close();
  });
});
