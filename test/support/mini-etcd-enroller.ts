/**
 * An enroller on a scripted etcd client whose transactions and reads a MiniEtcd evaluates (test/support/mini-etcd.ts),
 * its watch driven by the test (events of MiniEtcd.write() emitted on `watcher`), with RawPeer members. Fake timers.
 */
import type { ITxnRequest } from 'etcd3';
import { vi } from 'vitest';
import { EtcdAddressStore } from '../../src/etcd/index.js';
import type { TxnResponse } from '../../src/etcd/lease.js';
import { decodeEnrollmentInfo, Enroller, type EnrollerOptions, MemoryNetwork, MemoryRib, OpCode } from '../../src/index.js';
import { connectMsg, RawPeer, startMsg } from './helpers.js';
import { MiniEtcd } from './mini-etcd.js';
import { ScriptedEtcd } from './scripted-etcd.js';

export const PREFIX = '/rina/demo.DIF/';

/** How the world of {@link enrollerOnMiniEtcd} differs: its lease TTL, what etcd holds at start, how a transaction goes. */
export interface MiniWorld {
  readonly leaseTtlSecs?: number;
  /** Writes etcd holds before the enroller starts. */
  readonly before?: (sim: MiniEtcd) => void;
  /** Each transaction of the enroller (default: `sim.txn(request)` at once). */
  readonly txn?: (request: ITxnRequest, sim: MiniEtcd) => Promise<TxnResponse>;
}

/** Starts enroller `e1` on a MiniEtcd with `options` (pool, random, ...); stop it and close `net` at the end. */
export async function enrollerOnMiniEtcd(options: Partial<EnrollerOptions>, world: MiniWorld = {}) {
  const etcd = new ScriptedEtcd();
  const sim = new MiniEtcd();
  world.before?.(sim);
  const kv = etcd.client.kv as unknown as Record<string, unknown>;
  kv.range = async () => ({ kvs: sim.all(), more: false, header: { revision: String(sim.revision) } });
  kv.txn = (request: ITxnRequest) => (world.txn ?? ((r, s) => s.txn(r)))(request, sim);
  const leaseTtlSecs = world.leaseTtlSecs ?? 3600;
  const store = new EtcdAddressStore({ client: etcd.client, prefix: PREFIX, leaseTtlSecs, callTimeoutMs: 500 });
  const net = new MemoryNetwork({ seed: 1 });
  const e1 = new Enroller({
    shim: net.attach('e1'),
    rib: new MemoryRib(),
    ipcpName: 'e1',
    difName: 'demo.DIF',
    addressPool: { first: 1, last: 3 },
    store,
    holdMs: 1000,
    leaseMs: 600_000,
    pendingTimeoutMs: 600_000,
    ...options,
  });
  await e1.start();
  const watcher = etcd.watches[0]?.watcher;
  if (watcher === undefined) throw new Error('no watch');
  return { etcd, sim, store, net, e1, watcher };
}

/** A member `name` sends M_CONNECT and M_START to e1. */
export async function enrol(net: MemoryNetwork, name: string): Promise<RawPeer> {
  const p = new RawPeer(net.attach(`${name}-shim`));
  await p.send('e1', connectMsg(1, name, 'e1'));
  await vi.advanceTimersByTimeAsync(0);
  await p.send('e1', startMsg(2));
  await vi.advanceTimersByTimeAsync(0);
  return p;
}

/** The last M_START_R `p` got: its result, reason, and the address it assigned. */
export function started(p: RawPeer) {
  const r = p.ofType(OpCode.M_START_R).at(-1);
  return {
    result: r?.result,
    reason: r?.resultReason,
    address: r?.result === 0 ? decodeEnrollmentInfo(r.objValue?.byteval ?? new Uint8Array()).address : undefined,
  };
}
