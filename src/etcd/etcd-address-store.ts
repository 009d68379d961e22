/**
 * An {@link AddressStore} on etcd, shared by several enrollers of one DIF:
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
import { ExponentialBackoff, handleWhen, noop, retry } from 'cockatiel';
import { Etcd3, type IKeyValue, isRecoverableError, type IRequestOp, type ITxnRequest, type Lease, type Watcher } from 'etcd3';
import { z } from 'zod';
import { dependency, integerAtLeast, parseWith, positive } from '../util/schema.js';
import { StoreError } from '../errors.js';
import type { AddressBinding, AddressStore, AddressStoreListener, StoreOwner } from '../store/address-store.js';

/** The longest lease TTL whose renewal (every TTL/3) and fence timers a Node.js timer can wait: 2^31 - 1 ms. */
const MAX_LEASE_TTL_SECS = 2_147_483;

/** A PEM text or its bytes. */
const pem = (what: string) =>
  z
    .union([z.string(), z.custom<Uint8Array>((v) => v instanceof Uint8Array)], { error: 'must be PEM text or its bytes' })
    .refine((v) => Buffer.from(v).toString('utf8').includes('-----BEGIN '), { error: `${what} must be PEM (-----BEGIN ...)` });

const etcdStoreOptionsSchema = z
  .strictObject({
    /**
     * etcd client URLs (`http://127.0.0.1:2379`); the store makes its own
     * client and closes it in {@link EtcdAddressStore.close}.
     */
    hosts: z
      .union([z.url({ error: 'must be a URL' }), z.array(z.url({ error: 'must be a URL' })).min(1)], {
        error: 'must be an etcd URL or a non-empty array of them',
      })
      .optional(),
    /** An etcd3 client of the caller's (who closes it), instead of `hosts`. */
    client: dependency<Etcd3>('Etcd3 client', ['lease', 'watch', 'close']).optional(),
    /**
     * TLS to etcd (`https://` hosts): the CA that signed etcd's certificate,
     * and for etcd's `--client-cert-auth` this client's certificate chain and
     * key, all PEM. With `hosts` only.
     */
    tls: z
      .strictObject({
        /** The CA certificate(s) to trust, PEM. */
        ca: pem('tls.ca'),
        /** This client's certificate chain, PEM (with `key`). */
        cert: pem('tls.cert').optional(),
        /** This client's private key, PEM (with `cert`). */
        key: pem('tls.key').optional(),
      })
      .refine((t) => (t.cert === undefined) === (t.key === undefined), { path: ['cert'], error: 'give both cert and key, or neither' })
      .optional(),
    /** etcd authentication (`etcdctl auth enable`): a user whose role grants read and write under `prefix`. With `hosts` only. */
    auth: z
      .strictObject({
        /** The etcd user. */
        username: z.string().min(1, { error: 'must be a non-empty string' }),
        /** Its password (kept out of errors and logs). */
        password: z.string().min(1, { error: 'must be a non-empty string' }),
      })
      .optional(),
    /** The DIF's name: the default prefix is `/rina/<difName>/`. */
    difName: z.string().min(1, { error: 'must be a non-empty string' }).optional(),
    /** Every key lives under this prefix (it should end with `/`). */
    prefix: z.string().min(1, { error: 'must be a non-empty string' }).optional(),
    /**
     * TTL of the enroller's etcd lease, in seconds: a dead enroller's
     * registration and member marks vanish this long after it died.
     * @default 10
     */
    leaseTtlSecs: integerAtLeast(2)
      .max(MAX_LEASE_TTL_SECS, { error: `must be <= ${MAX_LEASE_TTL_SECS} s (its renewal timers must fit in a Node.js timer)` })
      .default(10),
    /**
     * Bound on one etcd request, in ms: past it the enrollment in hand is
     * answered "unavailable".
     * @default 2000
     */
    callTimeoutMs: positive().default(2000),
  })
  .refine((o) => (o.hosts === undefined) !== (o.client === undefined), {
    path: ['hosts'],
    error: 'give exactly one of hosts and client',
  })
  .refine((o) => o.client === undefined || (o.tls === undefined && o.auth === undefined), {
    path: ['client'],
    error: 'tls and auth are for the client the store makes from hosts; configure your own client instead',
  })
  .refine((o) => o.prefix !== undefined || o.difName !== undefined, {
    path: ['difName'],
    error: 'give difName (for the default prefix) or prefix',
  });

/**
 * Options of {@link EtcdAddressStore}.
 * @interface
 */
export type EtcdAddressStoreOptions = z.input<typeof etcdStoreOptionsSchema>;

