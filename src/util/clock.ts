/**
 * Time as the library sees it: a monotonic `now()` and timers, injectable so
 * that tests can drive them. Every timer the library makes through a clock
 * is unref'd when its handle allows: none keeps a process alive.
 *
 * The default, {@link systemClock}, reads `performance.now()` and the global
 * timer functions at each call, so fake timers installed after a manager or
 * enroller was made still drive it:
 * - vitest: `vi.useFakeTimers({ toFake: [..., 'performance'] })` fakes
 *   `performance.now()` too, so nothing needs injecting.
 * - `node:test`: `mock.timers.enable({ apis: ['setTimeout', 'setInterval',
 *   'Date'] })` does not fake `performance.now()`; pass
 *   `clock: { now: () => Date.now() }` and the mocked `Date` drives it.
 *
 * @module
 */

/** An opaque timer handle, as the clock's `setTimeout`/`setInterval` return it. */
export type TimerHandle = unknown;

/** The longest delay a Node.js timer takes (2^31 - 1 ms, about 24.8 days); longer ones fire at once. */
export const MAX_TIMER_MS = 2_147_483_647;

/** Where the library reads the time and sets its timers. */
export interface Clock {
  /** Monotonic milliseconds (only differences are used). */
  now(): number;
  /** Calls `callback` once after `ms`. */
  setTimeout(callback: () => void, ms: number): TimerHandle;
  /** Cancels a `setTimeout`; harmless on one that ran. */
  clearTimeout(handle: TimerHandle): void;
  /** Calls `callback` every `ms`. */
  setInterval(callback: () => void, ms: number): TimerHandle;
  /** Cancels a `setInterval`. */
  clearInterval(handle: TimerHandle): void;
}

const unref = <T>(handle: T): T => {
  (handle as { unref?: () => void }).unref?.();
  return handle;
};

/** `performance.now()` and the global timers, read at each call; timers unref'd. */
export const systemClock: Clock = Object.freeze({
  now: () => performance.now(),
  setTimeout: (callback: () => void, ms: number) => unref(setTimeout(callback, ms)),
  clearTimeout: (handle: TimerHandle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  setInterval: (callback: () => void, ms: number) => unref(setInterval(callback, ms)),
  clearInterval: (handle: TimerHandle) => clearInterval(handle as ReturnType<typeof setInterval>),
});

/**
 * A whole clock from a partial one: what is left out is the system's. Each
 * member given is called on the object given (a class instance's methods
 * keep their `this`).
 */
export function clockFrom(partial: Partial<Clock> | undefined): Clock {
  if (partial === undefined || partial === systemClock) return systemClock;
  const pick = <K extends keyof Clock>(key: K): Clock[K] => {
    const own = partial[key];
    return own === undefined ? systemClock[key] : ((own as (...args: never[]) => unknown).bind(partial) as Clock[K]);
  };
  const [now, setTimer, clearTimer, setRepeat, clearRepeat] = [
    pick('now'),
    pick('setTimeout'),
    pick('clearTimeout'),
    pick('setInterval'),
    pick('clearInterval'),
  ];
  // A user's clock is asked to clear only handles it gave out (a strict one throws for anything else: not one set yet).
  return {
    now,
    setTimeout: (callback, ms) => unref(setTimer(callback, ms)),
    clearTimeout: (handle) => {
      if (handle !== undefined) clearTimer(handle);
    },
    setInterval: (callback, ms) => unref(setRepeat(callback, ms)),
    clearInterval: (handle) => {
      if (handle !== undefined) clearRepeat(handle);
    },
  };
}

/**
 * How late a timer may fire past its time before the process counts itself
 * late (CPU-starved, paused, busy with a long queue): past this, a deadline
 * waits one event-loop turn more, so that the I/O that queued meanwhile is
 * read before the deadline is judged (see {@link deadlineTimer} and the
 * timing wheel, src/util/ticker.ts).
 */
export const LATE_MS = 20;

/**
 * Calls `run` once `ms` have passed on the clock, as `setTimeout` does,
 * unless the timer fires more than {@link LATE_MS} late: the process itself
 * was late then, and `run` waits for a 0 ms timer, which runs after this
 * turn's poll phase has read what queued meanwhile (an answer that arrived
 * in time is read before the deadline declares it missing). `clear()`
 * cancels whichever timer is in force.
 */
export function deadlineTimer(clock: Clock, ms: number, run: () => void): { clear(): void } {
  const dueAt = clock.now() + ms;
  let timer: TimerHandle;
  const fire = (): void => {
    if (clock.now() - dueAt <= LATE_MS) run();
    else timer = clock.setTimeout(run, 0);
  };
  timer = clock.setTimeout(fire, ms);
  return { clear: () => clock.clearTimeout(timer) };
}

/** Resolves after `ms` on the clock's (unref'd) timer; rejects with the signal's reason on abort. */
export function sleep(ms: number, signal?: AbortSignal, clock: Clock = systemClock): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clock.clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Resolves once every one of `promises` settled, or after `ms` on the
 * clock, whichever comes first; the timer goes either way. What a goodbye
 * (M_RELEASE on `close()` or `stop()`) waits for a shim that may never
 * take it.
 */
export async function settleWithin(promises: ReadonlyArray<Promise<unknown>>, ms: number, clock: Clock = systemClock): Promise<void> {
  let timer: TimerHandle;
  const deadline = new Promise<void>((resolve) => {
    timer = clock.setTimeout(resolve, ms);
  });
  try {
    await Promise.race([Promise.allSettled(promises), deadline]);
  } finally {
    clock.clearTimeout(timer);
  }
}

/**
 * A time kept for long, in whole milliseconds, rounded up (so that nothing
 * judged from it comes early). A V8 object field holding a fraction points
 * to a 16-byte heap number of its own; a whole number of milliseconds (below
 * 2^31, some 24 days of `performance.now()`) is held in the field itself,
 * which is a few dozen bytes in each of ten thousand idle members.
 */
export function wholeMs(t: number): number {
  return Math.ceil(t);
}

/** A duration for events, metrics and logs: milliseconds to 0.1 ms (timer noise below that is not news). */
export function roundMs(ms: number): number {
  return Math.round(ms * 10) / 10;
}
