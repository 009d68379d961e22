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
const WEIGHT = 1 / 16;

/**
 * Calls in flight to the store and the time between their completions,
 * measured over busy time only (while a call is in flight), as a moving
 * average: an idle store does not look slow. By Little's law, a call
 * started now completes after the calls in flight and itself, each taking
 * that time: `(inFlight + 1) x gap`. A store that has completed nothing
 * for longer than that, with calls in flight, is as slow as that silence.
 */
export class StorePace {
  readonly #clock: Clock;
  #inFlight = 0;
  /** Moving average of the busy time between two completions, in ms; undefined until one completed. */
  #gapMs: number | undefined;
  /** The last completion, or the start of the busy time that has had none yet. */
  #since = 0;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Calls in flight now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** A call to the store starts; the function to call once when it ends (resolved or rejected). */
  begin(): () => void {
    if (this.#inFlight === 0) this.#since = this.#clock.now();
    this.#inFlight++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.#inFlight--;
      const t = this.#clock.now();
      const gap = t - this.#since;
      this.#since = t;
      this.#gapMs = this.#gapMs === undefined ? gap : this.#gapMs + (gap - this.#gapMs) * WEIGHT;
    };
  }

  /** Makes the call `call`, timed: its answer as it gives it (a synchronous throw included). */
  time<T>(call: () => MaybePromise<T>): MaybePromise<T> {
    const end = this.begin();
    try {
      const answer = call();
      settle(answer, end, end);
      return answer;
    } catch (err) {
      end();
      throw err;
    }
  }

  /** How long a call started now would take, in ms: 0 while none is in flight. */
  waitMs(): number {
    if (this.#inFlight === 0) return 0;
    const paced = (this.#inFlight + 1) * (this.#gapMs ?? 0);
    return Math.max(paced, this.#clock.now() - this.#since);
  }
}
