/**
 * Found by a review of the rebound fix: a late watch event of an address key
 * (older than what the table has seen of the name) was reported as the
 * name's binding. The pool kept the stale address (the name's next
 * enrollment here then moved its binding: a likely cause of the scale run's
 * moved binding), and with the fix a member served here at its real address
 * was let go and moved. Such an event no longer speaks for the name.
 */
import { afterEach, expect, it } from 'vitest';
import { EtcdAddressStore } from '../../src/etcd/index.js';
import { MemoryNetwork } from '../../src/index.js';
import { cleanup, member, onCleanup, QUICK_MONITORED, settle, withEnroller } from '../support/helpers.js';
import { keyValue, ScriptedEtcd } from '../support/scripted-etcd.js';

afterEach(cleanup);

const PREFIX = '/rina/demo.DIF/';
const kv = (rest: string, value: string, rev: number) => keyValue(PREFIX, rest, value, rev);

it("a lagging watch's old addresses/ event does not retire a member bound here at a newer revision", async () => {
  const etcd = new ScriptedEtcd();
  etcd.pages.push({ kvs: [], more: false, revision: 100 });
  const store = new EtcdAddressStore({ client: etcd.client, prefix: PREFIX, leaseTtlSecs: 60, callTimeoutMs: 500 });
  const net = new MemoryNetwork({ seed: 21 });
  const { enroller } = await withEnroller({ store, retransmitMs: 20, random: () => 0 }, net);
  onCleanup(() => store.close());
  etcd.revision = 110;
  const { mgr } = member(net, 'm', QUICK_MONITORED);
  await mgr.enrol(); // bound here by a create, at revision 111
  mgr.startConnectionMonitoring();
  const mine = mgr.address as number;
  expect(enroller.members().map((m) => [m.name, m.address])).toEqual([['m', mine]]);
  const binds = etcd.txns.length;
  // The watch lags: it now delivers what another enroller did at 105-106 (bound m to 1500, then released it), before 111.
  const watcher = etcd.watches.at(-1)?.watcher;
  watcher?.emit('put', kv('names/m', '1500', 105));
  watcher?.emit('put', kv('addresses/1500', 'm', 105));
  watcher?.emit('put', kv('members/m/e2', '', 105));
  watcher?.emit('delete', kv('names/m', '', 106));
  watcher?.emit('delete', kv('addresses/1500', '', 106));
  watcher?.emit('delete', kv('members/m/e2', '', 106));
  watcher?.emit('put', kv('names/m', String(mine), 111)); // its own bind, seen back
  watcher?.emit('put', kv(`addresses/${mine}`, 'm', 111));
  await settle();
  // Time for what the stale event would cause: a refused keepalive (every 50 ms) and an enrollment moving the binding.
  await new Promise((resolve) => setTimeout(resolve, 600));
  expect(enroller.members().map((m) => [m.name, m.address])).toEqual([['m', mine]]); // still served, where etcd binds it
  expect(etcd.txns.length).toBe(binds); // no leave of its mark, no move of its binding
});
