/** A clock that moves only when a test says so, for driving the enroller's parts. */
import type { Clock } from '../../src/util/clock.js';

interface Timer {
  at: number;
  run: () => void;
  every: number | undefined;
}

/** A {@link Clock} whose time is `advance`d by hand; its timers run, in order, as time passes them. */
export class ManualClock implements Clock {
  #now = 1_000;
  #next = 1;
  readonly #timers = new Map<number, Timer>();

  // Own, bound properties (not prototype methods): `clockFrom` copies a partial clock's own properties.
  readonly now = (): number => this.#now;

  readonly setTimeout = (run: () => void, ms: number): number => this.#add(run, ms, undefined);

  readonly clearTimeout = (handle: unknown): void => this.#clear(handle);

  readonly setInterval = (run: () => void, ms: number): number => this.#add(run, ms, ms);

  readonly clearInterval = (handle: unknown): void => this.#clear(handle);

  /** Strict, as a user's clock may be: clearing a handle this clock never gave out is the caller's bug. */
  #clear(handle: unknown): void {
    if (typeof handle !== 'number' || handle < 1 || handle >= this.#next) {
      throw new Error(`ManualClock: clear of a handle it never gave out: ${String(handle)}`);
    }
    this.#timers.delete(handle);
  }

  #add(run: () => void, ms: number, every: number | undefined): number {
    const id = this.#next++;
    this.#timers.set(id, { at: this.#now + ms, run, every });
    return id;
  }

  /** Timer callbacks run so far: the wake-ups a real clock would have cost. */
  fired = 0;

  /** Timers pending. */
  get pending(): number {
    return this.#timers.size;
  }

  /** Moves time on by `ms`, running every timer that falls due on the way, at its time. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let due: [number, Timer] | undefined;
      for (const entry of this.#timers) if (entry[1].at <= end && (due === undefined || entry[1].at < due[1].at)) due = entry;
      if (due === undefined) break;
      const [id, timer] = due;
      this.#now = Math.max(this.#now, timer.at);
      if (timer.every === undefined) this.#timers.delete(id);
      else timer.at += timer.every;
      this.fired++;
      timer.run();
    }
    this.#now = end;
  }
}
