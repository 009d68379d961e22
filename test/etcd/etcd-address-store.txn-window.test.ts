/**
 * The store's window of transactions in flight (src/etcd/txn-window.ts) on a
 * real etcd: a burst of binds never has more binds at etcd at once than the
 * window allows (a batch takes a place per bind), and every one still lands (binds of one event-loop turn share
 * transactions); a store that closes fails those still
 * waiting without sending them; answers late for the client's own reasons
 * (etcd keeping up, as its Status says) do not shrink it.
 */
import { Etcd3 } from 'etcd3';
import { afterEach, expect, it } from 'vitest';
import { raftProgress } from '../../src/etcd/apply-backlog.js';
import { EtcdAddressStore } from '../../src/etcd/index.js';
import { ConfigError, StoreError } from '../../src/index.js';
import { describeEtcd, etcdEndpoint, uniquePrefix } from '../support/etcd.js';

const clients: Etcd3[] = [];
const stores: EtcdAddressStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
  for (const c of clients.splice(0)) c.close();
});

/** A client whose transactions are counted as they are at etcd: how many at once, at most, and how many in all; and the bindings they carry (a batch of binds: one per nested transaction). */
function countingClient() {
  const client = new Etcd3({ hosts: etcdEndpoint() });
  clients.push(client);
  const count = { now: 0, peak: 0, sent: 0, bindsNow: 0, bindsPeak: 0 };
  const txn = client.kv.txn.bind(client.kv);
  client.kv.txn = async (...args: Parameters<typeof txn>) => {
    const [request] = args;
    const binds = request.compare?.length === 0 ? (request.success?.length ?? 1) : 1;
    count.sent++;
    count.now++;
    count.bindsNow += binds;
    count.peak = Math.max(count.peak, count.now);
    count.bindsPeak = Math.max(count.bindsPeak, count.bindsNow);
    try {
      return await txn(...args);
    } finally {
      count.now--;
      count.bindsNow -= binds;
    }
  };
  return { client, count };
}

/** The event loop's next turn: binds asked for in one turn go to etcd together (src/etcd/binds.ts). */
const nextTurn = () => new Promise((r) => setImmediate(r));

const listener = { bound: () => undefined, unbound: () => undefined, idle: () => undefined, enrollers: () => undefined };

it('refuses a window it cannot use, naming the option', () => {
  expect(() => new EtcdAddressStore({ hosts: 'http://127.0.0.1:1', difName: 'd', maxTxnsInFlight: 0 })).toThrow(ConfigError);
  expect(() => new EtcdAddressStore({ hosts: 'http://127.0.0.1:1', difName: 'd', maxTxnsInFlight: 1.5 })).toThrow(/maxTxnsInFlight/);
  expect(() => new EtcdAddressStore({ hosts: 'http://127.0.0.1:1', difName: 'd', txnTargetMs: 0 })).toThrow(/txnTargetMs/);
});

