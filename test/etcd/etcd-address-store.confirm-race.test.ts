/**
 * Found by a review: EtcdAddressStore.confirm() adds the name to #served only once the transaction's answer is back,
 * while bind() adds it before sending. Back from a lapse, renewed() has cleared #served; a revalidation's
 * confirm writes the member's mark, and if the watch shows that put before the txn answer arrives (two
 * gRPC streams: no order between them), the table takes the enroller's own fresh mark for a stray and
 * deletes it. confirm() still returns true: the member is answered as enrolled again, while no mark of any
 * live enroller guards its binding: other enrollers see the name idle, hold it, then release it and give
 * its address to another member (two members on one address).
 */
import type { IKeyValue, ITxnRequest } from 'etcd3';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { EtcdAddressStore } from '../../src/etcd/index.js';
import type { TxnResponse } from '../../src/etcd/lease.js';
import { keyValue, mockListener, ScriptedEtcd } from '../support/scripted-etcd.js';

const PREFIX = '/rina/demo.DIF/';
const kv = (rest: string, value: string, revision: number): IKeyValue => keyValue(PREFIX, rest, value, revision);
const deletesMark = (t: { request: ITxnRequest }) =>
  t.request.success?.some((op) => op.request_delete_range?.key?.toString() === `${PREFIX}members/m/e1`) === true;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
});
afterEach(() => {
  vi.useRealTimers();
});

it("a revalidation's confirm whose mark the watch shows before the txn answer deletes its own fresh mark, and still says proven", async () => {
  const etcd = new ScriptedEtcd();
  const store = new EtcdAddressStore({ client: etcd.client, prefix: PREFIX, leaseTtlSecs: 10, callTimeoutMs: 500 });
  const listener = mockListener();
  await store.open({ name: 'e1', shimAddress: '10.0.0.1:7000' }, listener);
  etcd.pages.push({ kvs: [kv('names/m', '5', 50), kv('addresses/5', 'm', 50)], more: false, revision: 100 });
  await store.load();
  const watcher = etcd.watches.at(-1)?.watcher;
  expect(await store.bind({ name: 'm', address: 5 })).toBe(true); // served under lease-1

  etcd.leases[0]?.emit('lost'); // lapse; lease-2 granted: #served forgotten, the member must be confirmed
  await vi.advanceTimersByTimeAsync(0);
  expect(listener.fenced.mock.calls).toEqual([[true], [false]]);

  etcd.answers.push(async () => {
    watcher?.emit('put', kv('members/m/e1', '', 200)); // the watch stream is faster than the txn answer
    await Promise.resolve();
    return { succeeded: true, header: { revision: '200' }, responses: [] } as unknown as TxnResponse;
  });
  expect(await store.confirm({ name: 'm', address: 5 })).toBe(true);
  await vi.advanceTimersByTimeAsync(0);
  expect(etcd.txns.filter(deletesMark)).toEqual([]); // (before the fix: the confirmed mark is deleted as a stray)
  await store.close();
});
