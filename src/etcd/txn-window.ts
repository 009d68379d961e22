/**
 * How many transactions the etcd store keeps in flight: a window that halves
 * when etcd answers slower than a target (unless etcd says it keeps up with
 * applying: see `ApplyBacklog`) or fails, and grows by one per window of
 * quick answers (additive increase, multiplicative decrease, on latency).
 * Transactions beyond it wait their turn, in order, each for no longer than
 * its own call timeout.
 *
 * A transaction takes a place per binding it carries: a batch of 32 binds
 * weighs 32, as 32 transactions of one bind would. What the window bounds is
 * etcd's work to apply, and a batch takes about as long to apply as its binds
 * one by one (docs/SCALING.md, item 18: a window that counted a batch as one
 * let the store keep 64 batches of 32 in flight, and a new etcd leader took
 * seconds to apply them while every lease renewal waited). A transaction
 * goes while fewer places than the window's size are taken, so a batch may
 * overrun the window by its own weight less one.
 *
 * Why: etcd renews a lease only once its leader has applied every entry
 * committed before the keepalive, and gives up after one second ("waiting for
 * the applied index took too long"); the lease is then not renewed, and
 * expires. Every transaction in flight is an entry etcd has to apply. At
 * 100,000 members, ten enrollers that sent whatever they had left etcd 5,000
 * entries behind (its own limit), every renewal failed, and every enroller's
 * lease expired at once (docs/SCALING.md, "Where it breaks"). A store whose
 * answers stay under the target keeps its share of that backlog under the
 * target, however many enrollers share the cluster.
 *
 * @module
 */
import { type Clock, systemClock, type TimerHandle } from '../util/clock.js';

/**
 * The smallest window, in places (or `max`, if smaller). An answer is late
 * also when the enroller itself is too busy to read it (a starved event
 * loop), and halving then does not help etcd: in a 100,000-member join whose
 * enrollers were starved of CPU, windows of one transaction sent some 10 a
 * second each while members gave up by the tens of thousands. Eight places
 * keep etcd's backlog small (a batch of 32 binds at a time per enroller,
 * once the window is cut). A floor of 64 places (two batches, so that the
 * default window never shrinks) was tried and taken back: at 100,000
 * members, one run of two collapsed after an enroller's kill, the way a run
 * of item 16 did (docs/SCALING.md, item 19).
 */
export const TXN_WINDOW_FLOOR = 8;

const one = (): number => 1;
/** The most places one transaction takes (a weight beyond it is taken as this). */
const MAX_PLACES = 1 << 20;

/** The window's bounds. */
export interface TxnWindowOptions {
  /** The most places taken at once (bindings in flight; the window's size to start with, too); it never halves below {@link TXN_WINDOW_FLOOR} (or this, if smaller). */
  readonly max: number;
  /** An answer slower than this, in ms, halves the window (once per window); a quicker one grows it. */
  readonly targetMs: number;
  /**
   * Whether etcd is behind in applying what it committed (see
   * `ApplyBacklog`): a slow answer halves the window unless this says
   * `false` (etcd keeps up: the answer was late for another reason, the
   * machine's or this process's load). A failed transaction halves it
   * whatever this says. Absent: every slow answer halves it.
   */
  readonly behind?: () => boolean | undefined;
}

/** The window's counters (the store's stats carry them). */
export interface TxnWindowStats {
  /** Times the window halved. */
  txnWindowCuts: number;
  /** Transactions that waited for a place in the window. */
  txnsWaited: number;
  /** Transactions given up while waiting (their call timeout passed): never sent. */
  txnsTimedOutWaiting: number;
  /** Slow answers that did not halve the window: etcd said it kept up with applying. */
  txnsSlowEtcdNotBehind: number;
  /** Of `txnWindowCuts`, those for a failed transaction. */
  txnWindowCutsFailed: number;
  /** Of `txnWindowCuts`, those for a slow answer while etcd had said nothing lately (no verdict either way). */
  txnWindowCutsUnjudged: number;
}

interface Waiter {
  readonly go: () => void;
  readonly fail: (err: Error) => void;
  readonly timer: TimerHandle;
}

/** A transaction that could not be sent: the window stayed full past its call timeout (`timedOut`), or the store closed. */
export class TxnNotSentError extends Error {
  override readonly name = 'TxnNotSentError';
  readonly timedOut: boolean;

  constructor(message: string, timedOut = false) {
    super(message);
    this.timedOut = timedOut;
  }
}

/** Admits transactions into a window sized by etcd's answer times. */
export class TxnWindow {
  readonly #clock: Clock;
  readonly #max: number;
  readonly #targetMs: number;
  readonly #behind: () => boolean | undefined;
  readonly #stats: TxnWindowStats;
  /** The window's size: fractional, as it grows by 1/size per quick answer; floor(size) may be in flight. */
  #size: number;
  #inFlight = 0;
  /** Transactions waiting for a place, in arrival order (a Set: one whose timeout passes leaves from the middle). */
  readonly #waiting = new Set<Waiter>();
  /** When the window last halved: only an answer to a transaction sent since can halve it again (once per window). */
  #cutAt = Number.NEGATIVE_INFINITY;

