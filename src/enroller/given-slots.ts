/**
 * The slots given lately to members refused "busy", so that an M_CONNECT
 * sent again (the member's retransmission, its answer late) and refused
 * again is told the time left to its slot rather than given another one,
 * which would push every member queued after it further out.
 *
 * @module
 */

/** One slot given: to which M_CONNECT (by invoke id), until when. */
interface Given {
  readonly invokeId: number;
  /** The clock's time of the slot. */
  readonly until: number;
}

/**
 * Slots by shim address. Only consulted for an M_CONNECT that is refused
 * anyway: a false match (another IPCP at that address reusing the invoke
 * id) only tells it another member's time. At most `capacity` are kept:
 * when full, all are forgotten at once (amortised constant time, and a
 * flood of M_CONNECTs from spoofed addresses costs bounded memory: an
 * address string and two numbers each); a member whose slot was forgotten
 * and asks again gets a new one, as before this memory existed.
 */
export class GivenSlots {
  readonly #byAddress = new Map<string, Given>();
  readonly #capacity: number;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  /** Slots kept now. */
  get size(): number {
    return this.#byAddress.size;
  }

  /** The ms left at `now` to the slot given to the M_CONNECT `invokeId` from `from`, if one was and is still ahead. */
  left(from: string, invokeId: number | undefined, now: number): number | undefined {
    const given = this.#byAddress.size === 0 ? undefined : this.#byAddress.get(from);
    if (given === undefined) return undefined;
    if (now >= given.until) {
      this.#byAddress.delete(from);
      return undefined;
    }
    return given.invokeId === invokeId ? Math.ceil(given.until - now) : undefined;
  }

  /** Keeps the slot at `until` given to the M_CONNECT `invokeId` from `from`. */
  keep(from: string, invokeId: number, until: number): void {
    if (this.#byAddress.size >= this.#capacity && !this.#byAddress.has(from)) this.#byAddress.clear();
    this.#byAddress.set(from, { invokeId, until });
  }

  /** Forgets every slot (the enroller stops). */
  clear(): void {
    this.#byAddress.clear();
  }
}
