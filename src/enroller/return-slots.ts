/**
 * When members answered "busy" should ask again: each is given its own
 * moment, spaced by the time between completions the enroller sustains, so
 * that they come back at the pace room is made for them, not all at once
 * (refused again) nor after doubling backoffs (the enroller idle meanwhile).
 *
 * @module
 */

/** Weight of a new duration in the moving average of an enrollment's time in progress. */
const WEIGHT = 1 / 8;

/**
 * No two members are told to come back closer than this, in ms: 10,000 a
 * second, about what one enroller completes on one core (bench/README.md).
 */
export const MIN_SLOT_GAP_MS = 0.1;

/** The latest a member is told to come back, in ms from now. */
export const MAX_RETRY_IN_MS = 60_000;

/**
 * Slots for members refused "busy". By Little's law, with `n` enrollments in
 * progress that each take `d` ms, one ends every `d / n` ms: the gap between
 * two slots, each refused member taking the one after the last handed out.
 * `d` is a moving average over completed enrollments only: one abandoned
 * (its member gone) made no room until it timed out, and a few of those
 * must not slow every return. Before any enrollment completed (a fresh
 * enroller) the gap is {@link MIN_SLOT_GAP_MS}.
 *
 * While nothing completes, no room is made however short the gap: a member
 * is told to come back that much later again, the time the stall has lasted
 * (since the first refusal after the last completion, while enrollments are
 * in progress), so that a member refused again and again by an enroller
 * whose enrollments all hang (members that vanished half-way, squatters)
 * waits twice as long each time. The stall is added to what a member is
 * told, not to the queue of slots: the first completion ends it.
 */
export class ReturnSlots {
  /** Moving average of a completed enrollment's time in progress, in ms; undefined until one completed. */
  #durationMs: number | undefined;
  /** The clock's time of the last slot handed out. */
  #last = Number.NEGATIVE_INFINITY;
  /** The clock's time of the first refusal since the last completion; undefined while none. */
  #stalledSince: number | undefined;

  /** An enrollment completed after `ms` in progress. */
  completed(ms: number): void {
    this.#durationMs = this.#durationMs === undefined ? ms : this.#durationMs + (ms - this.#durationMs) * WEIGHT;
    this.#stalledSince = undefined;
  }

  /** No enrollment is in progress: whatever stalled is over (forgotten, or abandoned). */
  idle(): void {
    this.#stalledSince = undefined;
  }

  /** Forgets everything: an enroller that stops and starts again measures afresh. */
  reset(): void {
    this.#durationMs = undefined;
    this.#last = Number.NEGATIVE_INFINITY;
    this.#stalledSince = undefined;
  }

  /** The gap between two slots now, with `inProgress` enrollments in progress. */
  gapMs(inProgress: number): number {
    return Math.max(MIN_SLOT_GAP_MS, (this.#durationMs ?? 0) / Math.max(1, inProgress));
  }

  /**
   * A member is refused "busy" at the clock's time `now` while `inProgress`
   * enrollments are in progress: the next free slot is its, in whole ms from
   * now, the stall added (at least 1, at most {@link MAX_RETRY_IN_MS}).
   */
  next(now: number, inProgress: number): number {
    this.#stalledSince ??= now;
    this.#last = Math.min(Math.max(this.#last, now) + this.gapMs(inProgress), now + MAX_RETRY_IN_MS);
    const stallMs = now - this.#stalledSince;
    return Math.min(MAX_RETRY_IN_MS, Math.max(1, Math.ceil(this.#last - now + stallMs)));
  }
}
