/**
 * An address store on etcd ({@link SharedAddressStore}), shared by several enrollers of one DIF:
 * they can never hand out the same address, and losing any one of them
 * loses nothing. Imported from `rina-enrollment/etcd`, so the core never
 * loads gRPC.
 *
 * Keys, under a per-DIF prefix (default `/rina/<dif name>/`; names are
 * URI-encoded so that a `/` in an IPCP name cannot reach another key):
 *
 * | key | value | lease |
 * | --- | --- | --- |
 * | `names/<ipcp name>` | its address, in decimal | none |
 * | `addresses/<address>` | the IPCP name holding it | none |
 * | `members/<ipcp name>/<enroller>` | empty: this enroller serves the member | the enroller's |
 * | `enrollers/<enroller>` | `{"shimAddress": ...}` | the enroller's |
 *
 * @module
 */
import type { Etcd3, ITxnRequest } from 'etcd3';
import { StoreError } from '../errors.js';
import type { AddressBinding, AddressStoreListener, SharedAddressStore, StoreOwner } from '../store/address-store.js';
import { bindingProblem, nameProblem, refuse } from '../store/address-store.js';
import { systemClock } from '../util/clock.js';
import { parseWith } from '../util/schema.js';
import { ApplyBacklog, raftProgress } from './apply-backlog.js';
import { makeEtcdClient, storeError } from './client.js';
import { BindBatcher, bindRequest, placesOf } from './binds.js';
import { ConfirmBatcher } from './confirms.js';
import { Leaves } from './leaves.js';
import { deleteIfNames, type Entry, EtcdKeys, prefixEnd } from './keys.js';
import { type MemberKeepalives, memberKeepalives } from './keepalives.js';
import { LeaseKeeper, type TxnResponse } from './lease.js';
import * as opts from './options.js';
import { OwnMarks } from './own-marks.js';
import { ServedNames } from './served.js';
import { AddressTable } from './table.js';
import { TxnWindow } from './txn-window.js';
import { TableWatcher } from './watcher.js';

/**
 * Shares one address space between enrollers through etcd.
 *
 * - **Binding** is one transaction comparing the revisions of both the name
 *   key and the address key with what this enroller last saw (create
 *   revision 0 for a key that must not exist, the modification revision for
 *   one it expects), so two enrollers racing for one address or one name
 *   never both win. The loser learns the winner from the transaction's
 *   failure branch and proposes again.
 * - **Finding a free address** reads nothing: each enroller keeps the whole
 *   table in memory, read once at start and kept current by one watch on the
 *   prefix, and probes it from a random point. etcd is the arbiter, the
 *   cache only a good guess: an enrollment costs one transaction.
 * - **Liveness**: an enroller marks each member it serves with a key under
 *   its one lease, written at enrollment and deleted when the member leaves
 *   or goes silent. Keepalives touch only memory; the lease's own keepalive
 *   keeps every mark alive. When a name's last mark goes (or its enroller's
 *   lease expires), every enroller starts the name's hold; the first whose
 *   hold ends deletes the binding, in a transaction that checks that no
 *   enroller marked the name meanwhile.
 */
export class EtcdAddressStore implements SharedAddressStore {
  /** Says the store is shared by several enrollers. */
  readonly shared = true;
  /** The key prefix, ending with `/`. */
  readonly prefix: string;
  readonly #options: opts.ResolvedEtcdStoreOptions;
  readonly #keys: EtcdKeys;
  readonly #table: AddressTable;
  readonly #watcher: TableWatcher;
  readonly #lease: LeaseKeeper;
  readonly #confirms: ConfirmBatcher;
  readonly #binds: BindBatcher;
  readonly #marks: OwnMarks;
  #client: Etcd3 | undefined;
  /** Where the lease's keepalives go (a client per etcd member), while open. */
  #keepalives: MemberKeepalives | undefined;
  #owner: StoreOwner | undefined;
  #listener: AddressStoreListener | undefined;
  #closed = true;
  /** Bumped by open and close: a renewal of an earlier opening gives up. */
  #epoch = 0;
  /** The names this enroller serves (its marks should exist), and the revision of each mark it wrote. */
  readonly #served = new ServedNames();
  /** Binds in flight, by name: a release of the name waits for them (it is refused). */
  readonly #binding = new Map<string, number>();
  readonly #leaves: Leaves;
  readonly #stats: opts.EtcdStoreStats = opts.zeroEtcdStats();
  readonly #window: TxnWindow;

