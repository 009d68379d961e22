/**
 * The "busy" answers given lately, so that an M_CONNECT sent again (the
 * member's retransmission, its answer late) is answered again, not refused
 * anew: a new refusal would take another slot, pushing every member
 * queued after it further out.
 *
 * @module
 */

/** One "busy" answer: to whom, for which M_CONNECT, its bytes, and until when it holds. */
interface Refused {
  readonly name: string;
  readonly invokeId: number;
  readonly pdu: Uint8Array;
  /** The clock's time of the member's slot: after it, an M_CONNECT is a new question. */
  readonly until: number;
}

/**
 * Busy answers by shim address, each until its slot. At most `capacity`
 * are kept: at it, the oldest whose slot has passed make room, and while the
 * oldest still holds a new refusal is not kept (it is answered anew if
 * repeated, as before this memory existed), so a flood of M_CONNECTs from
 * spoofed addresses costs bounded memory and constant time per refusal.
 */
export class RecentRefusals {
  readonly #byAddress = new Map<string, Refused>();
  readonly #capacity: number;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  /** Refusals kept now. */
  get size(): number {
    return this.#byAddress.size;
  }

  /** The busy answer already given to the M_CONNECT `invokeId` of `name` from `from`, if its slot is still ahead at `now`. */
  repeated(from: string, name: string, invokeId: number | undefined, now: number): Uint8Array | undefined {
    const refused = this.#byAddress.size === 0 ? undefined : this.#byAddress.get(from);
    if (refused === undefined) return undefined;
    if (now >= refused.until) {
      this.#byAddress.delete(from);
      return undefined;
    }
    return refused.name === name && refused.invokeId === invokeId ? refused.pdu : undefined;
  }

  /** Keeps the busy answer `pdu` to the M_CONNECT `invokeId` of `name` from `from`, which holds until `until`. */
  keep(from: string, name: string, invokeId: number, pdu: Uint8Array, until: number, now: number): void {
    this.#byAddress.delete(from); // (kept in the order given: slots come later and later)
    if (this.#byAddress.size >= this.#capacity) {
      for (const [address, refused] of this.#byAddress) {
        if (this.#byAddress.size < this.#capacity) break;
        if (now < refused.until) return; // the oldest still holds: full
        this.#byAddress.delete(address);
      }
    }
    this.#byAddress.set(from, { name, invokeId, pdu, until });
  }

  /** Forgets every answer (the enroller stops). */
  clear(): void {
    this.#byAddress.clear();
  }
}
