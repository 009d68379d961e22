/**
 * The etcd store's copy of the shared table: bindings (with the revision
 * each key was seen at, deletions too), who serves which name, and the live
 * enrollers. Fed by range reads, watch events and the failure branches of
 * transactions; tells the enroller's listener what changed.
 *
 * @module
 */
import type { IKeyValue } from 'etcd3';
import type { AddressBinding, AddressStoreListener } from '../store/address-store.js';
import { addressFrom, dec, type Entry, type EtcdKeys, entryOf } from './keys.js';
import type { EtcdStoreStats } from './options.js';

/** What the table needs of its store. */
export interface TableHost {
  /** The store's keys. */
  readonly keys: EtcdKeys;
  /** The store's counters. */
  readonly stats: EtcdStoreStats;
  /** Who hears of changes (undefined before open). */
  listener(): AddressStoreListener | undefined;
  /** The owning enroller's name. */
  ownerName(): string | undefined;
  /** A mark of this enroller's, seen live, on a name it does not serve (a bind whose answer never came). */
  strayMark(name: string, kv: IKeyValue): void;
}

/** The shared table as this enroller last saw it. */
export class AddressTable {
  readonly #host: TableHost;
  /** names/ and addresses/ keys as last seen, with the revision they were seen at (deletions too). */
  readonly #names = new Map<string, Entry>();
  readonly #addresses = new Map<number, Entry>();
  readonly #seenAt = new Map<string, number>();
  /** Which enrollers serve each name. */
  readonly #marks = new Map<string, Set<string>>();
  /** Live enrollers: name to shim address. */
  readonly #enrollers = new Map<string, string>();
  /** Deletions remembered in #seenAt; pruned once the watch has passed them. */
  #tombstones = 0;
  /** The newest revision the watch delivered. */
  #watchRevision = 0;

  constructor(host: TableHost) {
    this.#host = host;
  }

  /** `name`'s binding key as last seen. */
  name(name: string): Entry | undefined {
    return this.#names.get(name);
  }

  /** `address`'s key as last seen. */
  address(address: number): Entry | undefined {
    return this.#addresses.get(address);
  }

