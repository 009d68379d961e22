/**
 * Found by a review (2026-12-06; fixed with it): the etcd store computes a transaction's deadline (now + callTimeoutMs)
 * before the transaction waits for a place in the window, so the wait eats
 * the time etcd is given to answer. A transaction admitted after waiting
 * 450 ms of a 500 ms call timeout is sent with 50 ms left: it fails with
 * DEADLINE_EXCEEDED even when etcd answers well under txnTargetMs, and its
 * failure then counts as a slow answer and halves the window.
 */
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { EtcdAddressStore } from '../../src/etcd/index.js';
import type { TxnResponse } from '../../src/etcd/lease.js';
import { deferred, mockListener, ScriptedEtcd } from '../support/scripted-etcd.js';

const PREFIX = '/rina/demo.DIF/';
const stores: EtcdAddressStore[] = [];

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
});
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
  vi.useRealTimers();
});

/** A loaded store on a scripted etcd, a window of one, a 500 ms call timeout. */
async function opened(): Promise<{ etcd: ScriptedEtcd; store: EtcdAddressStore }> {
  const etcd = new ScriptedEtcd();
  const store = new EtcdAddressStore({ client: etcd.client, prefix: PREFIX, leaseTtlSecs: 60, callTimeoutMs: 500, maxTxnsInFlight: 1 });
  stores.push(store);
  await store.open({ name: 'e1', shimAddress: '10.0.0.1:7000' }, mockListener());
  etcd.pages.push({ kvs: [], more: false, revision: 101 });
  await store.load();
  return { etcd, store };
}

it('a transaction that waited for a place in the window is still given the call timeout at etcd', async () => {
  const { etcd, store } = await opened();

  const first = deferred<TxnResponse>();
  const sentAt: number[] = [];
  etcd.answers.push(
    () => {
      sentAt.push(Date.now());
      return first.promise;
    },
    () => {
      sentAt.push(Date.now());
      return {};
    },
  );
  const a = store.bind({ name: 'a', address: 1 });
  const b = store.bind({ name: 'b', address: 2 });
  await vi.advanceTimersByTimeAsync(450); // etcd takes 450 ms over a (b waits in the window)
  first.resolve({ succeeded: true, responses: [], header: { revision: '102' } } as unknown as TxnResponse);
  expect(await a).toBe(true);
  expect(await b).toBe(true);
  expect(etcd.txns).toHaveLength(3); // the registration, a, b
  const deadline = ((etcd.txns[2] as { deadline: unknown }).deadline as { deadline: number }).deadline;
  const left = deadline - (sentAt[1] as number);
  expect(left, `b was sent with ${left} ms left of its 500 ms call timeout`).toBeGreaterThanOrEqual(500);
});

it('so a bind admitted late does not fail when etcd answers it in 100 ms (under txnTargetMs)', async () => {
  const { etcd, store } = await opened();
  /** etcd as a gRPC call sees it: an answer after the call's deadline is DEADLINE_EXCEEDED. */
  const answeredIn = (ms: number) => async () => {
    const { deadline } = (etcd.txns[etcd.txns.length - 1] as { deadline: unknown }).deadline as { deadline: number };
    await new Promise((r) => setTimeout(r, ms));
    if (Date.now() > deadline) throw new Error('4 DEADLINE_EXCEEDED: Deadline exceeded');
    return { succeeded: true, responses: [], header: { revision: String(++etcd.revision) } } as unknown as TxnResponse;
  };
  etcd.answers.push(answeredIn(450), answeredIn(100));
  const a = store.bind({ name: 'a', address: 1 });
  const b = store.bind({ name: 'b', address: 2 });
  const outcomes = Promise.allSettled([a, b]);
  await vi.advanceTimersByTimeAsync(600);
  const [ra, rb] = await outcomes;
  expect(ra).toEqual({ status: 'fulfilled', value: true });
  expect(rb.status === 'rejected' ? String((rb.reason as Error).message) : rb).toEqual({ status: 'fulfilled', value: true });
});
