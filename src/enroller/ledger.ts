/**
 * The address ledger: the only part of the enroller that touches the
 * address store and the pool. It holds the addresses of gone members,
 * releases them (trying again when the store fails), hears a shared store's
 * news, and keeps the fence that stops the enroller vouching for bindings a
 * lapsed lease no longer proves. Whether the store is shared is decided once,
 * when the ledger is made.
 *
 * @module
 */
import type { MaybePromise } from '../rib/rib.js';
import {
  type AddressBinding,
  type AddressStore,
  type AddressStoreListener,
  type SharedStoreCapabilities,
  type StoreOwner,
  sharedCapabilities,
} from '../store/address-store.js';
import type { Telemetry } from '../util/telemetry.js';
import type { Ticker, TickerEntry } from '../util/ticker.js';
import { AddressPool, type AddressPoolRange, type Assignment } from './address-pool.js';
import { type BindFlight, BindFlights } from './bind-flights.js';
import type { EnrollerEvents } from './events.js';
import { releaseDelayMs } from './release-turn.js';
import { Releases } from './releases.js';
import { StorePace } from './store-pace.js';

/** What the ledger needs of the enroller. */
export interface LedgerHost {
  /** Whether a member, or an enrollment past M_START, holds `name` here (its address must stay). */
  serves(name: string): boolean;
  /** Whether the enroller serves now. */
  running(): boolean;
  /** How many members the enroller lists (for the log line of a fence). */
  memberCount(): number;
  /** A shared store granted a new lease: the members must be proven again (see {@link AddressLedger.unfence}). */
  leaseBack(): void;
  /** A shared store binds `name` to `address` now, or to nothing (another enroller may have moved or released it): a member listed here at another address no longer holds it. */
  rebound(name: string, address: number | undefined): void;
}

/** How long closing the store waits for the binds in flight, in ms. */
export const CLOSE_WAIT_MS = 5000;

/** Settings of an {@link AddressLedger}. */
export interface LedgerSettings {
  /** The pool's range. */
  readonly addressPool: AddressPoolRange;
  /** How long an address stays held, in ms. */
  readonly holdMs: number;
  /** The enroller's IPCP name (in log lines). */
  readonly ipcpName: string;
  /** The address other enrollers know this one by (its advertised shim address): not an alternate of itself, and its place in the release turns. */
  readonly localAddress: string;
  /** Randomness for the pool of a shared store. */
  readonly random: () => number;
}

/** The store's table as the enroller starts: every binding read, and those the pool skipped. */
export interface Loaded {
  /** Every binding the store returned. */
  readonly restored: AddressBinding[];
  /** Those outside the pool, or to an address bound twice. */
  readonly skipped: AddressBinding[];
}

/** The enroller's addresses: the pool, the store, the holds and the fence. */
export class AddressLedger {
  readonly #store: AddressStore;
  /** The shared store's capabilities, or undefined for a store of one enroller. */
  readonly #shared: SharedStoreCapabilities | undefined;
  readonly #pool: AddressPool;
  readonly #settings: LedgerSettings;
  readonly #ticker: Ticker;
  readonly #telemetry: Telemetry<EnrollerEvents>;
  readonly #host: LedgerHost;
  /** Address holds of gone or released members, by name (`entry` undefined: armed by the next start). */
  readonly #holds = new Map<string, { entry: TickerEntry | undefined; ms: number; turn: number }>();
  readonly #releases: Releases;
  /** Other live enrollers, as a shared store reports them. */
  #otherEnrollers: string[] = [];
  /** Set (to a fresh token) while the shared store has fenced this enroller off, until its members are revalidated. */
  #fencing: number | undefined;
  #fences = 0;
  readonly #pace: StorePace;
  readonly #flights = new BindFlights();

