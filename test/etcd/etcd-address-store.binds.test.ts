/**
 * Binds that wait for a place share transactions (src/etcd/binds.ts): on a
 * real etcd, each is answered as it would have been alone, and etcd ends
 * holding the same bindings. Random worlds: another enroller holds some
 * names and addresses, this one holds some of its own (a bind moves them to
 * another address), and a burst of binds is asked at once of a store whose
 * window holds one transaction, with the first one held on its way. The same
 * world under another prefix takes the same binds one by one; the answers
 * and etcd's names/, addresses/ and this enroller's marks must be equal.
 */
import { Etcd3 } from 'etcd3';
import fc from 'fast-check';
import { afterEach, expect, it } from 'vitest';
import { EtcdAddressStore } from '../../src/etcd/index.js';
import { describeEtcd, etcdEndpoint, uniquePrefix } from '../support/etcd.js';
import { until } from '../support/helpers.js';

const listener = { bound: () => undefined, unbound: () => undefined, idle: () => undefined, enrollers: () => undefined };
const clients: Etcd3[] = [];
const stores: EtcdAddressStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
  for (const c of clients.splice(0)) c.close();
});

type Binding = { name: string; address: number };

/** Distinct names and distinct addresses, from small pools so that worlds collide. */
const bindings = (max: number) =>
  fc
    .uniqueArray(fc.record({ name: fc.integer({ min: 0, max: 9 }).map((i) => `n${i}`), address: fc.integer({ min: 1, max: 14 }) }), {
      maxLength: max,
      selector: (b) => b.name,
    })
    .map((list) => list.filter((b, i) => list.findIndex((o) => o.address === b.address) === i));

/** What etcd holds under `prefix`: names/, addresses/ and the marks of enroller `S`, as text. */
async function holdings(client: Etcd3, prefix: string): Promise<string[]> {
  const all = await client.getAll().prefix(prefix).strings();
  return Object.entries(all)
    .filter(([key]) => !key.startsWith(`${prefix}enrollers/`) && !(key.startsWith(`${prefix}members/`) && !key.endsWith('/S')))
    .map(([key, value]) => `${key.slice(prefix.length)}=${value}`)
    .sort();
}

/** A world under a new prefix: `other` bound by enroller O, then `own` by S; S's store, its client and the prefix. */
async function world(other: Binding[], own: Binding[], maxTxnsInFlight: number) {
  const prefix = uniquePrefix('binds');
  const o = new EtcdAddressStore({ hosts: etcdEndpoint(), prefix });
  stores.push(o);
  await o.open({ name: 'O', shimAddress: 'O-shim' }, listener);
  for (const b of other) await o.bind(b);
  const client = new Etcd3({ hosts: etcdEndpoint() });
  clients.push(client);
  const s = new EtcdAddressStore({ client, prefix, maxTxnsInFlight });
  stores.push(s);
  await s.open({ name: 'S', shimAddress: 'S-shim' }, listener);
  await s.load();
  const owned: boolean[] = [];
  for (const b of own) owned.push(await s.bind(b));
  // A bind compares with what its store saw: wait until S's copy of the table holds what etcd does (O's bindings
  // come by the watch; S's own binds may have taken a name of O's).
  const names = await client.getAll().prefix(`${prefix}names/`).strings();
  await until(() => Object.entries(names).every(([key, address]) => s.addressOf(key.slice(`${prefix}names/`.length)) === Number(address)));
  return { prefix, client, store: s, owned };
}

describeEtcd('binds in batches, on a real etcd', () => {
  it('answers each bind of a batch as it would have been answered alone, and leaves etcd holding the same', async () => {
    await fc.assert(
      fc.asyncProperty(bindings(5), bindings(4), bindings(10), async (other, own, burst) => {
        const alone = await world(other, own, 64);
        const answersAlone: boolean[] = [];
        for (const b of burst) answersAlone.push(await alone.store.bind(b));

        const batched = await world(other, own, 1);
        expect(batched.owned).toEqual(alone.owned);
        let release = (): void => undefined;
        const gate = new Promise<void>((r) => {
          release = r;
        });
        const txn = batched.client.kv.txn.bind(batched.client.kv);
        let sent = 0;
        batched.client.kv.txn = async (...args: Parameters<typeof txn>) => {
          if (sent++ === 0) await gate; // the first holds the only place: the others wait, and share transactions
          return txn(...args);
        };
        const before = batched.store.stats().binds;
        const answers = Promise.all(burst.map((b) => batched.store.bind(b)));
        release();
        expect(await answers).toEqual(answersAlone);
        // (Fewer transactions than binds unless their keys overlap: the window test counts a batch exactly.)
        expect(batched.store.stats().binds - before).toBeLessThanOrEqual(burst.length);
        expect(await holdings(batched.client, batched.prefix)).toEqual(await holdings(alone.client, alone.prefix));
        await Promise.all(stores.splice(0).map((s) => s.close()));
      }),
      { numRuns: 8, endOnFailure: true },
    );
  });
});
