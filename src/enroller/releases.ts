/**
 * Freeing a name's address: in the store first, then in the pool. The
 * store's answer can come late, after the name came back (assigned or bound
 * again, even to the same address): what came back is the newer, and the
 * late answer leaves it alone.
 *
 * @module
 */
import type { MaybePromise } from '../rib/rib.js';
import type { AddressStore } from '../store/address-store.js';
import { settle } from '../util/settle.js';
import type { AddressPool } from './address-pool.js';

/** How soon a release the store failed (etcd out of reach) is tried again, in ms. */
export const RETRY_RELEASE_MS = 5000;

/** What the releases need of the ledger. */
export interface ReleasesHost {
  readonly pool: AddressPool;
  readonly store: AddressStore;
  /** Whether the store is shared by several enrollers. */
  readonly shared: boolean;
  /** Whether a member, or an enrollment past M_START, holds `name` here. */
  serves(name: string): boolean;
  /** Whether the enroller serves now. */
  running(): boolean;
  /** A shared store released `name`: a member listed here with it no longer holds it. */
  unbound(name: string): void;
  /** Holds `name` again for `ms`, then releases it (a store out of reach is tried again). */
  holdAgain(name: string, ms: number): void;
  /** The hold of an address, in ms: a failed release is tried again after it, or {@link RETRY_RELEASE_MS} if sooner. */
  readonly holdMs: number;
}

/** The releases sent and not yet answered. */
export class Releases {
  readonly #host: ReleasesHost;
  /** By name, while a release of it is unanswered: how many are, and how many times the name came back since the first. */
  readonly #pending = new Map<string, { releases: number; again: number }>();

  constructor(host: ReleasesHost) {
    this.#host = host;
  }

  /** `name` is assigned or bound again: a release of it still unanswered must not undo that. */
  again(name: string): void {
    const pending = this.#pending.size === 0 ? undefined : this.#pending.get(name);
    if (pending !== undefined) pending.again++;
  }

  /**
   * Frees `name`'s address: in the store first, then in the pool, unless the
   * name came back meanwhile. A store that fails or refuses (another
   * enroller serves the name) keeps the binding, and so does the pool; one
   * that fails later (out of reach) is tried again soon, not after a whole
   * hold. `onReleased` hears of the address freed.
   */
  release(name: string, onReleased?: (address: number) => void): void {
    const { pool, store, shared } = this.#host;
    const address = pool.addressOf(name);
    if (address === undefined) return;
    if (!this.#host.running()) {
      // A stopped (or stopping) enroller writes nothing: the address is held, and freed after the next start.
      this.#host.holdAgain(name, this.#host.holdMs);
      return;
    }
    let pending = this.#pending.get(name);
    if (pending === undefined) {
      pending = { releases: 0, again: 0 };
      this.#pending.set(name, pending);
    }
    pending.releases++;
    const p = pending;
    const againAtSend = p.again;
    const settled = (): void => {
      if (--p.releases === 0) this.#pending.delete(name);
    };
    const retry = (): void => {
      settled();
      if (this.#host.running() && !this.#host.serves(name)) this.#host.holdAgain(name, Math.min(this.#host.holdMs, RETRY_RELEASE_MS));
    };
    let answer: MaybePromise<unknown>;
    try {
      answer = store.release(name);
    } catch {
      retry(); // a store that throws (a synchronous driver's "database is locked") is tried again, as one that rejects
      return;
    }
    const done = (released: unknown): void => {
      settled();
      const now = pool.addressOf(name);
      if (released === false || p.again !== againAtSend || (now !== undefined && now !== address)) return;
      // Served again meanwhile: one enroller's store keeps it in the pool; a shared store let it go for everyone.
      if (this.#host.serves(name) && !shared) return;
      pool.release(name);
      if (shared) this.#host.unbound(name);
      onReleased?.(address);
    };
    settle(answer, done, retry);
  }
}
