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

/** The revision a key was last seen at, and whether it was gone then. */
interface Seen {
  readonly revision: number;
  readonly gone: boolean;
}

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
  /**
   * This enroller's mark on `name` was deleted at `deletedAt` (a leave, a
   * release, a lost lease): seen live, or missing from a table read again at
   * that revision.
   */
  ownMarkGone(name: string, deletedAt: number): void;
  /** The table was read again at `revision` after its watch failed (not at the first read): our marks in it. */
  readAgain(revision: number, marks: ReadonlyMap<string, number>): void;
}

/** The shared table as this enroller last saw it. */
export class AddressTable {
  readonly #host: TableHost;
  /** names/ and addresses/ keys as last seen, with the revision they were seen at (deletions too). */
  readonly #names = new Map<string, Entry>();
  readonly #addresses = new Map<number, Entry>();
  /** Of each address, the name key seen binding it at the newest revision (a late event of an older binding of it is no news). */
  readonly #claims = new Map<number, { name: string; revision: number }>();
  readonly #seenAt = new Map<string, Seen>();
  /** Which enrollers serve each name. */
  readonly #marks = new Map<string, Set<string>>();
  /** This enroller's own marks as last seen: name to the revision it was written at. */
  readonly #ownMarks = new Map<string, number>();
  /** Live enrollers: name to shim address. */
  readonly #enrollers = new Map<string, string>();
  /** Deletions remembered in #seenAt; pruned once the watch has passed them. */
  #tombstones = 0;
  /**
   * The watch's revision at the last prune: a key with no #seenAt entry was
   * deleted at or before it, if its put is no newer (every key alive is in
   * #seenAt). A transaction's late read of it is stale, not news.
   */
  #prunedUpTo = 0;
  /** The newest revision the watch delivered. */
  #watchRevision = 0;

  constructor(host: TableHost) {
    this.#host = host;
  }

  /** The newest revision the table has seen everything up to (its last read, or the watch's last event). */
  get watchRevision(): number {
    return this.#watchRevision;
  }

  /** `name`'s binding key as last seen. */
  name(name: string): Entry | undefined {
    return this.#names.get(name);
  }

  /** `address`'s key as last seen. */
  address(address: number): Entry | undefined {
    return this.#addresses.get(address);
  }

  /**
   * Tells the listener again who holds `address`, as its key was last seen:
   * after a release or a move that left that key to another name (a stale
   * claim's), the pool, which freed the address with the name, learns it is
   * taken. Nothing new arrives from etcd to tell it: the key did not change.
   */
  reassert(address: number): void {
    const holder = this.#addresses.get(address)?.value;
    if (holder !== undefined) this.#host.listener()?.bound({ name: holder, address });
  }

  /** The revision of this enroller's mark on `name` as last seen, if it has one. */
  ownMark(name: string): number | undefined {
    return this.#ownMarks.get(name);
  }

  /** Every binding. */
  bindings(): AddressBinding[] {
    return [...this.#names].map(([name, e]) => ({ name, address: Number(e.value) }));
  }

  /** Forgets everything (a fresh read follows). */
  clear(): void {
    this.#names.clear();
    this.#addresses.clear();
    this.#claims.clear();
    this.#marks.clear();
    this.#ownMarks.clear();
    this.#enrollers.clear();
    this.#seenAt.clear();
    this.#tombstones = 0;
    this.#prunedUpTo = 0;
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
    const first = this.#watchRevision === 0;
    this.#marks.clear();
    this.#ownMarks.clear();
    this.#enrollers.clear();
    for (const kv of kvs) this.#apply(kv, false, false);
    // What happened to our marks while the watch was down (the marks of an earlier run die with its lease).
    if (!first) this.#host.readAgain(revision, this.#ownMarks);
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
    const parts = this.#parts(key);
    const [kind, part] = parts;
    if (parts.length !== 2) return;
    if (kind === 'addresses') {
      const address = addressFrom(part);
      if (address !== undefined) this.#recordAddress(key, address, entry, revision);
    } else if (kind === 'names') {
      const name = dec(part);
      if (name !== undefined) this.#recordName(key, name, entry, revision);
    }
  }

  /** A key under the prefix split at its slashes (`names/<name>` is `['names', '<name>']`); none for a key outside it. */
  #parts(key: string): string[] {
    const { prefix } = this.#host.keys;
    return key.startsWith(prefix) ? key.slice(prefix.length).split('/') : [];
  }

