/**
 * The etcd store's table watcher against a scripted client (no etcd needed):
 * the paged read at one revision, the watch from the revision after it, and
 * the fresh read (with backoff) when the watch fails for good. The same
 * against a real etcd is in etcd-address-store.test.ts and faults.test.ts.
 */
import type { IKeyValue } from 'etcd3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { StoreError } from '../../src/errors.js';
import { EtcdKeys } from '../../src/etcd/keys.js';
import { AddressTable } from '../../src/etcd/table.js';
import { TableWatcher, type WatchHost } from '../../src/etcd/watcher.js';
import { deferred, keyValue, mockListener, ScriptedEtcd, type Page, zeroStats } from '../support/scripted-etcd.js';

const PREFIX = '/rina/demo.DIF/';

const kv = (key: string, value: string, revision: number): IKeyValue => keyValue(PREFIX, key, value, revision);

function world() {
  const etcd = new ScriptedEtcd();
  const state = { epoch: 1 };
  const listener = mockListener();
  const keys = new EtcdKeys(PREFIX, () => 'e1');
  const stats = zeroStats();
  const host: WatchHost = {
    keys,
    stats,
    client: () => etcd.client,
    epoch: () => state.epoch,
    deadline: () => ({ deadline: 42 }),
    error: (what, err) => new StoreError(`etcd: ${what}: ${(err as Error).message}`, { cause: err }),
  };
  const table = new AddressTable({
    keys,
    stats,
    listener: () => listener,
    ownerName: () => 'e1',
    strayMark: vi.fn(),
    ownMarkGone: vi.fn(),
    readAgain: vi.fn(),
  });
  const watcher = new TableWatcher(host, table);
  const { ranges, pages, watches } = etcd;
  return { watcher, table, ranges, pages, watches, state, stats, listener };
}