  constructor(options: TxnWindowOptions, stats: TxnWindowStats, clock: Clock = systemClock) {
    this.#max = options.max;
    this.#targetMs = options.targetMs;
    this.#behind = options.behind ?? (() => undefined);
    this.#stats = stats;
    this.#clock = clock;
    this.#size = options.max;
  }

  /** Places that may be taken now. */
  get size(): number {
    return Math.floor(this.#size);
  }

  /** Places taken now: the bindings of the transactions in flight. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Transactions waiting for a place now. */
  get waiting(): number {
    return this.#waiting.size;
  }

  /**
   * Sends `send` once the window has room (at once if it has), its answer
   * as it gives it. Still waiting after `waitMs`: rejects
   * with a {@link TxnNotSentError}, `send` never called. `weight`: how many
   * places it takes, read once `send` has been called (what a batch carries
   * is settled when it goes); one if absent.
   */
  run<T>(send: () => Promise<T>, waitMs: number, weight: () => number = one): Promise<T> {
    // (Nobody waits while a place is free: every answer, and every growth, gives the free places out at once.)
    if (this.#inFlight < this.size) return this.#launch(send, weight);
    return this.#place(waitMs, () => this.#launch(send, weight));
  }

  /**
   * Sends now, and takes its places at once (a transaction given a place goes in the same call: the next waiter is
   * weighed against what it took). A send that throws (the store closed) was never sent, and takes none.
   */
  #launch<T>(send: () => Promise<T>, weight: () => number): Promise<T> {
    const sentAt = this.#clock.now();
    this.#inFlight++; // (one place held while send runs: a transaction it asks for meanwhile is weighed against it)
    let sending: Promise<T>;
    try {
      sending = send();
    } catch (err) {
      this.#inFlight--;
      return Promise.reject(err);
    }
    let places = 1;
    try {
      const w = Math.floor(weight());
      if (Number.isFinite(w)) places = Math.min(Math.max(1, w), MAX_PLACES);
    } catch {
      // (sent all the same: it is counted, and its answer given)
    }
    this.#inFlight += places - 1;
    return this.#settle(sending, sentAt, places);
  }

  async #settle<T>(sending: Promise<T>, sentAt: number, places: number): Promise<T> {
    let answer: 'quick' | 'slow' | 'failed' = 'failed';
    try {
      const result = await sending;
      answer = this.#clock.now() - sentAt <= this.#targetMs ? 'quick' : 'slow';
      return result;
    } finally {
      this.#inFlight -= places;
      this.#answered(sentAt, answer, places);
      this.#admit();
    }
  }

  /** Every transaction still waiting fails with `reason` (the store closes); none is sent. */
  reject(reason: string): void {
    const waiting = [...this.#waiting];
    this.#waiting.clear();
    for (const waiter of waiting) {
      this.#clock.clearTimeout(waiter.timer);
      waiter.fail(new TxnNotSentError(reason));
    }
  }

  /** Waits for a place, then calls `launch` when given one (in the call that gives it), its answer as it gives it. */
  #place<T>(waitMs: number, launch: () => Promise<T>): Promise<T> {
    this.#stats.txnsWaited++;
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter = {
        go: () => {
          this.#clock.clearTimeout(waiter.timer);
          launch().then(resolve, reject);
        },
        fail: reject,
        timer: this.#clock.setTimeout(() => {
          if (!this.#waiting.delete(waiter)) return;
          this.#stats.txnsTimedOutWaiting++;
          reject(
            new TxnNotSentError(
              `not sent: no place freed within ${waitMs} ms among the ${this.size} this store keeps in flight at etcd (one a binding; ${this.#waiting.size} more waiting)`,
              true,
            ),
          );
        }, waitMs),
      };
      this.#waiting.add(waiter);
    });
  }

  /**
   * A quick answer grows the window, by one place per window's worth of places answered. A failure halves it (etcd's
   * refusals under load, "too many requests" and timeouts, are what the window is for), and so does a slow answer,
   * unless etcd says it keeps up with applying.
   */
  #answered(sentAt: number, answer: 'quick' | 'slow' | 'failed', places: number): void {
    if (answer === 'quick') {
      this.#size = Math.min(this.#max, this.#size + places / this.#size);
      return;
    }
    const behind = answer === 'slow' ? this.#behind() : undefined;
    if (behind === false) {
      this.#stats.txnsSlowEtcdNotBehind++;
    } else if (sentAt >= this.#cutAt) {
      this.#size = Math.max(Math.min(TXN_WINDOW_FLOOR, this.#max), this.#size / 2);
      this.#cutAt = this.#clock.now();
      this.#stats.txnWindowCuts++;
      if (answer === 'failed') this.#stats.txnWindowCutsFailed++;
      else if (behind === undefined) this.#stats.txnWindowCutsUnjudged++;
    }
  }

  /** Gives the places free now to the transactions waiting longest. */
  #admit(): void {
    for (const waiter of this.#waiting) {
      if (this.#inFlight >= this.size) return;
      this.#waiting.delete(waiter);
      waiter.go(); // (sent now, its places taken: the next is weighed against them)
    }
  }
}
