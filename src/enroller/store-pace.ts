/**
 * The pace of the address store: how long a bind started now would wait,
 * from how fast the store has been completing binds. Admission answers
 * "busy" when that wait is longer than members should queue.
 *
 * @module
 */
import type { MaybePromise } from '../rib/rib.js';
import type { Clock } from '../util/clock.js';
import { settle } from '../util/settle.js';

/** Weight of a new gap in the moving average of the time between completions. */
const WEIGHT = 1 / 8;

/**
 * Completions less than this many ms apart are one run, whose completions
 * all count as gaps of the run's time over its number: a store that
 * completes binds in batches (an etcd store's binds share transactions)
 * answers a batch's binds within a millisecond, after one long gap, and
 * counted one by one the short gaps would outweigh the long one (a store
 * completing 320 binds a second in batches of 32 would look ten times as
 * fast). A run of n completions moves the average as n gaps of its mean do.
 */
const RUN_MS = 1;

/**
 * Calls in flight to the store and the time between their completions,
 * measured over busy time only (while a call is in flight), as a moving
 * average: an idle store does not look slow. By Little's law, a call
 * started now waits for the calls in flight, one gap each: `inFlight x
 * gap`. (Not `inFlight + 1`: when calls arrive more slowly than the store
 * completes them, the gap is the time between arrivals, and that estimate
 * already comes to the latency of one call.) A call that never settles
 * counts as one in flight, nothing more: a store that hangs is not told
 * from one that lost a promise, and a wait that grew with its silence would
 * refuse everyone for ever.
 */
export class StorePace {
  readonly #clock: Clock;
  #inFlight = 0;
  /** Who waits for no call to be in flight. */
  readonly #idle: Array<() => void> = [];
  /** Moving average of the busy time between two completions, in ms; undefined until one completed. */
  #gapMs: number | undefined;
  /** The last completion, or the start of the busy time that has had none yet. */
  #since = 0;
  /** The run of completions the last one belongs to: where its time began, its last completion, how many it holds, the average before it. */
  #run = { from: 0, at: 0, count: 0, before: undefined as number | undefined };

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Calls in flight now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Settles once no call is in flight (at once if none is). */
  idle(): Promise<void> {
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /**
   * A call to the store starts; the function to call once when it ends:
   * `completed` (the default) when the store answered it, `false` when it
   * failed. A failure ends the call's flight but is no completion: a store
   * that gives up the binds it could not send in time (an etcd store's
   * window) would otherwise look faster the more it gives up, and admit
   * more binds to give up.
   */
  begin(): (completed?: boolean) => void {
    const started = this.#clock.now();
    if (this.#inFlight === 0) this.#since = started;
    this.#inFlight++;
    let ended = false;
    return (completed = true) => {
      if (ended) return;
      ended = true;
      this.#inFlight--;
      if (this.#inFlight === 0) for (const idle of this.#idle.splice(0)) idle();
      if (!completed) return;
      const t = this.#clock.now();
      const run = this.#run;
      if (run.count > 0 && t - run.at < RUN_MS && this.#since === run.at) {
        run.count++; // (and no idle time since its last completion: #since is still that)
        run.at = t;
      } else {
        // No longer than this call's own flight: busy time before it started, with only calls in flight that failed
        // or never settle, is no measure of how fast the store completes binds.
        this.#run = { from: Math.max(this.#since, started), at: t, count: 1, before: this.#gapMs };
      }
      this.#since = t;
      const { from, count, before } = this.#run;
      const gap = (t - from) / count;
      this.#gapMs = before === undefined ? gap : before + (gap - before) * (1 - (1 - WEIGHT) ** count);
    };
  }

  /** Makes the call `call`, timed: its answer as it gives it (a synchronous throw included). */
  time<T>(call: () => MaybePromise<T>): MaybePromise<T> {
    const end = this.begin();
    try {
      const answer = call();
      settle(
        answer,
        () => end(),
        () => end(false),
      );
      return answer;
    } catch (err) {
      end(false);
      throw err;
    }
  }

  /** How long a call started now would wait, in ms: 0 while none is in flight, or before any completed. */
  waitMs(): number {
    return this.#inFlight * (this.#gapMs ?? 0);
  }
}