  constructor(store: AddressStore, settings: LedgerSettings, ticker: Ticker, telemetry: Telemetry<EnrollerEvents>, host: LedgerHost) {
    this.#store = store;
    this.#shared = sharedCapabilities(store);
    this.#settings = settings;
    this.#ticker = ticker;
    this.#telemetry = telemetry;
    this.#host = host;
    this.#pace = new StorePace(ticker.clock);
    // Enrollers sharing a store probe from random points, so they seldom race for one address.
    this.#pool = new AddressPool(settings.addressPool, this.#shared === undefined ? {} : { random: settings.random });
    this.#releases = new Releases({
      pool: this.#pool,
      store,
      shared: this.#shared !== undefined,
      serves: (name) => host.serves(name),
      running: () => host.running(),
      unbound: (name) => host.rebound(name, undefined),
      holdAgain: (name, ms) => this.hold(name, ms),
      holdMs: settings.holdMs,
    });
  }

  /** Whether the store is shared by several enrollers. */
  get shared(): boolean {
    return this.#shared !== undefined;
  }

  /** The pool's range. */
  get range(): AddressPoolRange {
    return this.#pool.range;
  }

  /** Addresses of the pool bound to a name. */
  get bound(): number {
    return this.#pool.size;
  }

  /** Addresses of the pool in all. */
  get capacity(): number {
    return this.#pool.capacity;
  }

  /** The shim addresses of the other live enrollers a shared store reports. */
  get otherEnrollers(): string[] {
    return this.#otherEnrollers;
  }

  // --- the store's life ---

  /** Whether the binds in flight (an earlier run's, that {@link close} stopped waiting for) are answered within {@link CLOSE_WAIT_MS}. */
  answered(): Promise<boolean> {
    if (this.#pace.inFlight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const entry = this.#ticker.after(CLOSE_WAIT_MS, () => resolve(false));
      void this.#pace.idle().then(() => {
        this.#ticker.cancel(entry);
        resolve(true);
      });
    });
  }

  /** Opens a shared store for `owner`, reads the table and restores the pool from it; closes the store if that fails. */
  async open(owner: StoreOwner): Promise<Loaded> {
    await this.#shared?.open(owner, this.#listener());
    try {
      // The table as stored: every known name gets its old address back.
      const restored = await this.#store.load();
      return { restored, skipped: this.#pool.restore(restored) };
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  /** Closes the store (a shared one lets go what it served) once binds in flight are answered, or after {@link CLOSE_WAIT_MS}. */
  async close(): Promise<void> {
    await this.answered();
    await this.#store.close?.();
  }

  /**
   * A store of one enroller says nothing of who is alive: the restored names
   * that nobody serves here and that are not held (see {@link resumeHolds}).
   * None with a shared store.
   */
  unserved({ restored, skipped }: Loaded, isMember: (name: string) => boolean): string[] {
    if (this.#shared !== undefined) return [];
    const ignored = new Set(skipped.map((b) => b.name));
    return restored.map((b) => b.name).filter((name) => !ignored.has(name) && !isMember(name) && !this.#holds.has(name));
  }

  // --- assigning ---

  /** The address bound to `name` in the pool, if any. */
  addressOf(name: string): number | undefined {
    return this.#pool.addressOf(name);
  }

  /** Proposes an address for `name` (see {@link AddressPool.assign}). */
  assign(name: string, requested: number): Assignment {
    this.#releases.again(name);
    return this.#pool.assign(name, requested);
  }

  /** Stores a binding; a shared store's `false` means it was taken meanwhile (the listener has told the pool). Its time is measured (see {@link storeWaitMs}). */
  // biome-ignore lint/suspicious/noConfusingVoidType: the store's answer, as it gives it
  bind(binding: AddressBinding, flight?: BindFlight): MaybePromise<void | boolean> {
    this.#releases.again(binding.name);
    const answer = this.#pace.time(() => this.#store.bind(binding));
    return this.#shared === undefined ? answer : this.#flights.watch(binding.name, answer, flight); // (only a shared store leaves names)
  }

  /** How long a bind started now would wait for the store, at the pace it has been completing them (see {@link StorePace}). */
  storeWaitMs(): number {
    return this.#pace.waitMs();
  }

  /** A failed bind: the pool gives `name` back `heldBefore` (if it is not another's by now, nor unbound in a shared store), or nothing. */
  undo({ name, address }: AddressBinding, heldBefore: number | undefined): void {
    // (A shared store that has seen it committed, its answer lost, keeps it: the pool must not lose what the store holds.)
    if (this.#pool.addressOf(name) !== address || this.#shared?.addressOf(name) === address) return;
    const back = heldBefore !== undefined && (this.#pool.ownerOf(heldBefore) ?? name) === name;
    if (back && (this.#shared === undefined || this.#shared.addressOf(name) === heldBefore)) this.#pool.set(name, heldBefore);
    else this.#pool.release(name);
  }

  /**
   * Proves `binding` is still this enroller's, through the store, and marks
   * it served again: compare-only where the store can; never an overwrite of
   * what another enroller did meanwhile. False on any doubt.
   */
  async confirm(binding: AddressBinding): Promise<boolean> {
    try {
      if (this.#shared !== undefined) return await this.#shared.confirm(binding);
      return (await this.#store.bind(binding)) !== false;
    } catch {
      return false;
    }
  }

  /** Tells a shared store this enroller no longer serves `name` (a failure only costs a retry later). */
  leave(name: string): void {
    const shared = this.#shared;
    if (shared === undefined) return;
    this.#flights.left(name);
    try {
      Promise.resolve(shared.leave(name)).catch(() => undefined);
    } catch {
      // a synchronous failure costs the same
    }
  }

  /**
   * An enrollment that never completed had `name` bound: the address goes
   * back. One it bound anew is freed; one the name had before is held for it
   * again, never for less than what was left of its hold (`heldUntil`).
   */
  giveBack(name: string, newBinding: boolean, heldUntil: number | undefined): void {
    if (this.#holds.has(name)) return;
    if (newBinding) {
      this.#releases.release(name);
    } else {
      this.leave(name);
      this.hold(name, Math.max(this.#settings.holdMs, (heldUntil ?? 0) - this.#ticker.clock.now()));
    }
  }

  /** Frees `name`'s address (see `Releases`), without an event. */
  free(name: string): void {
    this.#releases.release(name);
  }

  // --- holds ---
  /** Whether `name`'s address is held. */
  holding(name: string): boolean {
    return this.#holds.has(name);
  }

  /**
   * Keeps `name`'s address bound for `holdMs` (or `ms`), then frees it unless
   * the name is served again. While the enroller does not run (stopping, or
   * starting: a shared store's news still come), the hold waits, whole, for
   * the next start, as {@link pauseHolds} leaves the others: a stopped
   * enroller keeps no timer.
   */
  hold(name: string, ms = this.#settings.holdMs): void {
    this.#ticker.cancel(this.#holds.get(name)?.entry);
    if (!this.#host.running()) {
      this.#holds.set(name, { entry: undefined, ms, turn: 0 });
      return;
    }
    const turn =
      this.#shared === undefined ? 0 : releaseDelayMs(name, this.#settings.localAddress, this.#otherEnrollers, this.#settings.holdMs);
    const entry = this.#ticker.after(ms + turn, () => {
      this.#holds.delete(name);
      if (this.#host.serves(name)) return;
      this.#releases.release(name, (address) => this.#telemetry.emit('address:released', { name, address }));
    });
    this.#holds.set(name, { entry, ms, turn });
  }

  /** `name` is served again: its hold ends. Returns when the hold would have ended (its release turn aside), if it was armed. */
  endHold(name: string): number | undefined {
    const hold = this.#holds.get(name);
    this.#ticker.cancel(hold?.entry);
    this.#holds.delete(name);
    return hold?.entry === undefined ? undefined : hold.entry.at - hold.turn;
  }

  /** Stops every hold's timer (they run again, whole, from the next start). */
  pauseHolds(): void {
    for (const hold of this.#holds.values()) this.#ticker.cancel(hold.entry);
  }

  /** Every hold runs again, whole, from a start; then `unserved` names are held `ms`. */
  resumeHolds(unserved: string[], ms: number): void {
    for (const [name, { ms: held }] of [...this.#holds]) this.hold(name, held);
    for (const name of unserved) this.hold(name, ms);
  }

  // --- the fence ---

  /** Whether the enroller is fenced off now (until its members are proven again). */
  get fenced(): boolean {
    return this.#fencing !== undefined;
  }

  /** How many times the enroller was fenced: a binding made under an earlier count is void. */
  get fences(): number {
    return this.#fences;
  }

  /** The fence in force, or undefined: {@link unfence} lifts only the one it was given. */
  get fencing(): number | undefined {
    return this.#fencing;
  }

  /** Whether a shared store doubts its lease now (asked without fencing). */
  doubted(): boolean {
    return this.#shared?.canVouch() === false;
  }

  /** Whether it may answer for its members now: not fenced, the store's lease proven (asked at each answer: a paused process reads its queue first). */
  vouching(): boolean {
    if (this.#fencing !== undefined) return false;
    if (this.#shared === undefined || this.#shared.canVouch()) return true;
    if (!this.#shared.doubting()) this.#fence(); // the store's timer will say so too; asking whether the lease lives, it waits
    return false;
  }

  /** Whether the shared store is asking whether its lease is alive: what would vouch or evict waits (is not answered). */
  get doubting(): boolean {
    return this.#shared?.doubting() === true;
  }

  /** Whether a binding made under fence count `fences` is not proven now only because the store is asking whether its lease lives: what it would complete waits. */
  awaitsProof(fences: number | undefined): boolean {
    return fences === this.#fences && this.doubting;
  }

  /** Whether a binding made under fence count `fences` is proven: no fence since, and vouching now (none made: never). */
  proven(fences: number | undefined): boolean {
    return fences === this.#fences && this.vouching();
  }

  /** Lifts the fence `token` (undefined: whatever fence is in force, as a stop does). */
  unfence(token?: number): void {
    if (token === undefined || this.#fencing === token) this.#fencing = undefined;
  }

  /**
   * The shared store lost this enroller's lease: another enroller may free
   * and give away any binding it served. Until it is proven again, no member
   * is answered as enrolled and no enrollment completes.
   */
  #fence(): void {
    const already = this.#fencing !== undefined;
    this.#fencing = ++this.#fences; // a revalidation under way is void
    if (already) return;
    const members = this.#host.memberCount();
    this.#telemetry.log(
      'warn',
      { enroller: this.#settings.ipcpName, event: 'enroller:fenced', members },
      `lost its lease in the shared store: it cannot prove its ${members} members' addresses current; refusing them until the store is back`,
    );
  }

  /** How a shared store's news reaches the pool, the holds and the advertised alternates. */
  #listener(): AddressStoreListener {
    return {
      bound: ({ name, address }) => {
        this.#pool.set(name, address);
        this.#host.rebound(name, address);
      },
      unbound: (name) => {
        this.endHold(name);
        this.#pool.release(name);
        this.#host.rebound(name, undefined);
      },
      // The name's last enroller let it go: its hold runs from now, here too (an older hold of ours restarts).
      idle: (name) => {
        if (!this.#host.serves(name)) this.hold(name);
      },
      enrollers: (shimAddresses) => {
        this.#otherEnrollers = shimAddresses.filter((a) => a !== this.#settings.localAddress);
      },
      fenced: (fenced) => (fenced ? this.#fence() : this.#host.leaseBack()),
    };
  }
}