/** Counters of an {@link EtcdAddressStore}, for tests and benchmarks. */
export interface EtcdStoreStats {
  /** Transactions sent (binds, releases, leaves, registrations). */
  transactions: number;
  /** Binds refused because another enroller took the name or address first. */
  conflicts: number;
  /** Range reads (only {@link EtcdAddressStore.load} makes them). */
  rangeReads: number;
  /** Watch events applied. */
  watchEvents: number;
  /** Times the enroller's lease was lost and granted again. */
  leaseRenewals: number;
}

interface Entry {
  readonly value: string;
  readonly createRevision: number;
  readonly modRevision: number;
}

/** The next key after every key that starts with `prefix`. */
function prefixEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix);
  end[end.length - 1] = (end[end.length - 1] ?? 0) + 1;
  return end;
}

const enc = (s: string): string => encodeURIComponent(s);

/** A key segment decoded, or undefined for one no enroller wrote (bad %-escapes). */
function dec(s: string | undefined): string | undefined {
  if (s === undefined || s === '') return undefined;
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

/** A DIF address as a key or value holds it, or undefined if it is not one. */
function addressFrom(text: string): number | undefined {
  if (!/^[1-9][0-9]{0,15}$/.test(text)) return undefined;
  const address = Number(text);
  return Number.isSafeInteger(address) ? address : undefined;
}

const entryOf = (kv: IKeyValue): Entry => ({
  value: kv.value.toString(),
  createRevision: Number(kv.create_revision),
  modRevision: Number(kv.mod_revision),
});

const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms).unref();
  });

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
export class EtcdAddressStore implements AddressStore {
  /** The key prefix, ending with `/`. */
  readonly prefix: string;
  readonly #options: z.output<typeof etcdStoreOptionsSchema>;
  #client: Etcd3 | undefined;
  #owner: StoreOwner | undefined;
  #listener: AddressStoreListener | undefined;
  #lease: Lease | undefined;
  #leaseId: string | undefined;
  #watcher: Watcher | undefined;
  #closed = true;
  /** Bumped by open and close: a renewal of an earlier opening gives up. */
  #epoch = 0;
  /** names/ and addresses/ keys as last seen, with the revision they were seen at (deletions too). */
  readonly #names = new Map<string, Entry>();
  readonly #addresses = new Map<number, Entry>();
  readonly #seenAt = new Map<string, number>();
  /** Which enrollers serve each name. */
  readonly #marks = new Map<string, Set<string>>();
  /** Live enrollers: name to shim address. */
  readonly #enrollers = new Map<string, string>();
  /** The names this enroller serves (its marks should exist). */
  readonly #served = new Set<string>();
  /** Binds in flight, by name: a release of the name waits for them (it is refused). */
  readonly #binding = new Map<string, number>();
  /** The revision at which this enroller last wrote its mark on a name. */
  readonly #markRevision = new Map<string, number>();
  /** Names whose leave failed (etcd out of reach): retried until done or served again. */
  readonly #unleft = new Set<string>();
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** `performance.now()` until which the lease is surely alive at etcd: the send time of the last keepalive answered, plus the TTL. */
  #validUntil = 0;
  /** The same deadline on the wall clock, which (unlike performance.now()) goes on while the host is suspended. */
  #validUntilWall = 0;
  /** Send times of keepalives not answered yet, oldest first (one stream answers in order). */
  #fired: number[] = [];
  #fenceTimer: ReturnType<typeof setTimeout> | undefined;
  /** The lease lapsed and no new one is granted yet: nothing this enroller says about bindings is proven current. */
  #fenced = false;
  /** Deletions remembered in #seenAt; pruned once the watch has passed them. */
  #tombstones = 0;
  /** The newest revision the watch delivered. */
  #watchRevision = 0;
  readonly #stats: EtcdStoreStats = { transactions: 0, conflicts: 0, rangeReads: 0, watchEvents: 0, leaseRenewals: 0 };

  /** Throws `ConfigError` naming each invalid option. */
  constructor(options: EtcdAddressStoreOptions) {
    this.#options = parseWith(etcdStoreOptionsSchema, options);
    let prefix = this.#options.prefix ?? `/rina/${this.#options.difName}/`;
    if (!prefix.endsWith('/')) prefix += '/';
    this.prefix = prefix;
  }