/** A world whose watcher loaded an empty table at revision 10 (and watches from 11). */
async function loaded() {
  const w = world();
  w.pages.push({ kvs: [], more: false, revision: 10 });
  await w.watcher.load();
  return w;
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('TableWatcher', () => {
  it('reads the table in pages of 5,000 at the first page’s revision, each from the key after the last one read', async () => {
    const w = world();
    w.pages.push(
      { kvs: [kv('names/a', '1', 3), kv('names/b', '2', 4)], more: true, revision: 10 },
      { kvs: [kv('names/c', '3', 5)], more: true, revision: 11 },
      { kvs: [kv('names/d', '4', 6)], more: false, revision: 12 },
    );
    const bindings = await w.watcher.load();
    expect(bindings).toEqual([
      { name: 'a', address: 1 },
      { name: 'b', address: 2 },
      { name: 'c', address: 3 },
      { name: 'd', address: 4 },
    ]);
    const end = Buffer.from('/rina/demo.DIF0'); // the prefix's last byte, plus one
    expect(w.ranges.map((r) => r.request)).toEqual([
      { key: Buffer.from(PREFIX), range_end: end, limit: 5000 },
      { key: Buffer.from(`${PREFIX}names/b\0`), range_end: end, limit: 5000, revision: 10 },
      { key: Buffer.from(`${PREFIX}names/c\0`), range_end: end, limit: 5000, revision: 10 },
    ]);
    expect(w.ranges.map((r) => r.deadline)).toEqual([{ deadline: 42 }, { deadline: 42 }, { deadline: 42 }]);
    expect(w.stats.rangeReads).toBe(3);
    // watched from the revision after the read
    expect(w.watches.map(({ prefix, from }) => ({ prefix, from }))).toEqual([{ prefix: PREFIX, from: '11' }]);
  });

  it('an empty page ends the read even if etcd says there is more', async () => {
    const w = world();
    w.pages.push({ kvs: [kv('names/a', '1', 3)], more: true, revision: 10 }, { kvs: [], more: true, revision: 10 });
    expect(await w.watcher.load()).toEqual([{ name: 'a', address: 1 }]);
    expect(w.ranges).toHaveLength(2);
  });

  it('a failed read is a StoreError, and the table is left as it was', async () => {
    const w = world();
    w.pages.push({ kvs: [kv('names/a', '1', 3)], more: false, revision: 10 });
    await w.watcher.load();
    w.pages.push({ kvs: [kv('names/b', '2', 11)], more: true, revision: 12 }, new Error('etcd is gone'));
    const failed = w.watcher.load();
    await expect(failed).rejects.toThrow(StoreError);
    await expect(failed).rejects.toThrow('etcd: cannot read the address table: etcd is gone');
    expect(w.table.bindings()).toEqual([{ name: 'a', address: 1 }]);
    expect(w.watches).toHaveLength(1);
  });

  it("applies the watch's puts and deletions to the table", async () => {
    const w = world();
    w.pages.push({ kvs: [kv('names/a', '1', 3)], more: false, revision: 10 });
    await w.watcher.load();
    const [watch] = w.watches;
    watch?.watcher.emit('put', kv('names/b', '2', 11));
    watch?.watcher.emit('delete', kv('names/a', '', 12));
    expect(w.table.bindings()).toEqual([{ name: 'b', address: 2 }]);
    expect(w.listener.unbound).toHaveBeenCalledWith('a');
    expect(w.stats.watchEvents).toBe(2);
  });

  it('a watch failed for good is cancelled and replaced by a fresh read, retried from 200 ms doubling to 5 s', async () => {
    const w = world();
    w.pages.push({ kvs: [kv('names/a', '1', 3)], more: false, revision: 10 });
    await w.watcher.load();
    const failed = w.watches[0]?.watcher;
    const boom = new Error('gone');
    w.pages.push(boom, boom, boom, boom, boom, boom, { kvs: [kv('names/b', '2', 30)], more: false, revision: 30 });
    failed?.emit('error', new Error('compacted'));
    expect(failed?.cancelled).toBe(1);
    await vi.advanceTimersByTimeAsync(0);
    expect(w.ranges).toHaveLength(2);
    const times: number[] = [];
    const t0 = Date.now();
    for (let i = 0; i < 6; i++) {
      const before = w.ranges.length;
      while (w.ranges.length === before) await vi.advanceTimersByTimeAsync(1);
      times.push(Date.now() - t0);
    }
    // 200, 400, 800, 1,600, 3,200, 5,000 apart: the 7th read (the 6th retry) succeeds
    expect(times).toEqual([200, 600, 1400, 3000, 6200, 11_200]);
    await vi.advanceTimersByTimeAsync(0);
    expect(w.table.bindings()).toEqual([{ name: 'b', address: 2 }]);
    expect(w.listener.unbound).toHaveBeenCalledWith('a');
    expect(w.watches.map((x) => x.from)).toEqual(['11', '31']);
    // the failed watcher's later events are not the table's any more; a second error starts nothing
    failed?.emit('error', new Error('again'));
    await vi.advanceTimersByTimeAsync(10_000);
    expect(w.watches).toHaveLength(2);
  });

  it('a resync of an earlier opening gives up, before or after its read', async () => {
    const w = await loaded();
    w.pages.push(new Error('gone'));
    w.watches[0]?.watcher.emit('error', new Error('compacted'));
    w.state.epoch = 2; // the store closed (and opened again) while the resync waits
    await vi.advanceTimersByTimeAsync(30_000);
    expect(w.ranges).toHaveLength(2);
    expect(w.watches).toHaveLength(1);

    const late = await loaded();
    const answer = deferred<Page>();
    late.pages.push(answer.promise);
    late.watches[0]?.watcher.emit('error', new Error('compacted'));
    await vi.advanceTimersByTimeAsync(0);
    expect(late.ranges).toHaveLength(2);
    late.state.epoch = 2; // the read is answered only after the store opened again
    answer.resolve({ kvs: [kv('names/a', '1', 11)], more: false, revision: 11 });
    await vi.advanceTimersByTimeAsync(0);
    expect(late.table.bindings()).toEqual([]);
    expect(late.watches).toHaveLength(1);
  });

  it("an error of a watcher of an earlier opening is not this opening's to handle", async () => {
    const w = await loaded();
    w.state.epoch = 2;
    w.watches[0]?.watcher.emit('error', new Error('compacted'));
    await vi.advanceTimersByTimeAsync(10_000);
    expect(w.watches[0]?.watcher.cancelled).toBe(0);
    expect(w.ranges).toHaveLength(1);
  });

  it('stops: the watch cancelled, at most the time given waited for etcd to take it; stopping twice is harmless', async () => {
    const w = await loaded();
    const [watch] = w.watches;
    if (watch === undefined) throw new Error('no watch');
    watch.watcher.cancel = () => new Promise(() => undefined); // etcd never answers
    let stopped = false;
    void w.watcher.stop(300).then(() => {
      stopped = true;
    });
    await vi.advanceTimersByTimeAsync(299);
    expect(stopped).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(stopped).toBe(true);
    await w.watcher.stop(300); // nothing to stop: at once
    // a watcher whose cancellation fails stops too
    const failing = await loaded();
    const f = failing.watches[0]?.watcher;
    if (f === undefined) throw new Error('no watch');
    f.cancel = async () => {
      throw new Error('cancel failed');
    };
    await expect(failing.watcher.stop(300)).resolves.toBeUndefined();
    // stopped: an error of the old watch starts nothing
    f.emit('error', new Error('late'));
    await vi.advanceTimersByTimeAsync(1000);
    expect(failing.ranges).toHaveLength(1);
  });

  it('stopped, it leaves no timer behind: neither the wait for the cancellation nor a resync’s backoff', async () => {
    const answered = await loaded();
    await answered.watcher.stop(300); // etcd took the cancellation at once
    expect(vi.getTimerCount()).toBe(0);

    const resyncing = world();
    resyncing.pages.push({ kvs: [], more: false, revision: 10 }, new Error('gone'));
    await resyncing.watcher.load();
    resyncing.watches[0]?.watcher.emit('error', new Error('compacted'));
    await vi.advanceTimersByTimeAsync(0);
    expect(vi.getTimerCount()).toBe(1); // the resync's backoff
    await resyncing.watcher.stop(300);
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(resyncing.ranges).toHaveLength(2);
  });
});
