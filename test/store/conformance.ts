/**
 * The AddressStore contract, run against every store: memory, file and etcd.
 * A store keeps bindings across a restart, holds any name, survives
 * concurrent binds, and the bindings an enroller restores are held and then
 * released when nobody comes back for them.
 */
import { expect, it } from 'vitest';
import { type AddressBinding, type AddressStore, type AddressStoreListener, Enroller, MemoryNetwork, MemoryRib } from '../../src/index.js';
import { member, onCleanup, until } from '../support/helpers.js';

/** How a conformance run gets stores. */
export interface StoreHarness {
  /**
   * A store over the shared durable state (the same object, file or etcd
   * prefix): a "restart" is a new instance. `opened` instances are ready for
   * calls (a shared store is opened under a fresh enroller name); the others
   * are handed to an Enroller, which opens them.
   */
  instance(opened: boolean): Promise<AddressStore>;
  /** Closes what the harness opened. */
  close(): Promise<void>;
  /** How long a killed enroller's members take to be seen idle by a restarted one (a shared store's lease TTL), in ms. */
  readonly idleAfterMs: number;
}

/** Names that break a store keyed by plain objects, or by bytes. */
export const HOSTILE_NAMES = [
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  'prototype',
  'valueOf',
  'ünïcödé-名前',
  '🦀 crab',
  'with/slash and %25 and ..',
  ' spaced ',
  'n'.repeat(300),
];

/** A listener for opening a shared store by hand. */
export const quietListener: AddressStoreListener = {
  bound: () => undefined,
  unbound: () => undefined,
  idle: () => undefined,
  enrollers: () => undefined,
};

const sorted = (bindings: AddressBinding[]) => [...bindings].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

/** Registers the conformance tests (call inside a describe). */
export function addressStoreConformance(make: () => Promise<StoreHarness>): void {
  it('keeps binds, rebinds and releases across a restart', async () => {
    const h = await make();
    onCleanup(() => h.close());
    const store = await h.instance(true);
    expect(await store.load()).toEqual([]);
    await store.bind({ name: 'a', address: 10 });
    await store.bind({ name: 'b', address: 11 });
    await store.bind({ name: 'a', address: 12 });
    await store.release('b');
    const again = await h.instance(true);
    expect(await again.load()).toEqual([{ name: 'a', address: 12 }]);
  });

  it('holds any name: __proto__, constructor, Unicode, slashes, 300 characters', async () => {
    const h = await make();
    onCleanup(() => h.close());
    const store = await h.instance(true);
    await store.load();
    const bindings = HOSTILE_NAMES.map((name, i) => ({ name, address: 100 + i }));
    for (const b of bindings) await store.bind(b);
    await store.release('__proto__');
    await store.bind({ name: 'constructor', address: 99 });
    const expected = bindings.filter((b) => b.name !== '__proto__').map((b) => (b.name === 'constructor' ? { ...b, address: 99 } : b));
    const again = await h.instance(true);
    expect(sorted(await again.load())).toEqual(sorted(expected));
    await store.bind({ name: '__proto__', address: 98 });
    const third = await h.instance(true);
    expect(sorted(await third.load())).toEqual(sorted([...expected, { name: '__proto__', address: 98 }]));
  });

  it('100 concurrent binds are all durable', async () => {
    const h = await make();
    onCleanup(() => h.close());
    const store = await h.instance(true);
    await store.load();
    const bindings = Array.from({ length: 100 }, (_, i) => ({ name: `m${i}`, address: 1000 + i }));
    const results = await Promise.all(bindings.map((b) => store.bind(b)));
    expect(results.every((r) => r !== false)).toBe(true);
    const again = await h.instance(true);
    expect(sorted(await again.load())).toEqual(sorted(bindings));
  });

  it('a restarted enroller holds the bindings it restored, and releases those nobody came back for', async () => {
    const h = await make();
    onCleanup(() => h.close());
    const net = new MemoryNetwork({ seed: 41 });
    onCleanup(() => net.close());
    const pool = { first: 1, last: 2 };
    const start = async (store: AddressStore) => {
      const enroller = new Enroller({
        shim: net.attach('e'),
        rib: new MemoryRib(),
        ipcpName: 'e',
        difName: 'conformance.DIF',
        addressPool: pool,
        store,
        holdMs: 300,
        leaseMs: 1000, // a restored name is held a lease and the hold: 1.3 s, ample for "back" to return on a loaded machine
        advertisedAddress: 'e',
      });
      await enroller.start();
      onCleanup(() => enroller.stop());
      return enroller;
    };
    const first = await start(await h.instance(false));
    const { mgr: gone } = member(net, 'gone', { timeoutMs: 2000 });
    // 'back' keeps talking once it is back (keepalives well within the 1 s lease), so only 'gone' may be released.
    const { mgr: back } = member(net, 'back', { timeoutMs: 2000, heartbeatIntervalSecs: 0.2, connectionTimeoutSecs: 10 });
    await gone.enrolWithBootstrap('e');
    await back.enrolWithBootstrap('e');
    const backAddress = back.address;
    // The enroller dies without a word, and so does 'gone'; the pool of two is full.
    net.detach('e');
    net.detach('gone');
    await first.stop();
    const second = await start(await h.instance(false));
    const released: string[] = [];
    second.on('address:released', (b) => released.push(b.name));
    // 'back' returns within the hold and gets its address again.
    await back.reEnroll();
    back.startConnectionMonitoring();
    expect(back.address).toBe(backAddress);
    // 'gone' never does: after a lease and the hold (a shared store: its lease TTL and the hold), its address is free again.
    await until(() => released.includes('gone'), h.idleAfterMs + 5000, "the hold of the restored binding of 'gone'");
    expect(released).toEqual(['gone']);
    const { mgr: newcomer } = member(net, 'newcomer', { timeoutMs: 2000 });
    await newcomer.enrolWithBootstrap('e');
    expect(newcomer.address).not.toBe(backAddress);
  });
}
