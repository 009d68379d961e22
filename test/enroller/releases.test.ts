/** Releases: a late answer frees the pool's address only if the name did not come back since its release was sent. */
import { expect, it, vi } from 'vitest';
import { AddressPool } from '../../src/enroller/address-pool.js';
import { Releases } from '../../src/enroller/releases.js';
import { MemoryAddressStore } from '../../src/store/address-store.js';

/** Releases over a pool of 1-9 and a store whose releases answer when the test says. */
function releasesOf(shared = false, holdMs = 1000) {
  const pool = new AddressPool({ first: 1, last: 9 });
  const answers: Array<(released: boolean) => void> = [];
  const store = new MemoryAddressStore();
  store.release = () => new Promise<boolean>((resolve) => answers.push(resolve)) as never;
  const host = { pool, store, shared, serves: () => false, running: () => true, unbound: vi.fn(), holdAgain: vi.fn(), holdMs };
  return { releases: new Releases(host), pool, answers, host };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

it('frees the address when the store answers, and tells who asked', async () => {
  const { releases, pool, answers } = releasesOf();
  pool.set('m', 3);
  const freed: number[] = [];
  releases.release('m', (address) => freed.push(address));
  answers.shift()?.(true);
  await settle();
  expect([pool.addressOf('m'), freed]).toEqual([undefined, [3]]);
});

it('two releases of one name in flight: the name back before either answers keeps its address through both answers', async () => {
  const { releases, pool, answers } = releasesOf();
  pool.set('m', 3);
  const freed: number[] = [];
  releases.release('m', (address) => freed.push(address));
  releases.release('m', (address) => freed.push(address));
  releases.again('m'); // bound again, to the same address
  answers.shift()?.(true);
  answers.shift()?.(true);
  await settle();
  expect([pool.addressOf('m'), freed]).toEqual([3, []]);
  // Both answered: a later release is judged afresh.
  releases.release('m', (address) => freed.push(address));
  answers.shift()?.(true);
  await settle();
  expect([pool.addressOf('m'), freed]).toEqual([undefined, [3]]);
});

it('a store that fails is tried again after at most RETRY_RELEASE_MS; one that refuses keeps the binding', async () => {
  const { releases, pool, answers, host } = releasesOf(true, 60_000);
  pool.set('m', 3);
  releases.release('m');
  answers.shift()?.(false);
  await settle();
  expect(pool.addressOf('m')).toBe(3);
  expect(host.holdAgain).not.toHaveBeenCalled();
  host.store.release = () => Promise.reject(new Error('etcd out of reach')) as never;
  releases.release('m');
  await settle();
  expect(host.holdAgain).toHaveBeenCalledWith('m', 5000);
  expect(host.unbound).not.toHaveBeenCalled();
});