  /** Throws `ConfigError` naming each invalid option. */
  constructor(options: opts.EtcdAddressStoreOptions) {
    this.#options = parseWith(opts.etcdStoreOptionsSchema, options);
    let prefix = this.#options.prefix ?? `/rina/${this.#options.difName}/`;
    if (!prefix.endsWith('/')) prefix += '/';
    this.prefix = prefix;
    const keys = new EtcdKeys(prefix, () => this.#owner?.name);
    this.#keys = keys;
    const stats = this.#stats;
    const { maxTxnsInFlight: max, txnTargetMs: targetMs } = this.#options;
    const backlog = new ApplyBacklog(() => raftProgress(this.#open(), this.#deadline()), { targetMs }, stats);
    this.#window = new TxnWindow({ max, targetMs, behind: () => backlog.behind() }, stats, systemClock);
    // (Each bind's deadline on the window's clock: monotonic, as its waits are timed.)
    this.#binds = new BindBatcher((r, waitMs) => this.#send('binds', r, waitMs), this.#options.callTimeoutMs, systemClock.now);
    const served = this.#served;
    const marks = new OwnMarks({ keys, served, table: () => this.#table, txn: (r) => this.#txn('strayMarks', 'delete a stray mark', r) });
    this.#marks = marks;
    this.#table = new AddressTable({
      keys,
      stats,
      listener: () => this.#listener,
      ownerName: () => this.#owner?.name,
      strayMark: (name, kv) => marks.stray(name, kv.mod_revision),
      ownMarkGone: (name, deletedAt) => served.markGone(name, deletedAt),
      readAgain: (revision, own) => marks.readAgain(revision, own),
    });
    const common = { keys, stats, client: () => this.#open(), epoch: () => this.#epoch };
    this.#watcher = new TableWatcher(
      { ...common, deadline: () => this.#deadline(), error: (what, err) => this.#error(what, err) },
      this.#table,
    );
    this.#lease = new LeaseKeeper({
      ...common,
      options: this.#options,
      closed: () => this.#closed,
      owner: () => this.#owner as StoreOwner,
      txn: (what, request) => this.#txn('registrations', what, request),
      renewed: () => this.#served.clear(), // not vouched for until confirmed
      fenced: (fenced) => this.#listener?.fenced?.(fenced),
      keepalive: (id, deadline) => this.#keepalives?.send(id, deadline),
    });
    this.#confirms = new ConfirmBatcher({
      keys,
      served: this.#served,
      leaseId: () => (this.#lease.fenced ? undefined : this.#lease.id),
      txn: (what, request) => this.#txn('confirms', what, request),
      learn: (key, kv, revision) => this.#table.learn(key, kv, revision),
      dropped: (name, token) => marks.dropped(name, token),
    });
    this.#leaves = new Leaves({
      keys,
      served: this.#served,
      markAt: (name) => this.#markAt(name),
      txn: (what, request) => this.#txn('leaves', what, request),
      closed: () => this.#closed,
    });
  }

  /** Counters since the store was made. */
  stats(): opts.EtcdStoreStats {
    return { ...this.#stats };
  }

  /** Grants the enroller's lease and registers it under `enrollers/`. */
  async open(owner: StoreOwner, listener: AddressStoreListener): Promise<void> {
    if (!this.#closed) throw new StoreError('this EtcdAddressStore is open already: one enroller per store');
    this.#closed = false;
    const epoch = ++this.#epoch;
    this.#owner = owner;
    this.#listener = listener;
    this.#client = this.#options.client ?? makeEtcdClient(this.#options, () => this.#stats.etcdMembersSkipped++);
    this.#keepalives = memberKeepalives(this.#options);
    try {
      await this.#lease.open(epoch);
    } catch (err) {
      if (this.#epoch === epoch) await this.close(); // (not an opening that came since: it is not this one's to close)
      throw this.#error('cannot register the enroller', err);
    }
  }

  /**
   * Reads the table (in pages, at one revision), then watches the prefix
   * from the next revision on, so no change falls between the two. Names no
   * enroller serves are reported idle: their holds start now.
   */
  load(): Promise<AddressBinding[]> {
    return this.#watcher.load();
  }

  async bind(binding: AddressBinding): Promise<boolean> {
    this.#open(); // "not open" before "no lease"
    refuse('bind', bindingProblem(binding)); // (a StoreError, not a URIError from encoding a lone surrogate)
    const leaseId = this.#lease.id;
    // (fenced: the lease lapsed; the one being granted proves nothing until its renewal ends, and may be revoked)
    if (leaseId === undefined || this.#lease.fenced) {
      throw new StoreError('etcd: the enroller has no lease now (etcd was out of reach; it is being renewed)');
    }
    const { name, address } = binding;
    const held = this.#table.name(name);
    const holder = this.#table.address(address);
    const request = bindRequest(this.#keys, this.#table, binding, { held, holder }, leaseId);
    const token = this.#served.take(name);
    this.#binding.set(name, (this.#binding.get(name) ?? 0) + 1);
    let res: TxnResponse;
    try {
      res = await this.#binds.txn(request, leaseId);
    } catch (err) {
      // Committed or not, we cannot tell: a mark that made it is deleted
      // when the watch shows it (see AddressTable), or now if it did already.
      this.#marks.dropped(name, token);
      throw this.#error(`cannot bind ${name} to ${address}`, err);
    } finally {
      const left = (this.#binding.get(name) ?? 1) - 1;
      if (left === 0) this.#binding.delete(name);
      else this.#binding.set(name, left);
    }
    const revision = Number(res.header.revision);
    if (res.succeeded) {
      const movedOff = res.responses[2]?.response_txn?.succeeded === true; // the previous address key deleted, if any
      this.#bound(binding, held, holder, revision, movedOff); // (it writes the mark's revision: before succeeded settles the call)
      this.#served.succeeded(name, token, revision);
      return true;
    }
    this.#stats.conflicts++;
    this.#marks.dropped(name, token); // (a mark an earlier call left unanswered, shown by the watch since, may be a stray now)
    // What won instead: each key as it is now, or gone.
    const found = res.responses.map((r) => r.response_range?.kvs[0]);
    this.#table.learn(this.#keys.name(name), found[0], revision);
    this.#table.learn(this.#keys.address(address), found[1], revision);
    return false;
  }

  /** A bind committed at `revision`: the table takes what it wrote. */
  #bound({ name, address }: AddressBinding, held: Entry | undefined, holder: Entry | undefined, revision: number, movedOff: boolean): void {
    this.#served.wrote(name, revision);
    const createdAt = held?.createRevision ?? revision;
    this.#table.record(this.#keys.name(name), { value: String(address), createRevision: createdAt, modRevision: revision }, revision);
    const kept = holder?.value === name ? holder.createRevision : revision;
    this.#table.record(this.#keys.address(address), { value: name, createRevision: kept, modRevision: revision }, revision);
    const previous = held === undefined ? undefined : Number(held.value);
    if (previous === undefined || previous === address) return;
    if (movedOff) this.#table.record(this.#keys.address(previous), undefined, revision);
    else this.#table.reassert(previous); // (the old address key named another name: it still holds that address)
  }

  /**
   * Marks `name` as served by this enroller under its current lease if, and
   * only if, etcd binds it to `address` now, both ways (`names/` and
   * `addresses/`); writes nothing else. What an enroller back from a lapsed
   * lease uses to prove a member's binding is still its own: unlike
   * {@link bind}, it never overwrites what another enroller did meanwhile.
   * Confirms asked together share transactions (src/etcd/confirms.ts).
   */
  async confirm(binding: AddressBinding): Promise<boolean> {
    this.#open();
    refuse('confirm', bindingProblem(binding));
    return await this.#confirms.confirm(binding);
  }

  /**
   * Deletes `name`'s binding, and this enroller's mark, if no other
   * enroller marks the name and the binding is what this enroller last saw.
   * Resolves `false` (and learns the truth) otherwise, and while a bind of
   * the name by this enroller is in flight.
   */
  async release(name: string): Promise<boolean> {
    this.#open(); // "not open", as bind and leave say, rather than "released" by a table never read
    refuse('release', nameProblem(name));
    if (this.#binding.has(name)) return false;
    const held = this.#table.name(name);
    if (held === undefined) return true;
    const nameKey = this.#keys.name(name);
    const addressKey = this.#keys.address(Number(held.value));
    const marks = this.#keys.marksOf(name);
    const mine = this.#keys.mark(name);
    const token = this.#served.token(name);
    const res = await this.#txn('releases', 'release', {
      compare: [
        { key: Buffer.from(nameKey), target: 'Mod', result: 'Equal', mod_revision: held.modRevision },
        // No mark but possibly ours: the ranges before and after our own key are empty.
        { key: Buffer.from(marks), range_end: Buffer.from(mine), target: 'Create', result: 'Equal', create_revision: 0 },
        { key: Buffer.from(`${mine}\0`), range_end: prefixEnd(marks), target: 'Create', result: 'Equal', create_revision: 0 },
      ],
      success: [
        { request_delete_range: { key: Buffer.from(nameKey) } },
        deleteIfNames(addressKey, name),
        { request_delete_range: { key: Buffer.from(mine) } },
      ],
      failure: [{ request_range: { key: Buffer.from(nameKey) } }],
    });
    const revision = Number(res.header.revision);
    if (res.succeeded) {
      this.#served.released(name, token, revision); // unless a bind of the name was sent since: its mark is its own
      this.#table.record(nameKey, undefined, revision);
      if (res.responses[1]?.response_txn?.succeeded === true) this.#table.record(addressKey, undefined, revision);
      else this.#table.reassert(Number(held.value)); // (the address key named another name: it still holds the address)
      this.#marks.strayIfShown(name, revision); // a bind sent since may have failed, kept served by the success undone
      return true;
    }
    this.#table.learn(nameKey, res.responses[0]?.response_range?.kvs[0], revision);
    return false;
  }

  /**
   * Deletes this enroller's mark on `name`, at the revision it knows it by
   * (its own write, or the watch's), so never a mark a later bind wrote;
   * with no mark known it sends nothing. If etcd is out of reach, it is tried again (a second later,
   * then less and less often, with the others' in shared transactions: see
   * src/etcd/leaves.ts) until it works, the store closes, or the name is bound
   * again; the returned promise reports the first try.
   */
  async leave(name: string): Promise<void> {
    this.#open();
    refuse('leave', nameProblem(name));
    this.#served.forget(name);
    await this.#leaves.leave(name);
  }

  /**
   * Stops the watch and revokes the lease: the registration and every mark
   * of this enroller go at once (the bindings stay). Closes the client if
   * the store made it.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#epoch++;
    // Closed here, whatever open() makes while this waits for etcd: an opening that came meanwhile keeps its own.
    const [client, keepalives] = [this.#client, this.#keepalives];
    const watching = this.#watcher.stop(this.#options.callTimeoutMs);
    const lease = this.#lease.detach();
    this.#served.clear();
    this.#leaves.stop();
    this.#binds.flush(); // (this turn's binds: refused with those waiting, never sent, even if the store opens again)
    this.#window.reject('not sent: the EtcdAddressStore closed'); // (those in flight end as etcd answers them)
    await watching;
    await this.#lease.revoke(lease);
    if (this.#options.client === undefined) client?.close();
    keepalives?.close();
    if (this.#client === client) this.#client = undefined;
    if (this.#keepalives === keepalives) this.#keepalives = undefined;
  }

  /** Whether the lease is surely alive at etcd now (the fence has not closed, and its deadline has not passed). */
  canVouch(): boolean {
    return this.#lease.canVouch();
  }

  /** The address etcd binds `name` to, as this enroller's copy of the table (kept by the watch) has it now. */
  addressOf(name: string): number | undefined {
    const held = this.#table.name(name);
    return held === undefined ? undefined : Number(held.value);
  }

  /** Whether the lease's proof ran out and etcd is being asked, once, whether it is alive (nothing is vouched for meanwhile). */
  doubting(): boolean {
    return this.#lease.doubting;
  }

  /** The revision of this enroller's mark on `name`: the later of the one it wrote and the one the watch showed. */
  #markAt(name: string): number | undefined {
    const written = this.#served.written(name);
    const seen = this.#table.ownMark(name);
    return written === undefined ? seen : Math.max(written, seen ?? 0);
  }

  #open(): Etcd3 {
    if (this.#closed || this.#client === undefined) throw new StoreError('the EtcdAddressStore is not open');
    return this.#client;
  }

  #deadline(): { deadline: number } {
    return { deadline: Date.now() + this.#options.callTimeoutMs };
  }

  #error(what: string, err: unknown): StoreError {
    return storeError(what, err, this.prefix);
  }

  /** One transaction, through the window of those in flight (a registration, which reopens the fence, goes past it). */
  async #txn(kind: opts.TxnKind, what: string, request: ITxnRequest): Promise<TxnResponse> {
    try {
      return await this.#send(kind, () => request);
    } catch (err) {
      throw this.#error(what, err);
    }
  }

  /** Sends the transaction `request` says when it goes (see BindBatcher), its errors as etcd's client gives them. */
  #send(kind: opts.TxnKind, request: () => ITxnRequest, waitMs = this.#options.callTimeoutMs): Promise<TxnResponse> {
    if (kind !== 'binds') this.#binds.flush(); // (binds asked for before this transaction go before it)
    let places = 1;
    const send = () => {
      const client = this.#open();
      this.#stats.transactions++;
      this.#stats[kind]++;
      const sent = request();
      places = placesOf(kind, sent);
      return client.kv.txn(sent, this.#deadline()); // (from its send: the wait in the window is not etcd's time)
    };
    return kind === 'registrations' ? send() : this.#window.run(send, waitMs, () => places);
  }
}