describeEtcd('the window of transactions in flight, on a real etcd', () => {
  it('a burst of 200 binds has at most maxTxnsInFlight binds at etcd at once (a batch overrunning by its own size less one), and every bind lands', async () => {
    const { client, count } = countingClient();
    const store = new EtcdAddressStore({ client, prefix: uniquePrefix('window'), maxTxnsInFlight: 40 });
    stores.push(store);
    await store.open({ name: 'A', shimAddress: 'A-shim' }, listener);
    const sentBefore = count.sent; // (the registration)
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => store.bind({ name: `m${i}`, address: 100 + i })));
    expect(results.every((r) => r === true)).toBe(true);
    // Asked for in one turn, 32 to a transaction (src/etcd/binds.ts), each batch taking a place per bind: the first
    // went (32 of 40 places), the second too (32 < 40: 64 taken), and the other five waited for a place.
    expect(count.sent - sentBefore).toBe(7);
    expect(count.bindsPeak).toBeLessThanOrEqual(40 - 1 + 32);
    expect(count.peak).toBeLessThanOrEqual(2);
    const stats = store.stats();
    expect(stats.binds).toBe(7);
    expect(stats.txnsWaited).toBe(5);
    expect(stats.txnsTimedOutWaiting).toBe(0);
    const kvs = await client.getAll().prefix(`${store.prefix}names/`).keys();
    expect(kvs).toHaveLength(200);
  });

  it("answers read late while etcd keeps up (a loaded machine, not etcd's backlog) do not shrink the window to its floor", async () => {
    const { client, count } = countingClient();
    const progress = await raftProgress(client, { deadline: Date.now() + 2000 });
    expect(progress.member).toMatch(/^[0-9]+$/);
    expect(progress.applied).toBeGreaterThan(0n); // etcd >= 3.4 reports it
    expect(progress.committed).toBeGreaterThanOrEqual(progress.applied);
    // (A window that can be cut: 512 -> 256 -> ... -> 8, and a cut is counted at the floor too.)
    const store = new EtcdAddressStore({ client, prefix: uniquePrefix('window-late'), maxTxnsInFlight: 512, txnTargetMs: 10 });
    stores.push(store);
    await store.open({ name: 'A', shimAddress: 'A-shim' }, listener);
    const txn = client.kv.txn;
    client.kv.txn = async (...args: Parameters<typeof txn>) => {
      const answer = await txn(...args);
      await new Promise((r) => setTimeout(r, 25)); // read 25 ms late: over the 10 ms target, whatever etcd's speed
      return answer;
    };
    // In waves of 12, each bind asked for in a turn of its own, until 230 answers came: every bind finds a place and
    // goes alone (binds of one turn, and binds that wait, share transactions, which would leave too few answers to
    // judge), and a slow answer to a bind sent after the last cut cuts again, unless etcd says it keeps up.
    const results: boolean[] = [];
    const sentBefore = count.sent;
    for (let wave = 0; wave < 40 && count.sent - sentBefore < 230; wave++) {
      const binds: Array<Promise<boolean>> = [];
      for (let i = 0; i < 12; i++) {
        binds.push(store.bind({ name: `m${wave}-${i}`, address: 100 + wave * 12 + i }));
        await nextTurn();
      }
      results.push(...(await Promise.all(binds)));
    }
    expect(count.sent - sentBefore).toBeGreaterThanOrEqual(230);
    expect(results.every((r) => r === true)).toBe(true);
    const stats = store.stats();
    expect(stats.applyBacklogReadings).toBeGreaterThanOrEqual(1);
    // Without etcd's Status every wave of these answers would cut it (about 20 cuts); with it, only those
    // before its verdict: one or two, and up to a dozen on a machine so slow that the verdict waits for a second
    // reading (readings are at most four a second; a CI run of 2026-12-07 had 7 of 120).
    expect(stats.txnWindowCuts).toBeLessThanOrEqual(12);
    expect(stats.txnsSlowEtcdNotBehind).toBeGreaterThanOrEqual(150);
    expect(count.peak).toBeLessThanOrEqual(12);
  });

  it('closing fails the binds still waiting with a StoreError, and sends none of them', async () => {
    const { client, count } = countingClient();
    const store = new EtcdAddressStore({ client, prefix: uniquePrefix('window-close'), maxTxnsInFlight: 1 });
    await store.open({ name: 'A', shimAddress: 'A-shim' }, listener);
    const sentBefore = count.sent;
    // The first bind is held on its way to etcd, so that the others, asked for in a later turn, wait in the window,
    // whatever etcd's speed.
    let release = (): void => undefined;
    const held = new Promise<void>((r) => {
      release = r;
    });
    const txn = client.kv.txn;
    client.kv.txn = async (...args: Parameters<typeof txn>) => {
      await held;
      return txn(...args);
    };
    const first = store.bind({ name: 'm0', address: 100 });
    await nextTurn();
    const binds = [first, ...Array.from({ length: 4 }, (_, i) => store.bind({ name: `m${i + 1}`, address: 101 + i }))];
    const settled = Promise.allSettled(binds);
    await new Promise((r) => setTimeout(r, 20));
    expect(count.sent - sentBefore).toBe(0); // (the held one has not reached the counter yet; the rest wait)
    await store.close();
    release();
    const outcomes = await settled;
    const refused = outcomes.slice(1);
    for (const o of refused) {
      expect(o.status).toBe('rejected');
      expect((o as PromiseRejectedResult).reason).toBeInstanceOf(StoreError);
      expect(String((o as PromiseRejectedResult).reason.message)).toMatch(/not sent: the EtcdAddressStore closed/);
    }
    expect(count.sent - sentBefore).toBe(1); // the held one only
  });
});
