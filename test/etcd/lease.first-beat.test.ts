/**
 * Found by a review (2026-12-06; fixed with it): the keeper sends its first keepalive a third of the TTL after the
 * grant's answer, while the grant proves the lease only until the TTL after
 * it was asked. A grant answered late (etcd under load, as after a lapse)
 * leaves the first proof to run out before the first keepalive is even sent:
 * the keeper doubts (vouches for nothing) although etcd answers every
 * keepalive at once. etcd3's own loop, which this replaced, sent its first
 * keepalive as soon as the lease was granted.
 */
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { EtcdKeys } from '../../src/etcd/keys.js';
import { type LeaseHost, LeaseKeeper, type TxnResponse } from '../../src/etcd/lease.js';
import type { ResolvedEtcdStoreOptions } from '../../src/etcd/options.js';
import { clockFrom } from '../../src/util/clock.js';
import { deferred, ScriptedEtcd, type ScriptedLease, zeroStats } from '../support/scripted-etcd.js';

const TTL_MS = 2000;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
});
afterEach(() => {
  vi.useRealTimers();
});

it('a lease granted late is kept alive at once: etcd answering every keepalive, the keeper never doubts', async () => {
  const etcd = new ScriptedEtcd();
  const stats = zeroStats();
  const host: LeaseHost = {
    keys: new EtcdKeys('/rina/demo.DIF/', () => 'e1'),
    options: { leaseTtlSecs: TTL_MS / 1000, callTimeoutMs: 2000 } as ResolvedEtcdStoreOptions,
    stats,
    client: () => etcd.client,
    epoch: () => 1,
    closed: () => false,
    owner: () => ({ name: 'e1', shimAddress: '10.0.0.1:7000' }),
    txn: async () => ({ succeeded: true }) as TxnResponse,
    renewed: () => undefined,
    fenced: () => undefined,
  };
  const keeper = new LeaseKeeper(host, clockFrom({ now: () => performance.now() }));
  const granting = deferred<void>();
  etcd.grants.push(granting.promise);
  const opened = keeper.grant(1);
  const lease = etcd.leases[0] as ScriptedLease;
  lease.keepaliveOnceAnswers.push(...Array.from({ length: 20 }, () => 'alive' as const)); // etcd answers every keepalive at once
  await vi.advanceTimersByTimeAsync(1500); // the grant is answered 1.5 s after it was asked (within callTimeoutMs)
  granting.resolve();
  await opened;
  await vi.advanceTimersByTimeAsync(TTL_MS * 3);
  expect({ doubts: stats.leaseDoubts, lapses: stats.leaseLapses, keepalives: lease.keepalivesOnce > 0 }).toEqual({
    doubts: 0,
    lapses: 0,
    keepalives: true,
  });
});
