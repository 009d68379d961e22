import { describe, expect, it, vi } from 'vitest';
import { type AddressStoreListener, MemoryAddressStore } from '../../src/store/address-store.js';
import { TICK_MS } from '../../src/util/ticker.js';
import { settle } from '../support/helpers.js';
import { bound, HOLD_MS, ledgerOf } from './ledger-world.js';
import { SharedMemoryStore } from './shared-memory-store.js';

describe('AddressLedger: holds', () => {
  it('a hold frees the address when it ends (not before), in the store and the pool, with one address:released', async () => {
    const store = new MemoryAddressStore();
    const { ledger, clock, released } = ledgerOf(store);
    const address = await bound(ledger, 'a');
    ledger.hold('a');
    clock.advance(HOLD_MS - TICK_MS);
    expect(released).toEqual([]);
    expect(ledger.addressOf('a')).toBe(address);
    clock.advance(3 * TICK_MS);
    expect(released).toEqual([{ name: 'a', address }]);
    expect(ledger.addressOf('a')).toBeUndefined();
    expect(store.load()).toEqual([]);
    clock.advance(10 * HOLD_MS);
    expect(released).toHaveLength(1);
  });

  it('a hold that ends while the name is served again keeps its address', async () => {
    const { ledger, clock, released } = ledgerOf(new MemoryAddressStore(), { serves: (name) => name === 'a' });
    const address = await bound(ledger, 'a');
    ledger.hold('a');
    clock.advance(2 * HOLD_MS);
    expect(released).toEqual([]);
    expect(ledger.addressOf('a')).toBe(address);
    expect(ledger.holding('a')).toBe(false);
  });

  it('endHold cancels the hold and says when it would have ended; a paused hold runs again whole from resumeHolds', async () => {
    const { ledger, clock, released } = ledgerOf(new MemoryAddressStore());
    await bound(ledger, 'a');
    await bound(ledger, 'b');
    const at = clock.now() + HOLD_MS;
    ledger.hold('a');
    ledger.hold('b');
    expect(ledger.endHold('a')).toBe(at);
    ledger.pauseHolds();
    clock.advance(2 * HOLD_MS);
    expect(released).toEqual([]); // a ended, b paused
    ledger.resumeHolds([], 0);
    clock.advance(HOLD_MS + 2 * TICK_MS);
    expect(released.map((r) => r.name)).toEqual(['b']);
  });

  it("a hold asked while the enroller does not run (a shared store's news during a stop) arms no timer; it runs whole from the next start", async () => {
    let running = true;
    const store = new SharedMemoryStore();
    const { ledger, clock, released } = ledgerOf(store, { running: () => running });
    await ledger.open({ name: 'e', shimAddress: 'me' });
    await bound(ledger, 'a');
    running = false; // stop() began: the store is not closed yet, and its watch still speaks
    store.listener?.idle('a');
    expect(ledger.holding('a')).toBe(true);
    expect(clock.pending).toBe(0);
    clock.advance(10 * HOLD_MS);
    expect(released).toEqual([]);
    running = true; // the next start
    ledger.resumeHolds([], 0);
    clock.advance(HOLD_MS - TICK_MS);
    expect(released).toEqual([]);
    clock.advance(3 * TICK_MS);
    expect(released.map((r) => r.name)).toEqual(['a']);
  });
});

describe('AddressLedger: releases', () => {
  it('a release the store fails is tried again after 5 s (not a whole hold), and then frees the address', async () => {
    const store = new MemoryAddressStore();
    const release = vi.spyOn(store, 'release').mockImplementationOnce(() => Promise.reject(new Error('etcd out of reach')) as never);
    const { ledger, clock, released } = ledgerOf(store, {}, 60_000);
    const address = await bound(ledger, 'a');
    ledger.hold('a');
    clock.advance(60_000 + 2 * TICK_MS);
    await settle();
    expect(release).toHaveBeenCalledTimes(1);
    expect(released).toEqual([]);
    expect(ledger.holding('a')).toBe(true);
    clock.advance(5000 + 2 * TICK_MS);
    await settle();
    expect(release).toHaveBeenCalledTimes(2);
    expect(released).toEqual([{ name: 'a', address }]);
  });

  it('a release the store refuses (another enroller serves the name) keeps the binding, and is not retried', async () => {
    const store = new SharedMemoryStore();
    vi.spyOn(store, 'release').mockReturnValue(false);
    const { ledger, clock, released } = ledgerOf(store);
    const address = await bound(ledger, 'a');
    ledger.hold('a');
    clock.advance(10 * HOLD_MS);
    await settle();
    expect(store.release).toHaveBeenCalledTimes(1);
    expect(released).toEqual([]);
    expect(ledger.addressOf('a')).toBe(address);
  });

  it('giveBack: an address bound anew is freed at once; one the name had before is held again (for what was left, at least holdMs)', async () => {
    const store = new SharedMemoryStore();
    const { ledger, clock } = ledgerOf(store);
    await bound(ledger, 'new');
    await bound(ledger, 'old');
    ledger.giveBack('new', true, undefined);
    expect(store.calls).toContain('release new');
    expect(ledger.addressOf('new')).toBeUndefined();
    ledger.giveBack('old', false, clock.now() + 3 * HOLD_MS);
    expect(store.calls).toContain('leave old');
    clock.advance(3 * HOLD_MS - 2 * TICK_MS);
    expect(ledger.addressOf('old')).toBeDefined();
    clock.advance(4 * TICK_MS);
    expect(ledger.addressOf('old')).toBeUndefined();
  });
});

