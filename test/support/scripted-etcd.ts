/**
 * An etcd3 client scripted by the test, for the etcd store's unit tests (no
 * etcd needed): leases granted or refused as told, watchers whose events the
 * test emits, range pages and transaction answers in the order given, and a
 * record of every call. What a real etcd does is in the store's integration
 * tests (etcd-address-store, fencing, faults).
 */
import { EventEmitter } from 'node:events';
import type { Etcd3, IKeyValue, ITxnRequest, Lease } from 'etcd3';
import { vi } from 'vitest';
import type { TxnResponse } from '../../src/etcd/lease.js';
import { zeroEtcdStats } from '../../src/etcd/options.js';
import type { AddressStoreListener } from '../../src/store/address-store.js';

/** What a lease's grant does: succeed at once, fail, or wait for the promise. */
export type GrantOutcome = 'granted' | 'refused' | Promise<void>;

/** A lease as etcd3's: granted (or not) when asked, each keepalive answered as the test scripts it. */
export class ScriptedLease extends EventEmitter {
  released = 0;
  revoked: unknown[] = [];
  constructor(
    readonly id: string,
    readonly ttl: number,
    readonly opts: { deadline: number },
    private readonly outcome: GrantOutcome,
  ) {
    super();
  }
  async grant(): Promise<string> {
    if (this.outcome === 'refused') throw new Error('etcd is out of reach');
    if (this.outcome !== 'granted') await this.outcome;
    return this.id;
  }
  release(): void {
    this.released++;
  }
  /** What a keepalive asked once answers: by default a failure (etcd out of reach), as when the proof ran out because etcd was. */
  keepaliveOnceAnswers: Array<'alive' | 'expired' | 'failed' | Promise<'alive' | 'expired' | 'failed'>> = [];
  keepalivesOnce = 0;
  /** The options of each keepalive asked, in order. */
  readonly keepaliveOnceOptions: unknown[] = [];
  async keepaliveOnce(opts?: unknown): Promise<{ TTL: string }> {
    this.keepalivesOnce++;
    this.keepaliveOnceOptions.push(opts);
    const answer = await (this.keepaliveOnceAnswers.shift() ?? 'failed');
    if (answer === 'failed') throw new Error('etcd is out of reach');
    if (answer === 'expired') {
      this.emit('lost', new Error('lease expired'));
      throw new Error('lease expired');
    }
    return { TTL: String(this.ttl) };
  }
  async revoke(opts: unknown): Promise<void> {
    this.revoked.push(opts);
  }
}

/** A watcher as etcd3's: its events emitted by the test. */
export class ScriptedWatcher extends EventEmitter {
  cancelled = 0;
  cancel: () => Promise<void> = async () => {
    this.cancelled++;
  };
}

/** A range answer: a page of keys (more to come or not) at a revision, or a failure. */
export type Page = { kvs: IKeyValue[]; more: boolean; revision: number } | Error;

/** A transaction's answer: as given, a failure, or computed from the request. */
export type TxnAnswer = Partial<TxnResponse> | Error | ((request: ITxnRequest) => Partial<TxnResponse> | Promise<TxnResponse>);

interface RangeRequest {
  key: Buffer;
  range_end: Buffer;
  limit: number;
  revision?: number;
}

/** A key-value under `prefix` at `revision` (created then too, unless told). */
export const keyValue = (prefix: string, key: string, value: string, revision: number, createRevision = revision): IKeyValue =>
  ({
    key: Buffer.from(prefix + key),
    value: Buffer.from(value),
    mod_revision: String(revision),
    create_revision: String(createRevision),
  }) as IKeyValue;

/** A store listener whose every callback is a vitest mock. */
export const mockListener = () =>
  ({ bound: vi.fn(), unbound: vi.fn(), idle: vi.fn(), enrollers: vi.fn(), fenced: vi.fn() }) satisfies AddressStoreListener;

/** A store's counters, all zero (the host objects of the keeper, table and watcher take them). */
export const zeroStats = zeroEtcdStats;

/** A promise and its resolve (Promise.withResolvers is Node >= 22). */
export function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** The scripted client; `client` is it as the store takes it. */
export class ScriptedEtcd {
  readonly leases: ScriptedLease[] = [];
  /** What the next leases' grants do, in order ('granted' once the list is empty). */
  readonly grants: GrantOutcome[] = [];
  /** Answers of the next range reads, in order (a failure once the list is empty). */
  readonly pages: (Page | Promise<Page>)[] = [];
  readonly ranges: { request: RangeRequest; deadline: unknown }[] = [];
  readonly watches: { prefix: string; from: string; watcher: ScriptedWatcher }[] = [];
  /** Answers of the next transactions, in order (success at the next revision once the list is empty). */
  readonly answers: TxnAnswer[] = [];
  readonly txns: { request: ITxnRequest; deadline: unknown }[] = [];
  readonly revokedIds: unknown[] = [];
  /** The revision the last transaction answered with. */
  revision = 100;
  closed = 0;

  readonly client = {
    lease: (ttl: number, opts: { deadline: number }) => {
      const lease = new ScriptedLease(`lease-${this.leases.length + 1}`, ttl, opts, this.grants.shift() ?? 'granted');
      this.leases.push(lease);
      return lease as unknown as Lease;
    },
    leaseClient: {
      leaseRevoke: async (req: { ID: string }, opts: unknown) => {
        this.revokedIds.push({ ...req, opts });
        return {};
      },
    },
    kv: {
      range: async (request: RangeRequest, deadline: unknown) => {
        this.ranges.push({ request, deadline });
        const page = await (this.pages.shift() ?? new Error('no page scripted'));
        if (page instanceof Error) throw page;
        return { kvs: page.kvs, more: page.more, header: { revision: String(page.revision) } };
      },
      txn: async (request: ITxnRequest, deadline: unknown): Promise<TxnResponse> => {
        this.txns.push({ request, deadline });
        const answer = this.answers.shift() ?? {};
        if (answer instanceof Error) throw answer;
        const given = typeof answer === 'function' ? await answer(request) : answer;
        return {
          succeeded: true,
          // (a nested transaction of the success branch takes its own success branch, unless the answer says otherwise)
          responses: (request.success ?? []).map((op) =>
            op.request_txn === undefined ? {} : { response_txn: { succeeded: true, responses: [] } },
          ),
          ...given,
          header: given.header ?? { revision: String(++this.revision) },
        } as TxnResponse;
      },
    },
    watch: () => {
      const w = { prefix: '', from: '' };
      const builder = {
        prefix: (p: string) => {
          w.prefix = p;
          return builder;
        },
        startRevision: (r: string) => {
          w.from = r;
          return builder;
        },
        watcher: () => {
          const watcher = new ScriptedWatcher();
          this.watches.push({ ...w, watcher });
          return watcher;
        },
      };
      return builder;
    },
    close: () => {
      this.closed++;
    },
  } as unknown as Etcd3;
}
