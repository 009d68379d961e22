/**
 * Written by a review (2026-12-05) that found nothing wrong here: the default maxPendingEnrollments (8,192 for a store of one enroller, 1,024 for a shared
 * one) is decided by `store.open` being defined; the ledger decides shared-ness by sharedCapabilities (the same
 * test, plus `shared: true` without open refused). Each kind of store must get the default of the kind the ledger
 * treats it as.
 */
import { afterEach, expect, it } from 'vitest';
import { Enroller, FileAddressStore, MemoryAddressStore, MemoryNetwork, MemoryRib } from '../../src/index.js';
import type { AddressBinding, AddressStore, AddressStoreListener, StoreOwner } from '../../src/store/address-store.js';
import { sharedCapabilities } from '../../src/store/address-store.js';
import { resolveEnrollerOptions } from '../../src/enroller/options.js';
import { EtcdAddressStore } from '../../src/etcd/index.js';
import { SharedMemoryStore } from './shared-memory-store.js';

const net = new MemoryNetwork();
afterEach(() => undefined);
const base = { shim: net.attach('e:1'), rib: new MemoryRib(), ipcpName: 'e', difName: 'd.DIF', addressPool: { first: 1, last: 100 } };

/** A user's store of one enroller, as a class. */
class MapStore implements AddressStore {
  readonly #m = new Map<string, number>();
  load(): AddressBinding[] {
    return [...this.#m].map(([name, address]) => ({ name, address }));
  }
  bind(b: AddressBinding): void {
    this.#m.set(b.name, b.address);
  }
  release(name: string): void {
    this.#m.delete(name);
  }
}

/** A user's shared store that implements only open (no `shared: true`), as before `shared` existed. */
class LegacyShared extends MapStore {
  open(_o: StoreOwner, _l: AddressStoreListener): void {}
}

/** A plain object store of one enroller. */
const plain: AddressStore = { load: () => [], bind: () => undefined, release: () => undefined };

it('each store gets the default of the kind the ledger treats it as', () => {
  const stores: Record<string, AddressStore> = {
    memory: new MemoryAddressStore(),
    file: new FileAddressStore('/tmp/review3-never-opened.json'),
    etcd: new EtcdAddressStore({ hosts: 'http://127.0.0.1:1', prefix: '/review3/' }),
    sharedMemory: new SharedMemoryStore(),
    userClass: new MapStore(),
    userLegacyShared: new LegacyShared(),
    plainObject: plain,
  };
  const got: Record<string, { max: number; shared: boolean }> = {};
  for (const [kind, store] of Object.entries(stores)) {
    got[kind] = { max: resolveEnrollerOptions({ ...base, store }).maxPendingEnrollments, shared: sharedCapabilities(store) !== undefined };
  }
  const want = (shared: boolean) => ({ max: shared ? 1024 : 8192, shared });
  expect(got).toEqual({
    memory: want(false),
    file: want(false),
    etcd: want(true),
    sharedMemory: want(true),
    userClass: want(false),
    userLegacyShared: want(true),
    plainObject: want(false),
  });
  // `shared: true` without open: refused when the enroller is made (never run with the single default).
  expect(() => new Enroller({ ...base, store: { ...plain, shared: true } as AddressStore })).toThrow(/must implement open/);
  // No store: a MemoryAddressStore, of one enroller.
  expect(resolveEnrollerOptions(base).maxPendingEnrollments).toBe(8192);
});
