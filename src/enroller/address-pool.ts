/**
 * Address assignment within a pool: unique addresses, sticky per IPCP name.
 *
 * @module
 */
import * as z from 'zod/mini';
import { integerAtLeast, lazySchema, parseWith, randomSchema } from '../util/schema.js';

/** An inclusive range of DIF addresses. */
export interface AddressPoolRange {
  /** The first address of the range. */
  readonly first: number;
  /** The last address, included. */
  readonly last: number;
}

/** The outcome of {@link AddressPool.assign}: an address, or why none could be given. */
export type Assignment =
  | {
      /** An address was given. */
      readonly ok: true;
      /** The address now bound to the name. */
      readonly address: number;
    }
  | {
      /** No address could be given. */
      readonly ok: false;
      /** Why, in words (the enroller sends it as `result_reason`). */
      readonly reason: string;
    };

/** What the constructor takes: integers 1 <= first <= last, and a random source if any. */
const poolArgs = lazySchema(() =>
  z.object({
    range: z
      .object({ first: integerAtLeast(1), last: integerAtLeast(1) })
      .check(z.refine((r) => r.last >= r.first, { path: ['last'], error: 'must be >= range.first' })),
    options: z.object({ random: z.optional(randomSchema) }),
  }),
);

/**
 * Binds IPCP names to addresses of one pool. An address is bound to at most
 * one name; a name keeps its address until it is bound to another one.
 */
export class AddressPool {
  /** The pool's addresses (a copy of the range given). */
  readonly range: AddressPoolRange;
  readonly #byName = new Map<string, number>();
  readonly #byAddress = new Map<number, string>();
  #cursor: number;

  readonly #random: (() => number) | undefined;

  /**
   * `random`: probe for a free address from a random point of the pool
   * rather than from a cursor, so that enrollers sharing one address space
   * rarely propose the same free address at the same time. Throws
   * `ConfigError` for a range that is not integers 1 <= first <= last.
   */
  constructor(range: AddressPoolRange, options: { random?: () => number } = {}) {
    const args = parseWith(poolArgs(), { range, options }); // ConfigError, not a pool of NaN addresses
    this.range = { first: args.range.first, last: args.range.last };
    this.#cursor = args.range.first;
    this.#random = args.options.random;
  }

  /** How many addresses the pool holds in all. */
  get capacity(): number {
    return this.range.last - this.range.first + 1;
  }

  /** How many addresses are bound. */
  get size(): number {
    return this.#byName.size;
  }

  /** The address bound to `name`, if any. */
  addressOf(name: string): number | undefined {
    return this.#byName.get(name);
  }

  /** The name bound to `address`, if any. */
  ownerOf(address: number): string | undefined {
    return this.#byAddress.get(address);
  }

  /**
   * Gives `name` an address: the one it holds already, whatever it asks for;
   * otherwise `requested` when it is in the pool and free; otherwise the next
   * free one. A name is never moved from the address it holds: the member
   * may be listed with it, or told it by an enrollment not yet complete, or
   * served with it by another enroller of a shared store, and the store may
   * not have the move yet. The requested address is a wish, never a
   * condition: one outside the pool (a member coming from an enroller with
   * another pool) or taken by another name is ignored. Only a full pool
   * refuses.
   */
  assign(name: string, requested = 0): Assignment {
    const { first, last } = this.range;
    const held = this.#byName.get(name);
    if (held !== undefined) return { ok: true, address: held };
    if (requested !== 0 && Number.isSafeInteger(requested) && requested >= first && requested <= last && !this.#byAddress.has(requested)) {
      this.#bind(name, requested);
      return { ok: true, address: requested };
    }
    const free = this.#findFree();
    if (free === undefined) return { ok: false, reason: `address pool ${first}-${last} is exhausted` };
    this.#bind(name, free);
    return { ok: true, address: free };
  }

  /**
   * Replaces every binding with `bindings` (an address store's table).
   * Bindings outside the pool, or to an address already bound, are skipped
   * and returned.
   */
  restore(
    bindings: Iterable<{
      /** An IPCP name. */
      readonly name: string;
      /** The address stored for it. */
      readonly address: number;
    }>,
  ): Array<{
    /** The IPCP name of a skipped binding. */
    name: string;
    /** Its address. */
    address: number;
  }> {
    this.#byName.clear();
    this.#byAddress.clear();
    const skipped: Array<{ name: string; address: number }> = [];
    for (const { name, address } of bindings) {
      if (address < this.range.first || address > this.range.last || this.#byAddress.has(address) || this.#byName.has(name)) {
        skipped.push({ name, address });
        continue;
      }
      this.#bind(name, address);
    }
    return skipped;
  }

  /**
   * Records a binding made elsewhere (by another enroller of a shared
   * store): `name` now holds `address`, and whoever held `address` here
   * holds nothing. A name set to an address outside the pool holds nothing
   * here any more (its address here is free).
   */
  set(name: string, address: number): void {
    if (address < this.range.first || address > this.range.last) {
      this.release(name);
      return;
    }
    const owner = this.#byAddress.get(address);
    if (owner !== undefined && owner !== name) this.#byName.delete(owner);
    this.#bind(name, address);
  }

  /** Unbinds `name`: its address may go to anyone. Returns the address it held. */
  release(name: string): number | undefined {
    const address = this.#byName.get(name);
    if (address === undefined) return undefined;
    this.#byName.delete(name);
    this.#byAddress.delete(address);
    return address;
  }

  #bind(name: string, address: number): void {
    const previous = this.#byName.get(name);
    if (previous !== undefined) this.#byAddress.delete(previous);
    this.#byName.set(name, address);
    this.#byAddress.set(address, name);
  }

  /** Next free address at or after the cursor (or a random point), wrapping once around the pool. */
  #findFree(): number | undefined {
    if (this.#byAddress.size >= this.capacity) return undefined;
    const { first, last } = this.range;
    if (this.#random !== undefined) this.#cursor = Math.min(last, first + Math.floor(this.#random() * this.capacity));
    for (let i = 0, a = this.#cursor; i < this.capacity; i++, a = a === last ? first : a + 1) {
      if (!this.#byAddress.has(a)) {
        this.#cursor = a === last ? first : a + 1;
        return a;
      }
    }
    return undefined;
  }
}