describe('AddressLedger: a shared store or a store of one enroller, decided once', () => {
  it('a store of one enroller: not shared, never left nor asked to vouch, its pool hands out from the start', async () => {
    const store = Object.assign(new MemoryAddressStore(), { leave: vi.fn(), canVouch: vi.fn(() => false) });
    const { ledger } = ledgerOf(store);
    expect(ledger.shared).toBe(false);
    expect(await bound(ledger, 'a')).toBe(1);
    ledger.leave('a');
    expect(store.leave).not.toHaveBeenCalled();
    expect(ledger.vouching()).toBe(true);
    expect(store.canVouch).not.toHaveBeenCalled();
  });

  it('a store that says it is shared: probes from a random point, is left and asked to vouch; doubt fences until unfenced', async () => {
    const store = new SharedMemoryStore();
    const { ledger } = ledgerOf(store);
    expect(ledger.shared).toBe(true);
    expect(await bound(ledger, 'a')).toBe(5); // 1 + floor(0.5 * 9)
    ledger.leave('a');
    expect(store.calls).toContain('leave a');
    expect(ledger.vouching()).toBe(true);
    const fences = ledger.fences;
    store.vouch = false;
    expect(ledger.vouching()).toBe(false);
    expect(ledger.fenced).toBe(true);
    store.vouch = true;
    expect(ledger.proven(fences)).toBe(false); // fenced since
    ledger.unfence(ledger.fencing);
    expect(ledger.proven(ledger.fences)).toBe(true);
    expect(ledger.proven(fences)).toBe(false); // a binding of before the fence stays unproven
  });

  it('a shared store written before `shared` (open, no confirm, no canVouch): confirmed by bind, always vouching', async () => {
    const store = Object.assign(new MemoryAddressStore(), { open: vi.fn() });
    const bind = vi.spyOn(store, 'bind');
    const { ledger } = ledgerOf(store);
    expect(ledger.shared).toBe(true);
    expect(await ledger.confirm({ name: 'a', address: 3 })).toBe(true);
    expect(bind).toHaveBeenCalledWith({ name: 'a', address: 3 });
    bind.mockReturnValueOnce(false as never);
    expect(await ledger.confirm({ name: 'a', address: 3 })).toBe(false);
    bind.mockImplementationOnce(() => {
      throw new Error('down');
    });
    expect(await ledger.confirm({ name: 'a', address: 3 })).toBe(false);
    expect(ledger.vouching()).toBe(true);
  });

  it("a shared store's news reach the pool, the holds and the alternates; a new lease asks for the members to be proven", async () => {
    const store = new SharedMemoryStore();
    const { ledger, clock, released, host } = ledgerOf(store);
    await ledger.open({ name: 'e', shimAddress: 'me' });
    const listener = store.listener as AddressStoreListener;
    listener.bound({ name: 'x', address: 7 });
    expect(ledger.addressOf('x')).toBe(7);
    listener.idle('x');
    expect(ledger.holding('x')).toBe(true);
    listener.unbound('x');
    expect(ledger.holding('x')).toBe(false);
    expect(ledger.addressOf('x')).toBeUndefined();
    clock.advance(2 * HOLD_MS);
    expect(released).toEqual([]);
    listener.enrollers(['me', 'other']);
    expect(ledger.otherEnrollers).toEqual(['other']);
    listener.fenced?.(true);
    expect(ledger.fenced).toBe(true);
    listener.fenced?.(false);
    expect(host.leaseBack).toHaveBeenCalledTimes(1);
  });
});
