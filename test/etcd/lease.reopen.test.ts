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
import { mockListener, ScriptedEtcd } from '../support/scripted-etcd.js';

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
