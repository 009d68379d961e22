/**
 * Found by a review of the lease doubt: a doubt's settle cleared `#doubtTimer` before checking that the
 * doubt was still its own. When a
 * lease lapses while its doubt is pending (its own stream said 'lost'), the old doubt's timer stays armed;
 * if it fires during the next lease's doubt it cancels that doubt's timer, and the new doubt then ends only
 * if etcd3's keepaliveOnce settles by itself: the backstop the code keeps "should the client's own
 * deadline not end it" is gone, and the keeper stays in doubt (vouching for nobody, never fenced) forever.
 * (Reachable when callTimeoutMs > the lease TTL, which the options schema allows: leaseTtlSecs >= 2,
 * callTimeoutMs any positive number.)
 */
import type { ITxnRequest } from 'etcd3';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { EtcdKeys } from '../../src/etcd/keys.js';
import { type LeaseHost, LeaseKeeper, type TxnResponse } from '../../src/etcd/lease.js';
import type { ResolvedEtcdStoreOptions } from '../../src/etcd/options.js';
import { clockFrom } from '../../src/util/clock.js';
import { deferred, ScriptedEtcd, type ScriptedLease, zeroStats } from '../support/scripted-etcd.js';

const TTL_MS = 2000;
const CALL_TIMEOUT_MS = 5000;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
});
afterEach(() => {
  vi.useRealTimers();
});

it("an earlier lease's doubt timer cancels the current doubt's: the keeper stays in doubt past callTimeoutMs, never fenced", async () => {
  const etcd = new ScriptedEtcd();
  const fenced: boolean[] = [];
  const host: LeaseHost = {
    keys: new EtcdKeys('/rina/demo.DIF/', () => 'e1'),
    options: { leaseTtlSecs: TTL_MS / 1000, callTimeoutMs: CALL_TIMEOUT_MS } as ResolvedEtcdStoreOptions,
    stats: zeroStats(),
    client: () => etcd.client,
    epoch: () => 1,
    closed: () => false,
    owner: () => ({ name: 'e1', shimAddress: '10.0.0.1:7000' }),
    txn: async (_what: string, _request: ITxnRequest) => ({ succeeded: true }) as TxnResponse,
    renewed: () => undefined,
    fenced: (f) => fenced.push(f),
  };
  const keeper = new LeaseKeeper(host, clockFrom({ now: () => performance.now() }));
  await keeper.grant(1);
  const l1 = etcd.leases[0] as ScriptedLease;
  // Its keepalives (one every third of the TTL) fail; etcd does not answer the doubt's question (the call's own deadline fails too).
  l1.keepaliveOnceAnswers.push('failed', 'failed', 'failed', deferred<'alive'>().promise);
  await vi.advanceTimersByTimeAsync(TTL_MS); // t=2000: doubt of lease-1, its timer at 7000
  expect(keeper.doubting).toBe(true);
  await vi.advanceTimersByTimeAsync(100);
  l1.emit('lost'); // t=2100: a keepalive says lease-1 expired: lapse, lease-2 granted
  await vi.advanceTimersByTimeAsync(0);
  expect(fenced).toEqual([true, false]);
  const l2 = etcd.leases[1] as ScriptedLease;
  l2.keepaliveOnceAnswers.push('failed', 'failed', 'failed', deferred<'alive'>().promise); // etcd does not answer this one either
  await vi.advanceTimersByTimeAsync(TTL_MS); // t=4100: doubt of lease-2, its timer due at 9100
  expect(keeper.doubting).toBe(true);
  await vi.advanceTimersByTimeAsync(CALL_TIMEOUT_MS + 1); // t=9101; lease-1's old timer fired at 7000
  expect(fenced).toEqual([true, false, true, false]); // (before the fix: [true, false], and in doubt forever)
  expect(keeper.doubting).toBe(false);
});
