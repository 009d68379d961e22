/**
 * Found by a review: LeaseKeeper #renew's failure handler called #drop() without checking the epoch. A renewal grant
 * of an earlier opening that fails after the store was closed and opened again (stop() then start() of
 * the enroller while etcd was slow; a client passed in `client` is not closed by close(), so the old call
 * runs to its deadline) releases the NEW opening's lease and forgets its id: canVouch() is false for good,
 * `doubting` false, the keeper is not fenced and never renews, so the enroller's ledger fences itself at the
 * first vouching() and no fenced(false) / revalidation ever comes (wedged: every member refused forever).
 */
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { EtcdAddressStore } from '../../src/etcd/index.js';
import type { TxnResponse } from '../../src/etcd/lease.js';
import { deferred, keyValue, mockListener, ScriptedEtcd } from '../support/scripted-etcd.js';

const PREFIX = '/rina/demo.DIF/';
const listener = mockListener;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
});
afterEach(() => {
  vi.useRealTimers();
});

it("a failed renewal grant of an earlier opening drops the reopened store's lease: it never vouches nor renews again", async () => {
  const etcd = new ScriptedEtcd();
  const store = new EtcdAddressStore({ client: etcd.client, prefix: PREFIX, leaseTtlSecs: 10, callTimeoutMs: 500 });
  const owner = { name: 'e1', shimAddress: '10.0.0.1:7000' };
  await store.open(owner, listener()); // lease-1
  let fail!: (err: Error) => void;
  etcd.grants.push(
    new Promise<void>((_resolve, reject) => {
      fail = reject;
    }),
  ); // lease-2: the renewal's grant, in flight (etcd slow)
  etcd.leases[0]?.emit('lost'); // lease-1 lapses: fenced, renewal asks for lease-2
  await vi.advanceTimersByTimeAsync(0);
  expect(etcd.leases).toHaveLength(2);

  await store.close(); // the enroller stops...
  const second = listener();
  await store.open(owner, second); // ...and starts again: lease-3
  expect(store.canVouch()).toBe(true);

  fail(new Error('deadline exceeded')); // the old opening's renewal grant fails only now
  await vi.advanceTimersByTimeAsync(0);
  expect(store.canVouch()).toBe(true); // (before the fix: the old renewal's #drop() released lease-3)

  // It goes on by itself (before the fix: no doubt, no fence, no new lease, ever). Here no keepalive is ever
  // answered, so its own lease's proof runs out: etcd is asked, the lease lapses, and a new one is granted.
  await vi.advanceTimersByTimeAsync(60_000);
  expect(second.fenced.mock.calls.map(([f]) => f).slice(0, 2)).toEqual([true, false]);
  await store.close();
});

/** A store whose close() could not revoke its lease (etcd did not answer), and its scripted etcd. */
async function closedUnrevoked() {
  const etcd = new ScriptedEtcd();
  const store = new EtcdAddressStore({ client: etcd.client, prefix: PREFIX, leaseTtlSecs: 10, callTimeoutMs: 500 });
  const owner = { name: 'e1', shimAddress: '10.0.0.1:7000' };
  await store.open(owner, listener()); // lease-1
  const first = etcd.leases[0];
  if (first === undefined) throw new Error('no lease');
  first.revoke = async () => {
    throw new Error('14 UNAVAILABLE: etcd out of reach');
  };
  await store.close();
  expect(first.released).toBe(1);
  return { etcd, store, owner };
}

it('open() after a close() that could not revoke its lease revokes that lease before anything is proven (a tenth review)', async () => {
  const { etcd, store, owner } = await closedUnrevoked();
  await store.open(owner, listener()); // lease-2
  expect(etcd.revokedIds.map((r) => (r as { ID: string }).ID)).toEqual(['lease-1']);
  expect(store.canVouch()).toBe(true);
  await store.close();
  await store.open(owner, listener()); // lease-2 was revoked by its close(): nothing more to revoke
  expect(etcd.revokedIds).toHaveLength(1);
  await store.close();
});

it('open() fails while that lease cannot be revoked (whatever the time since), and works once it is', async () => {
  const { etcd, store, owner } = await closedUnrevoked();
  const revoke = etcd.client.leaseClient.leaseRevoke;
  etcd.client.leaseClient.leaseRevoke = async () => {
    throw new Error('etcdserver: request timed out');
  };
  await vi.advanceTimersByTimeAsync(1_000);
  vi.setSystemTime(Date.now() + 60_000); // a wall clock stepped forward past the TTL (an eleventh review): no shortcut
  await expect(store.open(owner, listener())).rejects.toThrow(
    /^etcd: cannot revoke the earlier lease lease-1 of this enroller \(etcdserver: request timed out\); nothing is proven under a new lease until it is$/,
  );
  expect(etcd.leases).toHaveLength(1); // nothing granted meanwhile
  await expect(store.open(owner, listener())).rejects.toThrow(/cannot revoke the earlier lease lease-1/); // still owed
  etcd.client.leaseClient.leaseRevoke = async (req, opts) => {
    if (req.ID === 'lease-1') throw new Error('5 NOT_FOUND: etcdserver: requested lease not found');
    return revoke(req, opts);
  };
  await store.open(owner, listener()); // gone at etcd already: counts as revoked
  expect(store.canVouch()).toBe(true);
  expect(store.stats().earlierLeasesAlive).toBe(0); // (expired at etcd: not counted alive)
  await store.close();
});

