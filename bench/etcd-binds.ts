/**
 * What sharing transactions buys the etcd store's binds (src/etcd/binds.ts),
 * at etcd alone: a throw-away three-member etcd cluster on 127.0.0.1, and
 * one client sending binds of new names shaped as the store sends them
 * (`bindRequest`: two compares, the name, address and mark puts under a
 * lease, two reads on failure), `perTxn` binds to a transaction (as nested
 * transactions when more than one), `inFlight` transactions at once. Prints
 * binds per second and the client's CPU per bind for each pair.
 *
 *   npx tsx bench/etcd-binds.ts [binds per pair, default 10000]
 *
 * Not part of `npm run bench`: it measures etcd and its client, not the
 * library; docs/SCALING.md (item 14) quotes it.
 */
import { Etcd3 } from 'etcd3';
import { findEtcd, startEtcd } from '../src/cli/etcd-server.js';
import { bindRequest } from '../src/etcd/binds.js';
import { EtcdKeys } from '../src/etcd/keys.js';

const N = Number(process.argv[2] ?? 10_000);
/** [transactions in flight, binds per transaction]: the first three keep 64 binds in flight. */
const PAIRS: Array<[number, number]> = [
  [64, 1],
  [8, 8],
  [2, 32],
  [8, 1],
  [8, 32],
];

const binary = findEtcd();
if (binary === undefined) throw new Error('no etcd binary: apt-get install etcd-server');
const etcd = await startEtcd({ binary, size: 3 });
const client = new Etcd3({ hosts: etcd.endpoints });
try {
  const lease = client.lease(60, { autoKeepAlive: true });
  const leaseId = await lease.grant();
  console.log(`etcd: 3 members on 127.0.0.1; ${N} binds per pair\n`);
  console.log('in flight  binds / txn  binds /s  client CPU µs / bind');
  for (const [inFlight, perTxn] of PAIRS) {
    const keys = new EtcdKeys(`/bench-binds/${inFlight}x${perTxn}-${Date.now()}/`, () => 'e1');
    const table = { address: () => undefined }; // (every address is new)
    const one = (i: number) => bindRequest(keys, table, { name: `m${i}`, address: i + 1 }, { held: undefined, holder: undefined }, leaseId);
    let next = 0;
    let bound = 0;
    const worker = async () => {
      while (next < N) {
        const ids: number[] = [];
        for (let k = 0; k < perTxn && next < N; k++) ids.push(next++);
        const request =
          ids.length === 1 ? one(ids[0] as number) : { compare: [], success: ids.map((i) => ({ request_txn: one(i) })), failure: [] };
        const res = await client.kv.txn(request);
        bound += ids.length === 1 ? Number(res.succeeded) : res.responses.filter((r) => r.response_txn?.succeeded).length;
      }
    };
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(Array.from({ length: inFlight }, worker));
    const secs = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(c0);
    if (bound !== N) throw new Error(`${bound} of ${N} bound`);
    const row = [inFlight, perTxn, Math.round(N / secs), Math.round((cpu.user + cpu.system) / N)];
    console.log(row.map((v, i) => String(v).padStart([9, 11, 9, 21][i] as number)).join('  '));
  }
  await lease.revoke().catch(() => undefined);
} finally {
  client.close();
  await etcd.close();
}