  /** Every binding. */
  bindings(): AddressBinding[] {
    return [...this.#names].map(([name, e]) => ({ name, address: Number(e.value) }));
  }

  /** Forgets everything (a fresh read follows). */
  clear(): void {
    this.#names.clear();
    this.#addresses.clear();
    this.#marks.clear();
    this.#enrollers.clear();
    this.#seenAt.clear();
    this.#tombstones = 0;
    this.#watchRevision = 0;
  }

  /**
   * Takes the keys of a table read at `revision` (marks and enrollers
   * anew): bindings not among them are gone at that revision. Reports the
   * names that became idle and the live enrollers.
   */
  adopt(kvs: IKeyValue[], revision: number): void {
    const { keys } = this.#host;
    const present = new Set(kvs.map((kv) => kv.key.toString()));
    for (const name of [...this.#names.keys()]) if (!present.has(keys.name(name))) this.record(keys.name(name), undefined, revision);
    for (const address of [...this.#addresses.keys()]) {
      if (!present.has(keys.address(address))) this.record(keys.address(address), undefined, revision);
    }
    const idleBefore = new Set([...this.#names.keys()].filter((n) => !this.#marks.has(n)));
    this.#marks.clear();
    this.#enrollers.clear();
    for (const kv of kvs) this.#apply(kv, false, false);
    this.#announceEnrollers();
    for (const name of this.#names.keys()) if (!this.#marks.has(name) && !idleBefore.has(name)) this.#host.listener()?.idle(name);
    this.#watchRevision = Math.max(this.#watchRevision, revision);
  }

  /** A watch event. */
  onEvent(kv: IKeyValue, deleted: boolean): void {
    this.#host.stats.watchEvents++;
    this.#watchRevision = Math.max(this.#watchRevision, Number(kv.mod_revision));
    try {
      this.#apply(kv, deleted, true);
    } catch {
      // A key we cannot read is not ours: nothing under the prefix may stop the enroller.
    }
    if (this.#tombstones > 10_000) this.#prune();
  }

  /** What a transaction's failure branch found of `key` at `revision`. */
  learn(key: string, kv: IKeyValue | undefined, revision: number): void {
    if (kv === undefined) this.record(key, undefined, revision);
    else this.#apply(kv, false, false);
  }

  /** A key seen at `revision`: `entry`, or gone. Updates the table and tells the listener of binding changes. */
  record(key: string, entry: Entry | undefined, revision: number): void {
    if ((this.#seenAt.get(key) ?? 0) >= revision) return;
    this.#seenAt.set(key, revision);
    if (entry === undefined) this.#tombstones++;
    const rest = key.slice(this.#host.keys.prefix.length);
    const listener = this.#host.listener();
    if (rest.startsWith('addresses/')) {
      const address = addressFrom(rest.slice('addresses/'.length));
      if (address === undefined) return;
      if (entry === undefined) this.#addresses.delete(address);
      else {
        this.#addresses.set(address, entry);
        // Taken: the pool learns it now, before the owner's name key arrives.
        if (this.#names.get(entry.value)?.value !== String(address)) listener?.bound({ name: entry.value, address });
      }
      return;
    }
    const name = dec(rest.slice('names/'.length));
    if (name === undefined) return;
    const before = this.#names.get(name);
    if (entry === undefined) {
      this.#names.delete(name);
      if (before !== undefined) listener?.unbound(name);
      return;
    }
    this.#names.set(name, entry);
    const address = addressFrom(entry.value);
    if (before?.value !== entry.value && address !== undefined) listener?.bound({ name, address });
  }

  /**
   * Applies one key as seen (a range read, a watch event, a transaction's
   * failure branch). A binding key older than what was seen already is
   * ignored, so a late watch event cannot undo a newer transaction result.
   */
  #apply(kv: IKeyValue, deleted: boolean, live: boolean): void {
    const key = kv.key.toString();
    if (!key.startsWith(this.#host.keys.prefix)) return;
    const parts = key.slice(this.#host.keys.prefix.length).split('/');
    if (parts.length === 2 && (parts[0] === 'names' || parts[0] === 'addresses')) {
      const valid =
        parts[0] === 'names'
          ? dec(parts[1]) !== undefined && (deleted || addressFrom(kv.value.toString()) !== undefined)
          : addressFrom(parts[1] ?? '') !== undefined && (deleted || kv.value.length > 0);
      if (valid) this.record(key, deleted ? undefined : entryOf(kv), Number(kv.mod_revision));
    } else if (parts[0] === 'members' && parts.length === 3) {
      const name = dec(parts[1]);
      const enroller = dec(parts[2]);
      if (name === undefined || enroller === undefined) return;
      this.#mark(name, enroller, !deleted, live);
      if (live && !deleted && enroller === this.#host.ownerName()) this.#host.strayMark(name, kv);
    } else if (parts[0] === 'enrollers' && parts.length === 2) {
      const enroller = dec(parts[1]);
      if (enroller === undefined) return;
      if (deleted) this.#enrollers.delete(enroller);
      else this.#register(enroller, kv.value.toString());
      if (live) this.#announceEnrollers();
    }
  }

  /** An enroller's registration: `{"shimAddress": ...}`; anything else is not ours, and ignored. */
  #register(enroller: string, value: string): void {
    try {
      const { shimAddress } = JSON.parse(value) as { shimAddress?: unknown };
      if (typeof shimAddress === 'string' && shimAddress !== '') this.#enrollers.set(enroller, shimAddress);
    } catch {
      // not ours: ignored
    }
  }

  #mark(name: string, enroller: string, present: boolean, live: boolean): void {
    let set = this.#marks.get(name);
    if (present) {
      if (set === undefined) {
        set = new Set();
        this.#marks.set(name, set);
      }
      set.add(enroller);
      return;
    }
    if (set === undefined || !set.delete(enroller) || set.size > 0) return;
    this.#marks.delete(name);
    if (live && this.#names.has(name)) this.#host.listener()?.idle(name);
  }

  #announceEnrollers(): void {
    const owner = this.#host.ownerName();
    const others = [...this.#enrollers].filter(([name]) => name !== owner).map(([, shimAddress]) => shimAddress);
    this.#host.listener()?.enrollers(others);
  }

  /** Forgets deletions the watch has passed: no event older than them can come any more. */
  #prune(): void {
    const rest = (key: string): string => key.slice(this.#host.keys.prefix.length);
    for (const [key, revision] of this.#seenAt) {
      if (revision > this.#watchRevision) continue;
      const r = rest(key);
      const present = r.startsWith('names/')
        ? this.#names.has(dec(r.slice('names/'.length)) ?? '')
        : this.#addresses.has(addressFrom(r.slice('addresses/'.length)) ?? 0);
      if (!present) this.#seenAt.delete(key);
    }
    this.#tombstones = 0;
  }
}
