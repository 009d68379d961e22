/**
 * Whether enrollers' etcd leases survive an etcd member that accepts calls
 * and answers none (SIGSTOPped: what a member restarted after a crash does
 * while it catches up): a throw-away three-member etcd cluster on
 * 127.0.0.1, `stores` EtcdAddressStores that only keep their leases (no
 * binds), one follower paused for `pauseSecs`, then the lapses, doubts and
 * early keepalives of each store.
 *
 *   npx tsx bench/lease-paused-member.ts [stores, default 10] [pauseSecs, default 40] [ttlSecs, default 10]
 *
 * With `RINA_BENCH_KEEPALIVES=client` each store is given its client, so its
 * keepalives go through the lease's own `keepaliveOnce`, to a member that
 * client picks at random (what every store did before the keepalives got a
 * client per member). Not part of `npm run bench`: docs/SCALING.md (item 20)
 * quotes it.
 */
import { findEtcd, startEtcd } from '../src/cli/etcd-server.js';
import { makeEtcdClient } from '../src/etcd/client.js';
import { EtcdAddressStore } from '../src/etcd/index.js';
import { etcdStoreOptionsSchema } from '../src/etcd/options.js';
import type { AddressStoreListener } from '../src/store/address-store.js';

const [stores, pauseSecs, ttlSecs] = [10, 40, 10].map((d, i) => Number(process.argv[i + 2] ?? d)) as [number, number, number];
const viaClient = process.env.RINA_BENCH_KEEPALIVES === 'client';
const listener: AddressStoreListener = { bound: () => {}, unbound: () => {}, idle: () => {}, enrollers: () => {} };

const binary = findEtcd();
if (binary === undefined) throw new Error('no etcd binary: apt-get install etcd-server');
const etcd = await startEtcd({ binary, size: 3 });
const opened: EtcdAddressStore[] = [];
try {
  const leader = await etcd.leader();
  const paused = etcd.members.find((m) => m !== leader);
  if (paused === undefined) throw new Error('no follower');
  for (let i = 0; i < stores; i++) {
    const hosts = etcd.endpoints;
    const where = viaClient ? { client: makeEtcdClient(etcdStoreOptionsSchema.parse({ hosts, difName: 'paused.DIF' })) } : { hosts };
    const store = new EtcdAddressStore({ ...where, difName: 'paused.DIF', leaseTtlSecs: ttlSecs });
    await store.open({ name: `e${i}`, shimAddress: `e${i}-shim` }, listener);
    opened.push(store);
  }
  console.log(
    `etcd: 3 members on 127.0.0.1; ${stores} stores, lease TTL ${ttlSecs} s, keepalives ${viaClient ? "through each store's client (random member)" : 'through a client per member'}`,
  );
  paused.pause();
  await new Promise((resolve) => setTimeout(resolve, pauseSecs * 1000));
  paused.resume();
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const stats = opened.map((s) => s.stats());
  const list = (k: 'leaseLapses' | 'leaseDoubts' | 'leaseKeepalivesEarly') => stats.map((s) => s[k]).join(' ');
  console.log(`a follower paused ${pauseSecs} s:`);
  console.log(`  lease lapses per store: ${list('leaseLapses')} (${stats.reduce((n, s) => n + s.leaseLapses, 0)} in all)`);
  console.log(`  lease doubts per store: ${list('leaseDoubts')}`);
  console.log(`  keepalives sent early per store: ${list('leaseKeepalivesEarly')}`);
} finally {
  for (const s of opened) await s.close();
  await etcd.close();
}