it('a store closed while its lost lease was being renewed revokes that lease at the next open() (an eleventh review)', async () => {
  const etcd = new ScriptedEtcd();
  const store = new EtcdAddressStore({ client: etcd.client, prefix: PREFIX, leaseTtlSecs: 10, callTimeoutMs: 500 });
  const owner = { name: 'e1', shimAddress: '10.0.0.1:7000' };
  await store.open(owner, listener()); // lease-1
  etcd.grants.push('refused', 'refused'); // the renewal's grants fail (etcd out of reach)
  etcd.leases[0]?.emit('lost'); // lease-1 lost, maybe alive at etcd (only its keepalive answers were lost)
  await vi.advanceTimersByTimeAsync(150);
  expect(etcd.leases.length).toBeGreaterThanOrEqual(2);
  await store.close(); // the fenced enroller is stopped
  const before = etcd.revokedIds.length;
  await store.open(owner, listener());
  expect(etcd.revokedIds.slice(before).map((r) => (r as { ID: string }).ID)).toEqual(['lease-1']);
  await store.close();
});

it("a closed opening's watcher puts nothing back in the table of the next one (an eleventh review)", async () => {
  const etcd = new ScriptedEtcd();
  const store = new EtcdAddressStore({ client: etcd.client, prefix: PREFIX, leaseTtlSecs: 10, callTimeoutMs: 500 });
  const owner = { name: 'e1', shimAddress: '10.0.0.1:7000' };
  await store.open(owner, listener());
  etcd.pages.push({ kvs: [], more: false, revision: 8 });
  await store.load();
  const old = etcd.watches[0]?.watcher;
  if (old === undefined) throw new Error('no watcher');
  old.cancel = () => new Promise<void>(() => undefined); // etcd does not take the cancellation
  const closing = store.close();
  await vi.advanceTimersByTimeAsync(500);
  await closing;
  const second = listener();
  await store.open(owner, second);
  etcd.pages.push({ kvs: [], more: false, revision: 12 });
  expect(await store.load()).toEqual([]);
  // The old watch's backlog: a binding etcd deleted before the new read (its deletion never comes: cancelled).
  old.emit('put', keyValue(PREFIX, 'names/x', '5', 9));
  old.emit('put', keyValue(PREFIX, 'addresses/5', 'x', 9));
  old.emit('put', keyValue(PREFIX, 'members/x/e2', '', 9));
  expect({ addressOfX: store.addressOf('x'), bound: second.bound.mock.calls }).toEqual({ addressOfX: undefined, bound: [] });
  await store.close();
});

it('no bind is sent while the store is fenced, under the lease a renewal is granting (a twelfth review, 2026-12-06)', async () => {
  const etcd = new ScriptedEtcd();
  const store = new EtcdAddressStore({ client: etcd.client, prefix: PREFIX, leaseTtlSecs: 60, callTimeoutMs: 500 });
  await store.open({ name: 'e1', shimAddress: '10.0.0.1:7000' }, listener());
  etcd.pages.push({ kvs: [], more: false, revision: 100 });
  await store.load();
  const registering = deferred<void>();
  etcd.answers.push(async () => {
    await registering.promise; // the renewal's registration, unanswered for now
    return { succeeded: true, responses: [], header: { revision: '200' } } as unknown as TxnResponse;
  });
  etcd.leases[0]?.emit('lost'); // a lapse: fenced; the renewal was granted lease-2 and registers under it
  await vi.advanceTimersByTimeAsync(0);
  const sent = etcd.txns.length;
  await expect(store.bind({ name: 'x', address: 7 })).rejects.toThrow(/has no lease now/);
  expect(etcd.txns.length).toBe(sent); // (before the fix: a bind with its mark under lease-2)
  registering.resolve();
  await vi.advanceTimersByTimeAsync(0);
  await store.close();
});

// Found by a second review (2026-12-07; fixed with it): open()'s failure handler closed the store whatever opening
// it then was, so an open() whose registration failed after close() and a new open() closed the new opening.
it('an open() whose registration fails after the store was closed and opened again does not close the new opening', async () => {
  const etcd = new ScriptedEtcd();
  const store = new EtcdAddressStore({ client: etcd.client, prefix: PREFIX, leaseTtlSecs: 10, callTimeoutMs: 500 });
  const owner = { name: 'e1', shimAddress: '10.0.0.1:7000' };
  let failReg!: (e: Error) => void;
  const regPromise = new Promise<TxnResponse>((_r, rej) => {
    failReg = rej;
  });
  etcd.answers.push(() => regPromise); // open #1's registration, in flight (etcd slow)
  const first = store.open(owner, listener()).catch((e: Error) => e);
  await vi.advanceTimersByTimeAsync(0);
  expect(etcd.txns).toHaveLength(1);
  const closing = store.close();
  await store.open(owner, listener()); // the enroller starts again
  await closing;
  expect(store.canVouch()).toBe(true);
  failReg(new Error('etcdserver: requested lease not found')); // lease-1 was revoked by the close
  await first;
  await vi.advanceTimersByTimeAsync(0);
  expect(store.canVouch()).toBe(true);
  await store.close();
});