  /** Counters since the store was made. */
  stats(): EtcdStoreStats {
    return { ...this.#stats };
  }

  /** Grants the enroller's lease and registers it under `enrollers/`. */
  async open(owner: StoreOwner, listener: AddressStoreListener): Promise<void> {
    if (!this.#closed) throw new StoreError('this EtcdAddressStore is open already: one enroller per store');
    this.#closed = false;
    const epoch = ++this.#epoch;
    this.#owner = owner;
    this.#listener = listener;
    this.#client = this.#options.client ?? this.#makeClient();
    try {
      await this.#grantLease(epoch);
    } catch (err) {
      await this.close();
      throw this.#error('cannot register the enroller', err);
    }
  }

  /**
   * Reads the table (in pages, at one revision), then watches the prefix
   * from the next revision on, so no change falls between the two. Names no
   * enroller serves are reported idle: their holds start now.
   */
  async load(): Promise<AddressBinding[]> {
    const { kvs, revision } = await this.#readTable();
    this.#names.clear();
    this.#addresses.clear();
    this.#marks.clear();
    this.#enrollers.clear();
    this.#seenAt.clear();
    this.#tombstones = 0;
    this.#watchRevision = 0;
    this.#adopt(kvs, revision);
    return [...this.#names].map(([name, e]) => ({ name, address: Number(e.value) }));
  }

  /**
   * Takes the keys of a table read at `revision` (marks and enrollers
   * anew), reports the names that became idle and the live enrollers, and
   * watches from the next revision.
   */
  #adopt(kvs: IKeyValue[], revision: number): void {
    const idleBefore = new Set([...this.#names.keys()].filter((n) => !this.#marks.has(n)));
    this.#marks.clear();
    this.#enrollers.clear();
    for (const kv of kvs) this.#apply(kv, false, false);
    this.#announceEnrollers();
    for (const name of this.#names.keys()) if (!this.#marks.has(name) && !idleBefore.has(name)) this.#listener?.idle(name);
    this.#watchRevision = Math.max(this.#watchRevision, revision);
    this.#watch(revision + 1);
  }

  /** Every key under the prefix, in pages, at one revision. */
  async #readTable(): Promise<{ kvs: IKeyValue[]; revision: number }> {
    const client = this.#open();
    const end = prefixEnd(this.prefix);
    let revision = 0;
    let key = Buffer.from(this.prefix);
    const kvs: IKeyValue[] = [];
    try {
      for (;;) {
        this.#stats.rangeReads++;
        const res = await client.kv.range({ key, range_end: end, limit: 5000, ...(revision === 0 ? {} : { revision }) }, this.#deadline());
        if (revision === 0) revision = Number(res.header.revision);
        kvs.push(...res.kvs);
        if (!res.more || res.kvs.length === 0) break;
        key = Buffer.concat([res.kvs[res.kvs.length - 1]?.key ?? key, Buffer.from([0])]);
      }
    } catch (err) {
      throw this.#error('cannot read the address table', err);
    }
    return { kvs, revision };
  }

  /**
   * The watch failed for good (e.g. compacted past the revision it needed
   * after a long cut): read the table again, tell the listener what changed,
   * and watch from there. Retried until it works or the store closes.
   */
  async #resync(epoch: number): Promise<void> {
    for (let delay = 200; epoch === this.#epoch; delay = Math.min(delay * 2, 5000)) {
      try {
        const { kvs, revision } = await this.#readTable();
        if (epoch !== this.#epoch) return;
        const present = new Set(kvs.map((kv) => kv.key.toString()));
        // Gone meanwhile: deleted at the read's revision.
        for (const name of [...this.#names.keys()]) {
          const key = this.#nameKey(name);
          if (!present.has(key)) this.#record(key, undefined, revision);
        }
        for (const address of [...this.#addresses.keys()]) {
          const key = this.#addressKey(address);
          if (!present.has(key)) this.#record(key, undefined, revision);
        }
        this.#adopt(kvs, revision);
        return;
      } catch {
        await sleep(delay);
      }
    }
  }

  async bind(binding: AddressBinding): Promise<boolean> {
    this.#open(); // "not open" before "no lease"
    const leaseId = this.#leaseId;
    if (leaseId === undefined) throw new StoreError('etcd: the enroller has no lease now (etcd was out of reach; it is being renewed)');
    const { name, address } = binding;
    const nameKey = this.#nameKey(name);
    const addressKey = this.#addressKey(address);
    const held = this.#names.get(name);
    const holder = this.#addresses.get(address);
    const previous = held === undefined ? undefined : Number(held.value);
    const expect = (key: string, entry: Entry | undefined) =>
      entry === undefined
        ? { key: Buffer.from(key), target: 'Create' as const, result: 'Equal' as const, create_revision: 0 }
        : { key: Buffer.from(key), target: 'Mod' as const, result: 'Equal' as const, mod_revision: entry.modRevision };
    const compare: ITxnRequest['compare'] = [
      expect(nameKey, held),
      expect(addressKey, holder !== undefined && holder.value === name ? holder : undefined),
    ];
    const success: IRequestOp[] = [
      { request_put: { key: Buffer.from(nameKey), value: Buffer.from(String(address)) } },
      { request_put: { key: Buffer.from(addressKey), value: Buffer.from(name) } },
    ];
    if (previous !== undefined && previous !== address) {
      const previousKey = this.#addressKey(previous);
      const was = this.#addresses.get(previous);
      if (was !== undefined) compare.push(expect(previousKey, was));
      success.push({ request_delete_range: { key: Buffer.from(previousKey) } });
    }
    success.push({ request_put: { key: Buffer.from(this.#markKey(name)), value: Buffer.alloc(0), lease: leaseId } });
    this.#served.add(name);
    this.#unleft.delete(name);
    this.#binding.set(name, (this.#binding.get(name) ?? 0) + 1);
    let res: Awaited<ReturnType<Etcd3['kv']['txn']>>;
    try {
      res = await this.#txn(`cannot bind ${name} to ${address}`, {
        compare,
        success,
        failure: [{ request_range: { key: Buffer.from(nameKey) } }, { request_range: { key: Buffer.from(addressKey) } }],
      });
    } catch (err) {
      // Committed or not, we cannot tell: a mark that made it is deleted
      // when the watch shows it (see #apply).
      this.#served.delete(name);
      throw err;
    } finally {
      const left = (this.#binding.get(name) ?? 1) - 1;
      if (left === 0) this.#binding.delete(name);
      else this.#binding.set(name, left);
    }
    const revision = Number(res.header.revision);
    if (res.succeeded) {
      this.#markRevision.set(name, revision);
      this.#record(nameKey, { value: String(address), createRevision: held?.createRevision ?? revision, modRevision: revision }, revision);
      const kept = holder?.value === name ? holder.createRevision : revision;
      this.#record(addressKey, { value: name, createRevision: kept, modRevision: revision }, revision);
      if (previous !== undefined && previous !== address) this.#record(this.#addressKey(previous), undefined, revision);
      return true;
    }
    this.#stats.conflicts++;
    this.#served.delete(name);
    // What won instead: each key as it is now, or gone.
    const found = res.responses.map((r) => r.response_range?.kvs[0]);
    this.#learn(nameKey, found[0], revision);
    this.#learn(addressKey, found[1], revision);
    return false;
  }

  /**
   * Marks `name` as served by this enroller under its current lease if, and
   * only if, etcd binds it to `address` now, both ways (`names/` and
   * `addresses/`); writes nothing else. What an enroller back from a lapsed
   * lease uses to prove a member's binding is still its own: unlike
   * {@link bind}, it never overwrites what another enroller did meanwhile.
   */
  async confirm(binding: AddressBinding): Promise<boolean> {
    this.#open();
    const leaseId = this.#leaseId;
    if (leaseId === undefined || this.#fenced) throw new StoreError('etcd: the enroller has no lease now (it is being renewed)');
    const { name, address } = binding;
    const nameKey = Buffer.from(this.#nameKey(name));
    const addressKey = Buffer.from(this.#addressKey(address));
    const res = await this.#txn(`cannot confirm ${name} at ${address}`, {
      compare: [
        { key: nameKey, target: 'Value', result: 'Equal', value: Buffer.from(String(address)) },
        { key: addressKey, target: 'Value', result: 'Equal', value: Buffer.from(name) },
      ],
      success: [{ request_put: { key: Buffer.from(this.#markKey(name)), value: Buffer.alloc(0), lease: leaseId } }],
    });
    if (!res.succeeded) return false;
    this.#served.add(name);
    this.#unleft.delete(name);
    this.#markRevision.set(name, Number(res.header.revision));
    return true;
  }

  /**
   * Deletes `name`'s binding, and this enroller's mark, if no other
   * enroller marks the name and the binding is what this enroller last saw.
   * Resolves `false` (and learns the truth) otherwise, and while a bind of
   * the name by this enroller is in flight.
   */
  async release(name: string): Promise<boolean> {
    if (this.#binding.has(name)) return false;
    const held = this.#names.get(name);
    if (held === undefined) return true;
    const nameKey = this.#nameKey(name);
    const addressKey = this.#addressKey(Number(held.value));
    const marks = `${this.prefix}members/${enc(name)}/`;
    const mine = this.#markKey(name);
    const res = await this.#txn('release', {
      compare: [
        { key: Buffer.from(nameKey), target: 'Mod', result: 'Equal', mod_revision: held.modRevision },
        // No mark but possibly ours: the ranges before and after our own key are empty.
        { key: Buffer.from(marks), range_end: Buffer.from(mine), target: 'Create', result: 'Equal', create_revision: 0 },
        { key: Buffer.from(`${mine}\0`), range_end: prefixEnd(marks), target: 'Create', result: 'Equal', create_revision: 0 },
      ],
      success: [
        { request_delete_range: { key: Buffer.from(nameKey) } },
        { request_delete_range: { key: Buffer.from(addressKey) } },
        { request_delete_range: { key: Buffer.from(mine) } },
      ],
      failure: [{ request_range: { key: Buffer.from(nameKey) } }],
    });
    const revision = Number(res.header.revision);
    if (res.succeeded) {
      this.#served.delete(name);
      this.#markRevision.delete(name);
      this.#record(nameKey, undefined, revision);
      this.#record(addressKey, undefined, revision);
      return true;
    }
    this.#learn(nameKey, res.responses[0]?.response_range?.kvs[0], revision);
    return false;
  }

  /**
   * Deletes this enroller's mark on `name` (unless a later bind wrote it
   * again). If etcd is out of reach, it is retried every second until it
   * works, the store closes, or the name is bound again; the returned
   * promise reports the first try.
   */
  async leave(name: string): Promise<void> {
    this.#served.delete(name);
    this.#unleft.delete(name);
    try {
      await this.#deleteMark(name);
    } catch (err) {
      this.#unleft.add(name);
      this.#armRetry();
      throw err;
    }
  }

  async #deleteMark(name: string): Promise<void> {
    const key = Buffer.from(this.#markKey(name));
    const at = this.#markRevision.get(name);
    const res = await this.#txn('leave', {
      compare: at === undefined ? [] : [{ key, target: 'Mod', result: 'Equal', mod_revision: at }],
      success: [{ request_delete_range: { key } }],
    });
    if (res.succeeded && this.#markRevision.get(name) === at) this.#markRevision.delete(name);
  }

  #armRetry(): void {
    if (this.#retryTimer !== undefined || this.#closed) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      const names = [...this.#unleft].filter((n) => !this.#served.has(n));
      this.#unleft.clear();
      for (const name of names) {
        this.#deleteMark(name).catch(() => {
          if (!this.#served.has(name)) this.#unleft.add(name);
          this.#armRetry();
        });
      }
    }, 1000);
    this.#retryTimer.unref();
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
    const watcher = this.#watcher;
    const lease = this.#lease;
    this.#watcher = undefined;
    this.#lease = undefined;
    this.#leaseId = undefined;
    this.#served.clear();
    this.#unleft.clear();
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    clearTimeout(this.#fenceTimer);
    this.#fenceTimer = undefined;
    this.#fenced = false;
    // etcd may not answer: wait for the cancellation at most one call timeout.
    if (watcher !== undefined) await Promise.race([watcher.cancel().catch(() => undefined), sleep(this.#options.callTimeoutMs)]);
    if (lease !== undefined) {
      lease.removeAllListeners();
      await lease.revoke({ deadline: Date.now() + this.#options.callTimeoutMs }).catch(() => lease.release());
    }
    if (this.#options.client === undefined) this.#client?.close();
    this.#client = undefined;
  }

  #makeClient(): Etcd3 {
    const { tls, auth } = this.#options;
    return new Etcd3({
      hosts: this.#options.hosts ?? [],
      ...(tls === undefined
        ? {}
        : {
            credentials: {
              rootCertificate: Buffer.from(tls.ca),
              ...(tls.cert === undefined || tls.key === undefined
                ? {}
                : { certChain: Buffer.from(tls.cert), privateKey: Buffer.from(tls.key) }),
            },
          }),
      ...(auth === undefined ? {} : { auth: { username: auth.username, password: auth.password } }),
      dialTimeout: this.#options.callTimeoutMs,
      // Reconnect quickly once etcd is back (gRPC's own backoff grows to minutes).
      grpcOptions: { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1000 },
      // One more try on another host (a cluster member that just died), and
      // no circuit breaker: the enroller answers "unavailable" and the
      // member retries, so waiting here would only delay both.
      faultHandling: {
        host: () => noop,
        global: retry(handleWhen(isRecoverableError), { maxAttempts: 1 }),
        // etcd3 calls next() on what it is given (a factory), though its types ask for a backoff.
        watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 2000 }) as never,
      },
    });
  }

  #open(): Etcd3 {
    if (this.#closed || this.#client === undefined) throw new StoreError('the EtcdAddressStore is not open');
    return this.#client;
  }

  #deadline(): { deadline: number } {
    return { deadline: Date.now() + this.#options.callTimeoutMs };
  }

  #error(what: string, err: unknown): StoreError {
    if (err instanceof StoreError) return err;
    const message = (err as Error).message;
    // What to check, for the errors an operator meets first.
    const hint = /permission denied/i.test(message)
      ? ` (does the etcd user's role grant read and write under ${this.prefix}?)`
      : /authentication failed|invalid user ID or password|user name is empty/i.test(message)
        ? ' (check the etcd user and password)'
        : /certificate|SSL|TLS|handshake/i.test(message)
          ? " (check the CA that signed etcd's certificate, and the client certificate and key)"
          : '';
    return new StoreError(`etcd: ${what}: ${message.replace(/\s*Resolution note:\s*$/, '')}${hint}`, { cause: err });
  }

  async #txn(what: string, request: ITxnRequest): ReturnType<Etcd3['kv']['txn']> {
    try {
      this.#stats.transactions++;
      return await this.#open().kv.txn(request, this.#deadline());
    } catch (err) {
      throw this.#error(what, err);
    }
  }

  /**
   * Grants a lease and registers the enroller under it; renews itself when
   * lost. A first lease marks every name served; a renewed one marks none:
   * the enroller confirms through etcd what it keeps.
   */
  async #grantLease(epoch: number, previousLeaseId?: string): Promise<void> {
    const client = this.#open();
    const owner = this.#owner as StoreOwner;
    const lease = client.lease(this.#options.leaseTtlSecs, { deadline: Date.now() + this.#options.callTimeoutMs });
    lease.on('lost', () => {
      if (this.#lease === lease) this.#fence(epoch);
    });
    // Fencing: the lease is alive at etcd until the TTL after the send time of the last keepalive etcd answered.
    lease.on('keepaliveFired', () => {
      if (this.#lease === lease) this.#fired.push(performance.now());
    });
    lease.on('keepaliveSucceeded', () => {
      if (this.#lease !== lease) return;
      const sentAt = this.#fired.shift();
      if (sentAt !== undefined) this.#extend(epoch, sentAt); // an answer we cannot pair with its request proves nothing
    });
    lease.on('keepaliveEstablished', () => {
      if (this.#lease === lease) this.#fired = [];
    });
    const askedAt = performance.now();
    // A lease whose grant fails emits 'lost' too; the rejection below reports it.
    const id = await lease.grant();
    if (epoch !== this.#epoch) {
      lease.release();
      return;
    }
    this.#lease = lease;
    this.#leaseId = id;
    this.#fired = [];
    this.#extend(epoch, askedAt);
    // Two live enrollers with one name would share their marks: the name must be free.
    const registration = Buffer.from(`${this.prefix}enrollers/${enc(owner.name)}`);
    const registeredAs = Buffer.from(JSON.stringify({ shimAddress: owner.shimAddress }));
    const register = [{ request_put: { key: registration, value: registeredAs, lease: id } }];
    let registered = await this.#txn('register', {
      compare: [{ key: registration, target: 'Create', result: 'Equal', create_revision: 0 }],
      success: register,
    });
    if (!registered.succeeded && previousLeaseId !== undefined) {
      // Our own registration under the lease we lost, which etcd still keeps (a restarted etcd extends leases).
      registered = await this.#txn('register', {
        compare: [{ key: registration, target: 'Lease', result: 'Equal', lease: previousLeaseId }],
        success: register,
      });
    }
    if (!registered.succeeded) {
      // Registered at our own shim address: this enroller restarted (one address, one socket), so it takes over
      // at once instead of waiting for the dead process's lease to run out.
      registered = await this.#txn('register', {
        compare: [{ key: registration, target: 'Value', result: 'Equal', value: registeredAs }],
        success: register,
      });
    }
    if (!registered.succeeded) {
      lease.release();
      throw new StoreError(
        `an enroller named "${owner.name}" is registered already under ${this.prefix} at another shim address: give each enroller its own name (or wait up to ${this.#options.leaseTtlSecs} s for a dead one's lease to expire)`,
      );
    }
    if (previousLeaseId !== undefined) {
      // Renewed after a lapse: whatever was served then is not vouched for until confirmed.
      this.#served.clear();
      this.#markRevision.clear();
    }
    const marks = [...this.#served].map(
      (name): IRequestOp => ({ request_put: { key: Buffer.from(this.#markKey(name)), value: Buffer.alloc(0), lease: id } }),
    );
    // etcd takes at most 128 operations in one transaction.
    for (let i = 0; i < marks.length; i += 100) await this.#txn('mark', { success: marks.slice(i, i + 100) });
    if (previousLeaseId !== undefined) {
      // Nothing of ours is attached to it any more; whatever is left there is stale.
      this.#open()
        .leaseClient.leaseRevoke({ ID: previousLeaseId }, this.#deadline())
        .catch(() => undefined);
    }
    if (this.#fenced && epoch === this.#epoch) {
      this.#fenced = false;
      this.#listener?.fenced?.(false);
    }
  }

  /** Whether the lease is surely alive at etcd now (the fence has not closed, and its deadline has not passed). */
  canVouch(): boolean {
    if (this.#closed || this.#fenced || this.#leaseId === undefined) return false;
    if (performance.now() < this.#validUntil && Date.now() < this.#validUntilWall) return true;
    this.#fence(this.#epoch); // the deadline passed before the timer ran (a paused or busy process)
    return false;
  }

  /** The lease is proven alive until `sentAt` + TTL; the fence closes then unless a later keepalive is answered. */
  #extend(epoch: number, sentAt: number): void {
    this.#validUntil = Math.max(this.#validUntil, sentAt + this.#options.leaseTtlSecs * 1000);
    this.#validUntilWall = Date.now() + (this.#validUntil - performance.now());
    const arm = (ms: number): void => {
      clearTimeout(this.#fenceTimer);
      this.#fenceTimer = setTimeout(check, ms);
      this.#fenceTimer.unref();
    };
    const check = (): void => {
      this.#fenceTimer = undefined;
      if (epoch !== this.#epoch || this.#closed) return;
      const left = this.#validUntil - performance.now();
      // A renewal under way: the new lease's deadline is checked once it is registered.
      if (this.#fenced) arm(Math.max(left, 100));
      else if (left > 0) arm(left);
      else this.#fence(epoch);
    };
    arm(Math.max(0, this.#validUntil - performance.now()));
  }

  /**
   * The lease may have expired at etcd (no keepalive answered within its
   * TTL), or did: this enroller can no longer prove any binding current.
   * Tell the enroller, forget what was served, and grant a new lease.
   */
  #fence(epoch: number): void {
    if (epoch !== this.#epoch || this.#closed) return;
    clearTimeout(this.#fenceTimer);
    this.#fenceTimer = undefined;
    if (!this.#fenced) {
      this.#fenced = true;
      this.#listener?.fenced?.(true);
    }
    this.#renew(epoch);
  }

  /** The lease expired (etcd was out of reach longer than its TTL): grant another, with backoff, until it works. */
  #renew(epoch: number): void {
    const previousLeaseId = this.#leaseId;
    this.#lease?.release();
    this.#lease = undefined;
    this.#leaseId = undefined;
    let delay = 100;
    const attempt = (): void => {
      if (epoch !== this.#epoch) return;
      this.#stats.leaseRenewals++;
      this.#grantLease(epoch, previousLeaseId).catch(() => {
        this.#lease?.release();
        this.#lease = undefined;
        this.#leaseId = undefined;
        setTimeout(attempt, delay).unref();
        delay = Math.min(delay * 2, 2000);
      });
    };
    attempt();
  }

  #watch(fromRevision: number): void {
    const client = this.#open();
    const epoch = this.#epoch;
    // The watcher exists at once (so close() can cancel it even before etcd answers); etcd3 reconnects it after
    // an outage and resumes from the last revision it delivered.
    const watcher = client.watch().prefix(this.prefix).startRevision(String(fromRevision)).watcher();
    this.#watcher = watcher;
    watcher.on('put', (kv) => this.#onEvent(kv, false));
    watcher.on('delete', (kv) => this.#onEvent(kv, true));
    watcher.on('error', () => {
      // Unrecoverable for this watcher (compacted, cancelled by etcd): start over from a fresh read.
      if (epoch !== this.#epoch || this.#watcher !== watcher) return;
      this.#watcher = undefined;
      watcher.cancel().catch(() => undefined);
      void this.#resync(epoch);
    });
  }

  #onEvent(kv: IKeyValue, deleted: boolean): void {
    this.#stats.watchEvents++;
    this.#watchRevision = Math.max(this.#watchRevision, Number(kv.mod_revision));
    try {
      this.#apply(kv, deleted, true);
    } catch {
      // A key we cannot read is not ours: nothing under the prefix may stop the enroller.
    }
    if (this.#tombstones > 10_000) this.#prune();
  }

  /** Forgets deletions the watch has passed: no event older than them can come any more. */
  #prune(): void {
    for (const [key, revision] of this.#seenAt) {
      if (revision > this.#watchRevision) continue;
      const rest = key.slice(this.prefix.length);
      const present = rest.startsWith('names/')
        ? this.#names.has(dec(rest.slice('names/'.length)) ?? '')
        : this.#addresses.has(addressFrom(rest.slice('addresses/'.length)) ?? 0);
      if (!present) this.#seenAt.delete(key);
    }
    this.#tombstones = 0;
  }

  /**
   * Applies one key as seen (a range read, a watch event, a transaction's
   * failure branch). A binding key older than what was seen already is
   * ignored, so a late watch event cannot undo a newer transaction result.
   */
  #apply(kv: IKeyValue, deleted: boolean, live: boolean): void {
    const key = kv.key.toString();
    if (!key.startsWith(this.prefix)) return;
    const rest = key.slice(this.prefix.length);
    const revision = Number(kv.mod_revision);
    const parts = rest.split('/');
    if (parts[0] === 'names' && parts.length === 2) {
      if (dec(parts[1]) === undefined) return;
      if (!deleted && addressFrom(kv.value.toString()) === undefined) return;
      this.#record(key, deleted ? undefined : entryOf(kv), revision);
    } else if (parts[0] === 'addresses' && parts.length === 2) {
      if (addressFrom(parts[1] ?? '') === undefined || (!deleted && kv.value.length === 0)) return;
      this.#record(key, deleted ? undefined : entryOf(kv), revision);
    } else if (parts[0] === 'members' && parts.length === 3) {
      const name = dec(parts[1]);
      const enroller = dec(parts[2]);
      if (name === undefined || enroller === undefined) return;
      this.#mark(name, enroller, !deleted, live);
      if (live && !deleted && enroller === this.#owner?.name && !this.#served.has(name)) {
        // A mark from a bind whose answer never came, for a member we do not serve (unless written again since).
        this.#txn('leave', {
          compare: [{ key: kv.key, target: 'Mod', result: 'Equal', mod_revision: kv.mod_revision }],
          success: [{ request_delete_range: { key: kv.key } }],
        }).catch(() => undefined);
      }
    } else if (parts[0] === 'enrollers' && parts.length === 2) {
      const enroller = dec(parts[1]);
      if (enroller === undefined) return;
      if (deleted) this.#enrollers.delete(enroller);
      else {
        try {
          const { shimAddress } = JSON.parse(kv.value.toString()) as { shimAddress?: unknown };
          if (typeof shimAddress === 'string' && shimAddress !== '') this.#enrollers.set(enroller, shimAddress);
        } catch {
          // not ours: ignored
        }
      }
      if (live) this.#announceEnrollers();
    }
  }

  /** A key seen at `revision`: `entry`, or gone. Updates the cache and tells the listener of binding changes. */
  #record(key: string, entry: Entry | undefined, revision: number): void {
    if ((this.#seenAt.get(key) ?? 0) >= revision) return;
    this.#seenAt.set(key, revision);
    if (entry === undefined) this.#tombstones++;
    const rest = key.slice(this.prefix.length);
    if (rest.startsWith('addresses/')) {
      const address = addressFrom(rest.slice('addresses/'.length));
      if (address === undefined) return;
      if (entry === undefined) this.#addresses.delete(address);
      else {
        this.#addresses.set(address, entry);
        // Taken: the pool learns it now, before the owner's name key arrives.
        if (this.#names.get(entry.value)?.value !== String(address)) this.#listener?.bound({ name: entry.value, address });
      }
      return;
    }
    const name = dec(rest.slice('names/'.length));
    if (name === undefined) return;
    const before = this.#names.get(name);
    if (entry === undefined) {
      this.#names.delete(name);
      if (before !== undefined) this.#listener?.unbound(name);
      return;
    }
    this.#names.set(name, entry);
    const address = addressFrom(entry.value);
    if (before?.value !== entry.value && address !== undefined) this.#listener?.bound({ name, address });
  }

  /** What a transaction's failure branch found of `key` at `revision`. */
  #learn(key: string, kv: IKeyValue | undefined, revision: number): void {
    if (kv === undefined) this.#record(key, undefined, revision);
    else this.#apply(kv, false, false);
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
    if (live && this.#names.has(name)) this.#listener?.idle(name);
  }

  #announceEnrollers(): void {
    const others = [...this.#enrollers].filter(([name]) => name !== this.#owner?.name).map(([, shimAddress]) => shimAddress);
    this.#listener?.enrollers(others);
  }

  #nameKey(name: string): string {
    return `${this.prefix}names/${enc(name)}`;
  }

  #addressKey(address: number): string {
    return `${this.prefix}addresses/${address}`;
  }

  #markKey(name: string): string {
    return `${this.prefix}members/${enc(name)}/${enc(this.#owner?.name ?? '')}`;
  }
}
