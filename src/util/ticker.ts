/**
 * One shared timing wheel for every periodic check of every manager and
 * enroller in the process.
 *
 * A per-manager timer for each deadline would mean one timer per manager per
 * deadline: 20,000 timers for 10,000 monitored managers, each re-armed at
 * every heartbeat. Here deadlines sit in buckets {@link TICK_MS} wide, and
 * one unref'd `setTimeout` is armed for the earliest bucket that holds
 * anything (a min-heap of bucket indices finds it). An entry therefore never
 * runs before its time and at most one bucket width after it (plus the event
 * loop's own delay); a wheel with nothing due has no timer at all, and a
 * bucket is one wake-up however many entries it holds.
 *
 * When the timer fires more than `LATE_MS` (src/util/clock.ts) past its
 * bucket's time, the process itself was late (CPU-starved, paused, busy with
 * a long queue), and what is due waits one event-loop turn more: the I/O that
 * queued while the process could not read it is read first. A deadline is
 * then judged on the heartbeats that arrived in time, not on when the process
 * got to them.
 *
 * Tests drive it through its clock (fake timers), or call {@link Ticker.tick}.
 *
 * @module
 */
import { type Clock, LATE_MS, MAX_TIMER_MS, systemClock, type TimerHandle, wholeMs } from './clock.js';

/** Width of a bucket, in milliseconds: the most an entry runs after its time (the event loop aside). */
export const TICK_MS = 10;

/**
 * A scheduled one-shot callback; cancel it with {@link Ticker.cancel}. An
 * owner that arms one over and over can keep one entry of its own (an object
 * with a `run()` method) and {@link Ticker.place} it each time: no entry and
 * no closure made per arming.
 */
export interface TickerEntry {
  /** The clock's time at which it is due, in whole ms rounded up (set by the wheel; see {@link wholeMs}). */
  at: number;
  /** Called once when due, as a method of the entry. */
  run(): void;
  /** @internal bucket index, -1 while not scheduled (set by the wheel) */
  bucket: number;
}

/** A min-heap of bucket indices (a bucket is pushed once, when it gets its first entry). */
class IndexHeap {
  readonly #items: number[] = [];

  get size(): number {
    return this.#items.length;
  }

  peek(): number | undefined {
    return this.#items[0];
  }

  clear(): void {
    this.#items.length = 0;
  }

  push(value: number): void {
    const items = this.#items;
    let i = items.push(value) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((items[parent] as number) <= value) break;
      items[i] = items[parent] as number;
      i = parent;
    }
    items[i] = value;
  }

  pop(): number | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= items.length) break;
      const right = left + 1;
      const child = right < items.length && (items[right] as number) < (items[left] as number) ? right : left;
      if ((items[child] as number) >= last) break;
      items[i] = items[child] as number;
      i = child;
    }
    items[i] = last;
    return top;
  }
}

/** A timing wheel driven by one unref'd `setTimeout` of its clock, armed for the earliest bucket due. */
export class Ticker {
  readonly #tickMs: number;
  readonly #clock: Clock;
  readonly #buckets = new Map<number, Set<TickerEntry>>();
  /** Indices of the buckets in #buckets (and of some emptied since: skipped when they come up). */
  readonly #due = new IndexHeap();
  #size = 0;
  #timer: TimerHandle | undefined;
  /** The bucket the timer is armed for. */
  #armedFor = Number.POSITIVE_INFINITY;
  /** The `setTimeout` in force when the timer was armed (fake timers in tests swap it). */
  #setTimeoutUsed: typeof setTimeout | undefined;
  /** Index of the last bucket processed. */
  #done = Number.NEGATIVE_INFINITY;
  /** How many times the timer was set or cleared: a firing of an earlier one is stale. */
  #armings = 0;
  /** The timer fired late and was put off by one event-loop turn: the next firing runs what is due. */
  #putOff = false;
  /** Inside tick(): a bucket's entries run, and the buckets before #done are processed. */
  #ticking = false;
  /** Inside tick(): it began more than `LATE_MS` past its earliest bucket's time (see {@link late}). */
  #lateTick = false;

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

  /**
   * Whether the wheel is behind: what fell due was put off (the process was
   * late), or its timer should have fired more than `LATE_MS` ago and the
   * process has not got to it. While it is behind, an entry already due has
   * not run although its time passed: news read now may have arrived in time.
   */
  behind(): boolean {
    return this.#putOff || this.#clock.now() - this.#armedFor * this.#tickMs > LATE_MS;
  }

  /**
   * Whether the tick running now began more than `LATE_MS` past the time of
   * the earliest bucket it runs: the process itself was late (paused,
   * starved) before it got to its timer, whatever the tick's own entries take.
   * False outside a tick.
   */
  get late(): boolean {
    return this.#lateTick;
  }

  /** Runs `run` once, as soon as the clock reaches `at` (at most one bucket width later). */
  schedule(at: number, run: () => void): TickerEntry {
    return this.place({ at: 0, run, bucket: -1 }, at);
  }

