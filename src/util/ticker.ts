/**
 * One shared `setInterval` for every periodic check of every manager and
 * enroller in the process.
 *
 * A per-manager interval fine enough to notice a lost bootstrap within 50 ms
 * would wake 20 times a second per manager: 200,000 wake-ups a second for
 * 10,000 managers. Here one interval ticks every {@link TICK_MS} while
 * anything is scheduled; deadlines sit in buckets of that width, so a tick
 * touches only what is due, and an entry is never run before its time and at
 * most two ticks after it.
 *
 * Tests drive it through its clock (fake timers), or call {@link Ticker.tick}.
 *
 * @module
 */
import { type Clock, systemClock, type TimerHandle } from './clock.js';

/** Width of a bucket and period of the shared interval, in milliseconds. */
export const TICK_MS = 20;

/** A scheduled one-shot callback; cancel it with {@link Ticker.cancel}. */
export interface TickerEntry {
  /** The clock's time at which it is due. */
  readonly at: number;
  /** @internal */
  readonly run: () => void;
  /** @internal bucket index, -1 once run or cancelled */
  bucket: number;
}

/** A timing wheel driven by one unref'd `setInterval` of its clock. */
export class Ticker {
  readonly #tickMs: number;
  readonly #clock: Clock;
  readonly #buckets = new Map<number, Set<TickerEntry>>();
  #size = 0;
  #interval: TimerHandle | undefined;
  /** The `setInterval` in force when the interval was made (fake timers in tests swap it). */
  #setIntervalUsed: typeof setInterval | undefined;
  /** Index of the last bucket processed. */
  #done = 0;

  constructor(tickMs = TICK_MS, clock: Clock = systemClock) {
    this.#tickMs = tickMs;
    this.#clock = clock;
  }

  /** The clock the wheel reads. */
  get clock(): Clock {
    return this.#clock;
  }

  /** How many entries are scheduled. */
  get size(): number {
    return this.#size;
  }

  /** Runs `run` once, at the first tick at or after `at` (a time of the clock). */
  schedule(at: number, run: () => void): TickerEntry {
    if (this.#size === 0) {
      // Idle until now: start counting ticks from the present.
      this.#stop();
      this.#done = Math.floor(this.#clock.now() / this.#tickMs) - 1;
    }
    const bucket = Math.max(Math.ceil(at / this.#tickMs), this.#done + 1);
    const entry: TickerEntry = { at, run, bucket };
    let set = this.#buckets.get(bucket);
    if (set === undefined) {
      set = new Set();
      this.#buckets.set(bucket, set);
    }
    set.add(entry);
    this.#size++;
    this.#ensureRunning();
    return entry;
  }

  /** Runs `run` once, `delayMs` from now. */
  after(delayMs: number, run: () => void): TickerEntry {
    return this.schedule(this.#clock.now() + Math.max(0, delayMs), run);
  }

  /** Cancels an entry; harmless if it already ran or was cancelled. */
  cancel(entry: TickerEntry | undefined): void {
    if (entry === undefined || entry.bucket < 0) return;
    const set = this.#buckets.get(entry.bucket);
    if (set?.delete(entry)) {
      this.#size--;
      if (set.size === 0) this.#buckets.delete(entry.bucket);
    }
    entry.bucket = -1;
    if (this.#size === 0) this.#stop();
  }

  #ensureRunning(): void {
    if (this.#interval !== undefined && this.#setIntervalUsed === globalThis.setInterval) return;
    this.#stop();
    this.#setIntervalUsed = globalThis.setInterval;
    this.#interval = this.#clock.setInterval(() => this.tick(), this.#tickMs);
  }

  #stop(): void {
    if (this.#interval !== undefined) this.#clock.clearInterval(this.#interval);
    this.#interval = undefined;
  }

  /** Runs every entry due by the clock's present time: what the interval does each period. */
  tick(): void {
    const now = Math.floor(this.#clock.now() / this.#tickMs);
    while (this.#done < now) {
      this.#done++;
      const set = this.#buckets.get(this.#done);
      if (set === undefined) continue;
      this.#buckets.delete(this.#done);
      this.#size -= set.size;
      const index = this.#done;
      for (const entry of set) {
        // cancelled by an earlier callback of this same bucket
        if (entry.bucket !== index) continue;
        entry.bucket = -1;
        try {
          entry.run();
        } catch {
          // A callback's failure is its owner's; the wheel keeps turning.
        }
      }
    }
    if (this.#size === 0) this.#stop();
  }
}

/** The process-wide ticker that managers and enrollers on the system clock share. */
const sharedTicker = new Ticker();

/** The shared ticker for the system clock; a wheel of its own for any other clock. */
export function tickerFor(clock: Clock): Ticker {
  return clock === systemClock ? sharedTicker : new Ticker(TICK_MS, clock);
}