  /** Whether `key` at `revision` is news (newer than what was seen of it); remembers it. */
  #newer(key: string, gone: boolean, revision: number): boolean {
    if ((this.#seenAt.get(key)?.revision ?? this.#prunedUpTo) >= revision) return false;
    this.#seenAt.set(key, { revision, gone });
    if (gone) this.#tombstones++;
    return true;
  }

  /** `addresses/<address>` (`key`) seen at `revision`. */
  #recordAddress(key: string, address: number, entry: Entry | undefined, revision: number): void {
    if (!this.#newer(key, entry === undefined, revision)) return;
    if (entry === undefined) {
      this.#addresses.delete(address);
      return;
    }
    this.#addresses.set(address, entry);
    // Taken: the pool learns it now, before the owner's name key arrives; unless that name's key was seen since (a late
    // event: what it says of the name is stale, and it would move a member bound elsewhere).
    const nameSeen = this.#seenAt.get(this.#host.keys.name(entry.value))?.revision ?? 0;
    if (nameSeen < revision && this.#names.get(entry.value)?.value !== String(address)) {
      this.#host.listener()?.bound({ name: entry.value, address });
    }
  }

  /** `names/<name>` (`key`) seen at `revision`. */
  #recordName(key: string, name: string, entry: Entry | undefined, revision: number): void {
    if (!this.#newer(key, entry === undefined, revision)) return;
    const before = this.#names.get(name);
    if (entry === undefined) {
      this.#names.delete(name);
      if (before !== undefined) this.#host.listener()?.unbound(name);
      return;
    }
    this.#names.set(name, entry);
    const address = addressFrom(entry.value);
    if (address === undefined) return;
    const claim = this.#claims.get(address);
    if (claim === undefined || claim.revision < revision) this.#claims.set(address, { name, revision });
    if (before?.value === entry.value) return;
    // A late event: the address key, seen at a newer revision, holds another name (or none). Not news for the pool,
    // which would take the address from its holder; the name's own newer event comes, its key having changed since.
    const held = this.#seenAt.get(this.#host.keys.address(address))?.revision ?? 0;
    if (held > revision && this.#addresses.get(address)?.value !== name) return;
    // Nor while another name's key, seen at a newer revision (a failure branch reads names, not always their address
    // keys), binds the address still: the pool would drop that binding, and its own key, seen already, is no news again.
    const newerClaim = claim !== undefined && claim.name !== name && claim.revision > revision;
    if (newerClaim && this.#names.get(claim.name)?.value === entry.value) return;
    this.#host.listener()?.bound({ name, address });
  }

  /**
   * Applies one key as seen (a range read, a watch event, a transaction's
   * failure branch). A binding key older than what was seen already is
   * ignored, so a late watch event cannot undo a newer transaction result.
   */
  #apply(kv: IKeyValue, deleted: boolean, live: boolean): void {
    const key = kv.key.toString();
    const parts = this.#parts(key);
    const [kind, first, second] = parts;
    if (kind === 'names' && parts.length === 2) {
      const name = dec(first);
      const entry = deleted ? undefined : entryOf(kv);
      if (name !== undefined && (entry === undefined || addressFrom(entry.value) !== undefined)) {
        this.#recordName(key, name, entry, Number(kv.mod_revision));
      }
    } else if (kind === 'addresses' && parts.length === 2) {
      const address = addressFrom(first);
      if (address !== undefined && (deleted || kv.value.length > 0)) {
        this.#recordAddress(key, address, deleted ? undefined : entryOf(kv), Number(kv.mod_revision));
      }
    } else if (kind === 'members' && parts.length >= 3) {
      const name = dec(first);
      if (name === undefined) return;
      // A key under the name's marks that is no enroller's mark (written by hand, by another program) counts as a mark
      // of its own: a release compares every key there, so the name is released once that key is gone, not never.
      const enroller = parts.length === 3 ? dec(second) : undefined;
      this.#mark(name, enroller ?? `\0${key}`, !deleted, live);
      if (enroller === undefined || enroller !== this.#host.ownerName()) return;
      if (deleted) this.#ownMarks.delete(name);
      else this.#ownMarks.set(name, Number(kv.mod_revision));
      if (live && !deleted) this.#host.strayMark(name, kv);
      if (live && deleted) this.#host.ownMarkGone(name, Number(kv.mod_revision));
    } else if (kind === 'enrollers' && parts.length === 2) {
      const enroller = dec(first);
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
      // (a shim address, not a megabyte that would swell every M_START_R past the PDU limit)
      if (isShimAddress(shimAddress)) this.#enrollers.set(enroller, shimAddress);
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
    for (const [key, { revision, gone }] of this.#seenAt) if (gone && revision <= this.#watchRevision) this.#seenAt.delete(key);
    this.#tombstones = 0;
    this.#prunedUpTo = this.#watchRevision;
  }
}

/** Whether an enroller's registration names a shim address: a short, well-formed, non-empty string. */
function isShimAddress(value: unknown): value is string {
  return typeof value === 'string' && value !== '' && value.length <= 256 && value.isWellFormed();
}
