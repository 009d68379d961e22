/**
 * Connection-quality figures of one member.
 *
 * @module
 */
import { roundMs } from '../util/clock.js';

/**
 * Last and mean of a series of durations, in ms (undefined before the first).
 * @inline
 */
export interface DurationStats {
  /** The latest duration. */
  readonly last: number | undefined;
  /** The mean of all durations. */
  readonly mean: number | undefined;
  /** How many durations were recorded. */
  readonly count: number;
}

/**
 * What {@link EnrollmentManager.metrics} returns.
 * @inline
 */
export interface ConnectionMetrics {
  /** Successful enrollments, re-enrollments included. */
  readonly enrollments: number;
  /** Re-enrollment attempts started. */
  readonly reenrollAttempts: number;
  /** Completed re-enrollments and recoveries. */
  readonly reenrollSuccesses: number;
  /** Failed re-enrollment attempts (aborted ones not counted). */
  readonly reenrollFailures: number;
  /** Connections lost (detected by the monitor or a refused keepalive). */
  readonly outages: number;
  /** From the last heartbeat to the detection of the loss. */
  readonly detectionDelayMs: DurationStats;
  /** From the detection of a loss to being enrolled again. */
  readonly timeToRecoverMs: DurationStats;
  /** Keepalive round trips: last, smallest, and smoothed (as TCP's SRTT, gain 1/8). */
  readonly keepaliveRttMs: {
    /** The latest round trip. */
    readonly last: number | undefined;
    /** The smallest round trip. */
    readonly min: number | undefined;
    /** The smoothed round trip. */
    readonly smoothed: number | undefined;
  };
  /** Share of the time since the first enrollment spent enrolled, in 0..1 (undefined before it). */
  readonly uptimeRatio: number | undefined;
  /**
   * PDUs dropped by `hmac-sha256` authentication: without a valid tag
   * (`unauthenticated`: forged, altered, or from a peer without this
   * session's key), or with a sequence number seen before (`replayed`: an
   * attacker's replay, or a duplicate the network made). Always 0 with the
   * other mechanisms.
   */
  readonly dropped: {
    /** No tag, or a wrong one. */
    readonly unauthenticated: number;
    /** A valid tag whose sequence number was seen before (or is older than the replay window). */
    readonly replayed: number;
  };
}

class Series {
  last: number | undefined;
  #sum = 0;
  count = 0;
  add(value: number): void {
    this.last = value;
    this.#sum += value;
    this.count++;
  }
  stats(): DurationStats {
    return { last: this.last, mean: this.count === 0 ? undefined : roundMs(this.#sum / this.count), count: this.count };
  }
}

/**
 * What only a member that lost its bootstrap, re-enrolled, or dropped a PDU
 * (`hmac-sha256`) records: made at the first such event, as most managers
 * never have one.
 */
class Recoveries {
  unauthenticated = 0;
  replayed = 0;
  attempts = 0;
  successes = 0;
  failures = 0;
  outages = 0;
  readonly detection = new Series();
  readonly recovery = new Series();
}

/** Before any outage, re-enrollment or dropped PDU: the figures of {@link Recoveries} all zero. */
const NO_RECOVERIES: Readonly<Recoveries> = new Recoveries();

/** @internal Accumulates the figures; the manager calls it at each transition. */
export class MetricsRecorder {
  #enrollments = 0;
  #recoveries: Recoveries | undefined;
  #rttLast: number | undefined;
  #rttMin: number | undefined;
  #rttSmoothed: number | undefined;
  #firstEnrolledAt: number | undefined;
  #enrolledSince: number | undefined;
  #uptime = 0;
  readonly #clock: { now(): number };

  /** Reads the time from `clock` (ms). */
  constructor(clock: { now(): number } = performance) {
    this.#clock = clock;
  }

  get #recorded(): Recoveries {
    this.#recoveries ??= new Recoveries();
    return this.#recoveries;
  }

  dropped(why: 'unauthenticated' | 'replayed'): void {
    if (why === 'replayed') this.#recorded.replayed++;
    else this.#recorded.unauthenticated++;
  }

  enrolled(): void {
    // Whole milliseconds, as `wholeMs` says why, but rounded down: a span read just after is never negative.
    const t = Math.floor(this.#clock.now());
    this.#enrollments++;
    this.#firstEnrolledAt ??= t;
    this.#enrolledSince = t;
  }
  leftEnrolled(): void {
    if (this.#enrolledSince !== undefined) this.#uptime += this.#clock.now() - this.#enrolledSince;
    this.#enrolledSince = undefined;
  }
  reenrollAttempt(): void {
    this.#recorded.attempts++;
  }
  reenrollSuccess(): void {
    this.#recorded.successes++;
  }
  reenrollFailure(): void {
    this.#recorded.failures++;
  }
  outage(detectionDelayMs: number): void {
    this.#recorded.outages++;
    this.#recorded.detection.add(detectionDelayMs);
  }
  recovered(ms: number): void {
    this.#recorded.recovery.add(ms);
  }
  rtt(ms: number): void {
    this.#rttLast = ms;
    this.#rttMin = this.#rttMin === undefined ? ms : Math.min(this.#rttMin, ms);
    this.#rttSmoothed = this.#rttSmoothed === undefined ? ms : this.#rttSmoothed + (ms - this.#rttSmoothed) / 8;
  }

  snapshot(): ConnectionMetrics {
    const t = this.#clock.now();
    const up = this.#uptime + (this.#enrolledSince === undefined ? 0 : t - this.#enrolledSince);
    const span = this.#firstEnrolledAt === undefined ? undefined : t - this.#firstEnrolledAt;
    const r = this.#recoveries ?? NO_RECOVERIES;
    return {
      enrollments: this.#enrollments,
      reenrollAttempts: r.attempts,
      reenrollSuccesses: r.successes,
      reenrollFailures: r.failures,
      outages: r.outages,
      detectionDelayMs: r.detection.stats(),
      timeToRecoverMs: r.recovery.stats(),
      keepaliveRttMs: {
        last: this.#rttLast,
        min: this.#rttMin,
        smoothed: this.#rttSmoothed === undefined ? undefined : roundMs(this.#rttSmoothed),
      },
      uptimeRatio: span === undefined ? undefined : span === 0 ? 1 : Math.min(1, up / span),
      dropped: { unauthenticated: r.unauthenticated, replayed: r.replayed },
    };
  }
}
