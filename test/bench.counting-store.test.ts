/**
 * The benchmark's pass-through store (bench/lib/counting-store.ts) must leave the enroller running as it would on the
 * store it wraps. Found by a review (2026-12-06; fixed with it): it passed on only load, bind, release, open, leave and
 * close, so the scale scenario's enrollers on etcd confirmed by binding, vouched through their lease doubts, never
 * doubted, and undid bindings the store had seen committed.
 */
import { expect, it } from 'vitest';
import { countingStore } from '../bench/lib/counting-store.js';
import { type AddressStore, sharedCapabilities } from '../src/store/address-store.js';

it('passes on every optional member of the store it wraps, and adds none it lacks', async () => {
  const seen: string[] = [];
  const inner: AddressStore = {
    shared: true,
    load: () => [],
    bind: () => true,
    release: () => true,
    open: () => undefined,
    confirm: (b) => {
      seen.push(`confirm ${b.name}`);
      return false;
    },
    leave: () => undefined,
    close: () => undefined,
    canVouch: () => false,
    doubting: () => true,
    addressOf: (name) => (name === 'm' ? 7 : undefined),
  };
  const { store } = countingStore(inner);
  const caps = sharedCapabilities(store);
  expect(store.shared).toBe(true);
  expect(caps?.canVouch()).toBe(false);
  expect(caps?.doubting()).toBe(true);
  expect(caps?.addressOf('m')).toBe(7);
  expect(await caps?.confirm({ name: 'm', address: 7 })).toBe(false);
  expect(seen).toEqual(['confirm m']);

  const plain = countingStore({ load: () => [], bind: () => undefined, release: () => undefined }).store;
  expect(Object.keys(plain).sort()).toEqual(['bind', 'load', 'release']);
  expect(sharedCapabilities(plain)).toBeUndefined();
});
