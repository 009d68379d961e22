/**
 * Keeps the etcd store's table current: reads it whole (in pages, at one
 * revision), then watches the prefix from the next revision on, so no change
 * falls between the two; watches again from the last revision seen when the
 * connection drops; reads it again if the watch fails for good.
 *
 * @module
 */
import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import type { StoreError } from '../errors.js';
import type { AddressBinding } from '../store/address-store.js';
import { exponentialDelay } from '../util/backoff.js';
import { sleep } from '../util/clock.js';
import { type EtcdKeys, prefixEnd } from './keys.js';
import type { EtcdStoreStats } from './options.js';
import type { AddressTable } from './table.js';

/** What the watcher needs of its store. */
export interface WatchHost {
  /** The store's keys. */
  readonly keys: EtcdKeys;
  /** The store's counters. */
  readonly stats: EtcdStoreStats;
  /** The client, or a StoreError when the store is not open. */
  client(): Etcd3;
  /** The store's opening: a resync of an earlier opening gives up. */
  epoch(): number;
  /** The deadline of one etcd call. */
  deadline(): { deadline: number };
  /** A StoreError saying `what` failed. */
  error(what: string, err: unknown): StoreError;
}

/** Reads and watches the prefix into an {@link AddressTable}. */
export class TableWatcher {
  readonly #host: WatchHost;
  readonly #table: AddressTable;
  #watcher: Watcher | undefined;
  /** Aborted by stop: ends the waits of a resync and of a cancellation, so that no timer outlives the store. */
  #stopping = new AbortController();

  constructor(host: WatchHost, table: AddressTable) {
    this.#host = host;
    this.#table = table;
  }

  /**
   * Reads the table, then watches from the next revision. Names no enroller
   * serves are reported idle: their holds start now.
   */
  async load(): Promise<AddressBinding[]> {
    const { kvs, revision } = await this.#read();
    this.#table.clear();
    this.#adopt(kvs, revision);
    return this.#table.bindings();
  }

  /** Stops watching; resolves once etcd took the cancellation, or after `timeoutMs`. */
  stop(timeoutMs: number): Promise<void> {
    const watcher = this.#watcher;
    this.#watcher = undefined;
    this.#stopping.abort();
    this.#stopping = new AbortController();
    if (watcher === undefined) return Promise.resolve();
    // etcd may not answer: wait for the cancellation at most `timeoutMs`.
    const answered = new AbortController();
    return Promise.race([
      watcher
        .cancel()
        .catch(() => undefined)
        .finally(() => answered.abort()),
      sleep(timeoutMs, answered.signal).catch(() => undefined),
    ]);
  }

  #adopt(kvs: IKeyValue[], revision: number): void {
    this.#table.adopt(kvs, revision);
    this.#watch(revision + 1);
  }

  /** Every key under the prefix, in pages, at one revision. */
  async #read(): Promise<{ kvs: IKeyValue[]; revision: number }> {
    const client = this.#host.client();
    const { prefix } = this.#host.keys;
    const end = prefixEnd(prefix);
    let revision = 0;
    let key = Buffer.from(prefix);
    const kvs: IKeyValue[] = [];
    try {
      for (;;) {
        this.#host.stats.rangeReads++;
        const res = await client.kv.range(
          { key, range_end: end, limit: 5000, ...(revision === 0 ? {} : { revision }) },
          this.#host.deadline(),
        );
        if (revision === 0) revision = Number(res.header.revision);
        kvs.push(...res.kvs);
        if (!res.more || res.kvs.length === 0) break;
        key = Buffer.concat([res.kvs[res.kvs.length - 1]?.key ?? key, Buffer.from([0])]);
      }
    } catch (err) {
      throw this.#host.error('cannot read the address table', err);
    }
    return { kvs, revision };
  }

  /**
   * The watch failed for good (e.g. compacted past the revision it needed
   * after a long cut): read the table again, tell the listener what changed,
   * and watch from there. Retried, backing off from 200 ms to 5 s, until it
   * works or the store closes.
   */
  async #resync(epoch: number): Promise<void> {
    const { signal } = this.#stopping;
    const current = (): boolean => epoch === this.#host.epoch() && !signal.aborted;
    for (let failures = 1; current(); failures++) {
      try {
        const { kvs, revision } = await this.#read();
        if (!current()) return;
        this.#adopt(kvs, revision);
        return;
      } catch {
        await sleep(exponentialDelay(failures, 200, 5000), signal).catch(() => undefined); // (stopped: the loop ends)
      }
    }
  }

  /**
   * Watches the prefix from `fromRevision`. When the connection drops, the
   * watch is made anew from the last revision the table has, after a backoff
   * (`failures`: drops since the watch last connected): etcd3 would re-create
   * it from the revision etcd had when it last created it, before etcd sent
   * the events the watch had missed, and a second drop in that window would
   * lose them without an error.
   */
  #watch(fromRevision: number, failures = 0): void {
    const client = this.#host.client();
    const epoch = this.#host.epoch();
    // The watcher exists at once (so close() can cancel it even before etcd answers).
    const watcher = client.watch().prefix(this.#host.keys.prefix).startRevision(String(fromRevision)).watcher();
    this.#watcher = watcher;
    let drops = failures;
    const mine = (): boolean => epoch === this.#host.epoch() && this.#watcher === watcher;
    // A watcher let go (dropped, failed, or of a closed opening, whose cancel etcd may not have taken yet) may still
    // deliver a backlog: its events are not this table's (what it missed, the next watch or read brings).
    watcher.on('put', (kv) => {
      if (mine()) this.#table.onEvent(kv, false);
    });
    watcher.on('delete', (kv) => {
      if (mine()) this.#table.onEvent(kv, true);
    });
    watcher.on('connected', () => {
      drops = 0;
    });
    watcher.on('disconnected', () => {
      if (!mine()) return;
      this.#watcher = undefined;
      watcher.cancel().catch(() => undefined);
      void this.#rewatch(epoch, drops + 1);
    });
    watcher.on('error', () => {
      // Unrecoverable for this watcher (compacted, cancelled by etcd): start over from a fresh read.
      if (!mine()) return;
      this.#watcher = undefined;
      watcher.cancel().catch(() => undefined);
      void this.#resync(epoch);
    });
  }

  /** Watches again from the table's revision, after a backoff of 200 ms to 5 s, unless the store closed or a resync watches already. */
  async #rewatch(epoch: number, failures: number): Promise<void> {
    const { signal } = this.#stopping;
    await sleep(exponentialDelay(failures, 200, 5000), signal).catch(() => undefined);
    if (signal.aborted || epoch !== this.#host.epoch() || this.#watcher !== undefined) return;
    try {
      this.#watch(this.#table.watchRevision + 1, failures);
    } catch {
      // (the store closed meanwhile: no client)
    }
  }
}
