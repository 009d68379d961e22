/**
 * Found by a review (2026-12-07; fixed with it): close() cleared the store's client (and, since the lease's
 * keepalives got a client per member, those clients) after its awaits, so an open() that came while close()
 * waited for etcd lost its new client to the old close(): every later call said "not open", and the new
 * opening's keepalive clients were closed while the old ones leaked.
 */
import { afterEach, expect, it } from 'vitest';
import { EtcdAddressStore } from '../../src/etcd/index.js';
import type { AddressStoreListener } from '../../src/store/address-store.js';
import { describeEtcd, etcdEndpoint, uniquePrefix } from '../support/etcd.js';

const undo: Array<() => unknown> = [];
afterEach(async () => {
  while (undo.length > 0) await undo.pop()?.();
});

const listener: AddressStoreListener = { bound: () => {}, unbound: () => {}, idle: () => {}, enrollers: () => {} };

describeEtcd('EtcdAddressStore: open() while close() still waits for etcd', () => {
  it('the new opening keeps its client and its keepalive clients', async () => {
    // (the one etcd under two names: two "members", so that the keepalives get a client per member)
    const hosts = [etcdEndpoint(), etcdEndpoint().replace('127.0.0.1', 'localhost')];
    const store = new EtcdAddressStore({ hosts, prefix: uniquePrefix('reopen-closing'), callTimeoutMs: 500 });
    const owner = { name: 'e1', shimAddress: 'e1-shim' };
    await store.open(owner, listener);
    undo.push(() => store.close());
    await store.load();

    const closing = store.close();
    await store.open(owner, listener); // the enroller starts again before its stop is done
    await closing;
    await store.load();
    expect(await store.bind({ name: 'm1', address: 1 })).toBe(true);
    expect(store.canVouch()).toBe(true);
  });
});
