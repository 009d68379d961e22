/**
 * Where the member stands: the public state union, and the record of its
 * last enrollment that the union does not show (kept while re-enrolling and
 * after a loss). {@link MemberState.set} is the only writer of the union,
 * and runs the exit actions of the state left.
 *
 * @module
 */
import type { EnrollmentState } from './events.js';

/** What the member holds from its last successful enrollment. */
export interface EnrollmentRecord {
  /** The shim address of the bootstrap: where `reEnroll()` goes first. */
  readonly bootstrap: string;
  /** The DIF address assigned. */
  readonly address: number;
  /** The DIF's name. */
  readonly difName: string;
}

/** What must happen when a state is left. */
export interface StateExits {
  /** Leaving `enrolled`: keepalives stop, uptime stops counting. */
  leftEnrolled(): void;
  /** After every change. */
  changed(state: EnrollmentState, previous: EnrollmentState): void;
}

/** The state union, the enrollment record, and the open outage. */
export class MemberState {
  readonly #exits: StateExits;
  #current: EnrollmentState = { type: 'idle' };
  /** The last successful enrollment, if any. */
  record: EnrollmentRecord | undefined;
  /**
   * Enrolled, but the connection counts as lost (a loss detected while not
   * monitoring leaves the state; while monitoring, recovery starts from
   * here): until the next enrollment.
   */
  lost = false;
  /** The clock's time when the current outage was detected; undefined when none is open. */
  outageAt: number | undefined;

  constructor(exits: StateExits) {
    this.#exits = exits;
  }

  /** The public state. */
  get current(): EnrollmentState {
    return this.#current;
  }

  /** The union's tag. */
  get type(): EnrollmentState['type'] {
    return this.#current.type;
  }

  /** True while an enrollment or re-enrollment runs. */
  get attempting(): boolean {
    return this.#current.type === 'enrolling' || this.#current.type === 'reenrolling';
  }

  /** The bootstrap the state names (of the attempt, or of the enrollment), if any. */
  get shownBootstrap(): string | undefined {
    return 'bootstrap' in this.#current ? this.#current.bootstrap : undefined;
  }

  /** Whether the state already shows an attempt `attempt` of `type` with `bootstrap`. */
  shows(type: 'enrolling' | 'reenrolling', bootstrap: string, attempt: number): boolean {
    const s = this.#current;
    return s.type === type && s.bootstrap === bootstrap && s.attempt === attempt;
  }

  /** Moves to `state`, running the exit actions of the state left, then reports the change. `closed` is final. */
  set(state: EnrollmentState): void {
    const previous = this.#current;
    if (previous.type === 'closed') return; // (work still winding down after close() changes nothing any more)
    if (previous.type === 'enrolled' && state.type !== 'enrolled') this.#exits.leftEnrolled();
    this.#current = state;
    this.#exits.changed(state, previous);
  }
}
