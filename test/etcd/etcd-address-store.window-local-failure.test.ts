/**
 * Found by a review (2026-12-06; fixed with it): TxnWindow counts every failure of `send` as a slow answer from etcd
 * and halves the window for it, including a transaction that never left the
 * process (the store's `#open()` throwing "not open" inside `send`). A store
 * whose window was cut so stays cut after it is opened again.
 */
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { EtcdAddressStore } from '../../src/etcd/index.js';
import { StoreError } from '../../src/index.js';
import { keyValue, mockListener, ScriptedEtcd } from '../support/scripted-etcd.js';

const PREFIX = '/rina/demo.DIF/';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
});
afterEach(() => {
  vi.useRealTimers();
});

it('a transaction refused in the process (store not open) is no slow answer of etcd: the window is not cut', async () => {
  const etcd = new ScriptedEtcd();
  const store = new EtcdAddressStore({ client: etcd.client, prefix: PREFIX, leaseTtlSecs: 60, callTimeoutMs: 500 });
  await store.open({ name: 'e1', shimAddress: '10.0.0.1:7000' }, mockListener());
  etcd.pages.push({ kvs: [keyValue(PREFIX, 'names/m', '5', 50), keyValue(PREFIX, 'addresses/5', 'm', 50)], more: false, revision: 101 });
  await store.load();
  await store.close();
  await expect(store.release('m')).rejects.toBeInstanceOf(StoreError); // never sent: the store is closed
  expect(etcd.txns).toHaveLength(1); // the registration only
  expect(store.stats().txnWindowCuts).toBe(0);
});
