/**
 * Binds in flight, by name, for the callers that must know whether the name
 * was left here (a shared store's `leave`) while theirs was in flight: a
 * shared store then counts its success for nothing and deletes its mark as
 * a stray, so a binding made by it is not the enroller's to vouch for. The
 * name is left while nothing serves it here, e.g. while the same member's
 * next enrollment has not sent its M_START yet: a failed bind's orphaned
 * address, an abandoned enrollment's give-back, a retired record.
 *
 * @module
 */
import type { MaybePromise } from '../rib/rib.js';
import { settle } from '../util/settle.js';

/** A bind in flight, as its caller sees it: `left` once its name was left here since it was sent. */
export interface BindFlight {
  left: boolean;
}

/** The binds in flight that are watched for a leave of their name. */
export class BindFlights {
  readonly #byName = new Map<string, Set<BindFlight>>();

  /** Watches `flight` (if any), a bind of `name` that answers with `answer`, until the answer settles; returns the answer. */
  watch<T>(name: string, answer: MaybePromise<T>, flight: BindFlight | undefined): MaybePromise<T> {
    if (flight === undefined) return answer;
    const flights = this.#byName.get(name) ?? new Set<BindFlight>();
    this.#byName.set(name, flights);
    flights.add(flight);
    const done = (): void => {
      flights.delete(flight);
      if (flights.size === 0 && this.#byName.get(name) === flights) this.#byName.delete(name);
    };
    settle(answer, done, done);
    return answer;
  }

  /** `name` was left here: every bind of it in flight is told. */
  left(name: string): void {
    for (const flight of this.#byName.get(name) ?? []) flight.left = true;
  }
}