  /** Schedules `entry` to run once at `at`, as {@link schedule} does; an entry still scheduled is moved. */
  place<E extends TickerEntry>(entry: E, at: number): E {
    if (entry.bucket >= 0) this.#remove(entry);
    // (not while ticking: the bucket running is out of the map, its entries counted out, and #done already past it)
    if (this.#size === 0 && !this.#ticking) {
      // Idle until now: count buckets from the present (a test's fake clock may have gone back in time).
      this.#due.clear();
      this.#done = Math.floor(this.#clock.now() / this.#tickMs) - 1;
    }
    // Never into a bucket already processed; an entry due in the past runs at the next tick, in the present bucket (not
    // in one long past: a tick that began far past its earliest bucket's time would look late, see `late`).
    let due = Math.ceil(at / this.#tickMs);
    if (due * this.#tickMs < at) due++; // at / tickMs rounded down to a whole number (underflow)
    const bucket = Math.max(due, this.#done + 1, Math.floor(this.#clock.now() / this.#tickMs));
    entry.at = wholeMs(at); // (its bucket is the same: buckets start at whole milliseconds)
    entry.bucket = bucket;
    let set = this.#buckets.get(bucket);
    if (set === undefined) {
      set = new Set();
      this.#buckets.set(bucket, set);
      this.#due.push(bucket);
    }
    set.add(entry);
    this.#size++;
    if (bucket < this.#armedFor || this.#setTimeoutUsed !== globalThis.setTimeout) this.#arm();
    return entry;
  }

  /** Runs `run` once, `delayMs` from now. */
  after(delayMs: number, run: () => void): TickerEntry {
    return this.schedule(this.#clock.now() + Math.max(0, delayMs), run);
  }

  /** Cancels an entry; harmless if it already ran or was cancelled. */
  cancel(entry: TickerEntry | undefined): void {
    if (entry === undefined || entry.bucket < 0) return;
    this.#remove(entry);
    if (this.#size === 0) this.#disarm();
  }

  /** Takes a scheduled entry out of its bucket (the timer is left as it is). */
  #remove(entry: TickerEntry): void {
    const set = this.#buckets.get(entry.bucket);
    if (set?.delete(entry)) {
      this.#size--;
      if (set.size === 0) this.#buckets.delete(entry.bucket);
    }
    entry.bucket = -1;
  }

  /** The earliest bucket that still holds entries (emptied ones are dropped from the heap here). */
  #earliest(): number | undefined {
    for (let b = this.#due.peek(); b !== undefined; b = this.#due.peek()) {
      if (this.#buckets.has(b)) return b;
      this.#due.pop();
    }
    return undefined;
  }

  /** Arms the timer for the earliest bucket, or none when nothing is scheduled. */
  #arm(): void {
    this.#disarm();
    const bucket = this.#earliest();
    if (bucket === undefined) return;
    this.#armedFor = bucket;
    // Whole milliseconds, rounded up: a timer never fires before the bucket's time (tick() would re-arm if it did).
    // At most Node's longest delay (a longer one fires at once, with a warning): a farther bucket re-arms then.
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(bucket * this.#tickMs - this.#clock.now())));
    this.#setTimer(delay);
  }

  /**
   * Sets the wheel's one timer. Its callback carries the arming it belongs
   * to: a timer the wheel could not clear (the clock's timer functions were
   * swapped since, as fake timers in tests do, and the new `clearTimeout`
   * does not know the old handle) fires as a stale arming and does nothing.
   */
  #setTimer(delay: number): void {
    const arming = ++this.#armings;
    this.#setTimeoutUsed = globalThis.setTimeout;
    this.#timer = this.#clock.setTimeout(() => {
      if (arming === this.#armings) this.#fire();
    }, delay);
  }

  /** The timer's callback: the armed bucket is due. */
  #fire(): void {
    const bucket = this.#armedFor;
    this.#timer = undefined;
    this.#armedFor = Number.POSITIVE_INFINITY;
    if (!this.#putOff && this.#clock.now() - bucket * this.#tickMs > LATE_MS) {
      // The process was late: a 0 ms timer runs after this turn's poll phase, which reads what queued meanwhile.
      this.#putOff = true;
      this.#armedFor = bucket;
      this.#setTimer(0);
      return;
    }
    this.tick();
  }

  #disarm(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#armings++; // should the clear not take, the timer is stale
    this.#timer = undefined;
    this.#putOff = false;
    this.#armedFor = Number.POSITIVE_INFINITY;
  }

  /** Runs every entry due by the clock's present time, then arms the timer for the next bucket. */
  tick(): void {
    const earliest = this.#earliest();
    this.#lateTick = this.#putOff || (earliest !== undefined && this.#clock.now() - earliest * this.#tickMs > LATE_MS);
    this.#putOff = false;
    this.#ticking = true;
    let now: number;
    try {
      now = this.#runDue();
    } finally {
      this.#ticking = false;
      this.#lateTick = false;
    }
    if (this.#timer === undefined || this.#armedFor <= now) this.#arm();
  }

  /** Runs every entry of the buckets due by now; returns now's bucket index. */
  #runDue(): number {
    const now = Math.floor(this.#clock.now() / this.#tickMs);
    for (let b = this.#earliest(); b !== undefined && b <= now; b = this.#earliest()) {
      this.#due.pop();
      const set = this.#buckets.get(b) as Set<TickerEntry>;
      this.#buckets.delete(b);
      this.#done = Math.max(this.#done, b);
      this.#size -= set.size;
      for (const entry of set) {
        // cancelled by an earlier callback of this same bucket
        if (entry.bucket !== b) continue;
        entry.bucket = -1;
        try {
          entry.run();
        } catch {
          // A callback's failure is its owner's; the wheel keeps turning.
        }
      }
    }
    this.#done = Math.max(this.#done, now);
    return now;
  }
}

/** The process-wide ticker that managers and enrollers on the system clock share. */
const sharedTicker = new Ticker();

/** The shared ticker for the system clock; a wheel of its own for any other clock. */
export function tickerFor(clock: Clock): Ticker {
  return clock === systemClock ? sharedTicker : new Ticker(TICK_MS, clock);
}
