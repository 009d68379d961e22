/**
 * Found by a review (2026-12-06; fixed with it): the lease keeper's wall-clock deadline ran from when an answer was
 * read, not from when its request was sent, so a host suspended between the two (performance.now() stands still)
 * was proven for the time it slept: after an hour's suspension it vouched for members although its lease had
 * expired at etcd 59 minutes before. The doubt's question, awaited for a TTL since the same day, widened the window.
 * Scripted lease (no etcd), fake timers; TTL 2 s, callTimeoutMs 500 (as test/etcd/lease.test.ts).
 */
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { EtcdKeys } from '../../src/etcd/keys.js';
import { type LeaseHost, LeaseKeeper, type TxnResponse } from '../../src/etcd/lease.js';
import type { ResolvedEtcdStoreOptions } from '../../src/etcd/options.js';
import { deferred, ScriptedEtcd, type ScriptedLease, zeroStats } from '../support/scripted-etcd.js';

const TTL_MS = 2000;

function world() {
  const etcd = new ScriptedEtcd();
  const fenced: boolean[] = [];
  const host: LeaseHost = {
    keys: new EtcdKeys('/rina/demo.DIF/', () => 'e1'),
    options: { leaseTtlSecs: TTL_MS / 1000, callTimeoutMs: 500 } as ResolvedEtcdStoreOptions,
    stats: zeroStats(),
    client: () => etcd.client,
    epoch: () => 1,
    closed: () => false,
    owner: () => ({ name: 'e1', shimAddress: '10.0.0.1:7000' }),
    txn: async () => ({ succeeded: true }) as TxnResponse,
    renewed: () => undefined,
    fenced: (f) => fenced.push(f),
  };
  const keeper = new LeaseKeeper(host); // systemClock: performance.now(), faked
  return { etcd, keeper, fenced, host };
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
});
afterEach(() => {
  vi.useRealTimers();
});

it('a question answered after the host was suspended proves the lease only until the TTL after the question (wall clock)', async () => {
  const w = world();
  await w.keeper.grant(1);
  w.etcd.grants.push(deferred<void>().promise); // a renewal hangs
  const lease = w.etcd.leases[0] as ScriptedLease;
  const answer = deferred<'alive'>();
  lease.keepaliveOnceAnswers.push(answer.promise);
  await vi.advanceTimersByTimeAsync(TTL_MS); // no keepalive answered: the doubt, the question sent now (wall W)
  expect(w.keeper.doubting).toBe(true);
  // The host is suspended 1.5 s (the wall clock goes on, performance.now() does not); then etcd's answer is read.
  vi.setSystemTime(Date.now() + 1500);
  answer.resolve('alive');
  await vi.advanceTimersByTimeAsync(0);
  expect(w.keeper.canVouch()).toBe(true); // W + 1.5 s: proven (etcd renewed it at W at the earliest)
  vi.setSystemTime(Date.now() + 600); // W + 2.1 s: past the TTL after the question on the wall clock
  // etcd may have renewed the lease as early as W (it expires W + TTL): nothing is proven now.
  expect(w.keeper.canVouch()).toBe(false);
});

it('a question answered before a long suspension, read after it, proves nothing once the TTL after the question passed on the wall clock', async () => {
  const w = world();
  await w.keeper.grant(1);
  w.etcd.grants.push(deferred<void>().promise);
  const lease = w.etcd.leases[0] as ScriptedLease;
  const answer = deferred<'alive'>();
  lease.keepaliveOnceAnswers.push(answer.promise);
  await vi.advanceTimersByTimeAsync(TTL_MS); // the doubt: the question sent now
  // etcd renews the lease at once and answers; the host is suspended for an hour before it reads the answer.
  vi.setSystemTime(Date.now() + 3_600_000);
  answer.resolve('alive');
  await vi.advanceTimersByTimeAsync(0);
  // The lease expired at etcd some 59 minutes ago (no keepalive reached etcd meanwhile): nothing is proven.
  expect(w.keeper.canVouch()).toBe(false);
});

it('a stream keepalive answered before a long suspension, read after it, proves nothing past the TTL after its request (wall clock)', async () => {
  const w = world();
  await w.keeper.grant(1);
  w.etcd.grants.push(deferred<void>().promise);
  const lease = w.etcd.leases[0] as ScriptedLease;
  await vi.advanceTimersByTimeAsync(667);
  lease.emit('keepaliveFired'); // sent at 667; etcd answers at once, the host sleeps an hour before it reads it
  vi.setSystemTime(Date.now() + 3_600_000);
  lease.emit('keepaliveSucceeded', { TTL: '2' });
  expect(w.keeper.canVouch()).toBe(false);
});
