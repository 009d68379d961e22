/**
 * The ledger's less travelled paths, each pinned by what it must do: the
 * names a restart finds unserved, a failed bind undone, a binding confirmed
 * through a store of one enroller, a release overtaken by news, and the
 * fence's bookkeeping (counted once per lapse, logged once, lifted only by
 * its own token).
 */
import { describe, expect, it, vi } from 'vitest';
import type { AddressBinding, AddressStoreListener } from '../../src/store/address-store.js';
import { MemoryAddressStore } from '../../src/store/address-store.js';
import { TICK_MS } from '../../src/util/ticker.js';
import { settle } from '../support/helpers.js';
import { bound, HOLD_MS, ledgerOf } from './ledger-world.js';
import { SharedMemoryStore } from './shared-memory-store.js';

/** A store of one enroller whose releases wait until `finish()` is called. */
class SlowReleaseStore extends MemoryAddressStore {
  #finish: Array<() => void> = [];
  override release(name: string): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#finish.push(() => {
        super.release(name);
        resolve();
      });
    });
  }
  finish(): void {
    for (const f of this.#finish.splice(0)) f();
  }
}

const b = (name: string, address: number): AddressBinding => ({ name, address });

describe('AddressLedger: a restart', () => {
  it('unserved: the restored names of a store of one enroller that are not skipped, not members and not held', async () => {
    const { ledger } = ledgerOf(new MemoryAddressStore());
    await bound(ledger, 'held');
    ledger.hold('held');
    const restored = [b('a', 1), b('member', 2), b('skipped', 3), b('held', 4), b('z', 5)];
    const unserved = ledger.unserved({ restored, skipped: [b('skipped', 3)] }, (name) => name === 'member');
    expect(unserved).toEqual(['a', 'z']);
  });

  it('unserved: none with a shared store (its news say who is alive)', () => {
    const { ledger } = ledgerOf(new SharedMemoryStore());
    expect(ledger.unserved({ restored: [b('a', 1)], skipped: [] }, () => false)).toEqual([]);
  });
});

describe('AddressLedger: binds', () => {
  it('undo: a failed bind gives the name back nothing, or the address it held before; never an address it has been given since', () => {
    const { ledger } = ledgerOf(new MemoryAddressStore());
    const first = ledger.assign('a', 0);
    expect(first).toEqual({ ok: true, address: 1 });
    ledger.undo(b('a', 1), undefined);
    expect(ledger.addressOf('a')).toBeUndefined();
    ledger.assign('a', 3);
    ledger.undo(b('a', 3), 7);
    expect(ledger.addressOf('a')).toBe(7);
    ledger.undo(b('a', 3), undefined); // 'a' has 7 now, not the 3 that failed
    expect(ledger.addressOf('a')).toBe(7);
  });

  it('confirm through a store of one enroller: its bind again, false when it refuses or fails', async () => {
    const store = new MemoryAddressStore();
    const bind = vi.spyOn(store, 'bind');
    const { ledger } = ledgerOf(store);
    expect(await ledger.confirm(b('a', 3))).toBe(true);
    expect(bind).toHaveBeenCalledWith(b('a', 3));
    bind.mockReturnValueOnce(false as never);
    expect(await ledger.confirm(b('a', 3))).toBe(false);
    bind.mockImplementationOnce(() => Promise.reject(new Error('disk full')) as never);
    expect(await ledger.confirm(b('a', 3))).toBe(false);
  });
});

describe('AddressLedger: giving back and releasing', () => {
  it('giveBack of a name already held changes nothing: no release, the hold runs on', async () => {
    const store = new SharedMemoryStore();
    const { ledger } = ledgerOf(store);
    await bound(ledger, 'a');
    ledger.hold('a');
    ledger.giveBack('a', true, undefined);
    expect(store.callsOf('release')).toEqual([]);
    expect(ledger.holding('a')).toBe(true);
    expect(ledger.addressOf('a')).toBe(1 + Math.floor(0.5 * 9));
  });

  it('free: the address goes from the store and the pool at once, without an address:released event', async () => {
    const store = new MemoryAddressStore();
    const { ledger, released } = ledgerOf(store);
    await bound(ledger, 'a');
    ledger.free('a');
    expect(ledger.addressOf('a')).toBeUndefined();
    expect(store.load()).toEqual([]);
    expect(released).toEqual([]);
  });

  it('a store whose release throws at once keeps the binding in the pool, and nothing is told', async () => {
    const store = new MemoryAddressStore();
    vi.spyOn(store, 'release').mockImplementation(() => {
      throw new Error('closed');
    });
    const { ledger, clock, released } = ledgerOf(store);
    await bound(ledger, 'a');
    ledger.hold('a');
    clock.advance(HOLD_MS + 2 * TICK_MS);
    expect(ledger.addressOf('a')).toBe(1);
    expect(released).toEqual([]);
  });

  it('a release that completes after the name got another address keeps the new one', async () => {
    const store = new SlowReleaseStore();
    const { ledger, clock, released } = ledgerOf(store);
    await bound(ledger, 'a');
    ledger.hold('a');
    clock.advance(HOLD_MS + 2 * TICK_MS);
    ledger.undo(b('a', 1), 5); // the pool moved 'a' meanwhile (here: to 5)
    store.finish();
    await settle();
    expect(ledger.addressOf('a')).toBe(5);
    expect(released).toEqual([]);
  });

  it('a release that completes after the pool forgot the name (news from a shared store) is still told, once', async () => {
    const store = new SlowReleaseStore();
    const { ledger, clock, released } = ledgerOf(store);
    await bound(ledger, 'a');
    ledger.hold('a');
    clock.advance(HOLD_MS + 2 * TICK_MS);
    ledger.undo(b('a', 1), undefined);
    store.finish();
    await settle();
    expect(released).toEqual([{ name: 'a', address: 1 }]);
  });

  it('a failed release is not retried once the name is served again', async () => {
    const store = new MemoryAddressStore();
    const release = vi.spyOn(store, 'release').mockImplementation(() => Promise.reject(new Error('etcd out of reach')) as never);
    const { ledger } = ledgerOf(store, { serves: (name: string) => name === 'a' });
    await bound(ledger, 'a');
    ledger.free('a');
    await settle();
    expect(release).toHaveBeenCalledTimes(1);
    expect(ledger.holding('a')).toBe(false);
  });

  it('a stopped enroller writes nothing: a release waits, held, for the next start', async () => {
    const store = new MemoryAddressStore();
    const release = vi.spyOn(store, 'release');
    const { ledger } = ledgerOf(store, { running: () => false });
    await bound(ledger, 'a');
    ledger.free('a');
    await settle();
    expect(release).not.toHaveBeenCalled();
    expect(ledger.holding('a')).toBe(true);
    expect(ledger.addressOf('a')).toBeDefined();
  });
});

describe('AddressLedger: the fence', () => {
  it('a store of one enroller is never fenced nor doubted', () => {
    const { ledger } = ledgerOf(new MemoryAddressStore());
    expect(ledger.fenced).toBe(false);
    expect(ledger.doubted()).toBe(false);
    expect(ledger.fencing).toBeUndefined();
  });

  it('doubted() asks the shared store without fencing; vouching() fences', () => {
    const store = new SharedMemoryStore();
    const { ledger } = ledgerOf(store);
    store.vouch = false;
    expect(ledger.doubted()).toBe(true);
    expect(ledger.fenced).toBe(false);
    expect(ledger.vouching()).toBe(false);
    expect(ledger.fenced).toBe(true);
  });

  it('each lapse counts a fence, the first of a run is logged once with the member count; unfence lifts only its own token, or any without one', async () => {
    const store = new SharedMemoryStore();
    const { ledger, logs } = ledgerOf(store, { memberCount: () => 42 });
    await ledger.open({ name: 'e', shimAddress: 'me' });
    const listener = store.listener as AddressStoreListener;
    const before = ledger.fences;
    listener.fenced?.(true);
    const first = ledger.fencing;
    expect(ledger.fences).toBe(before + 1);
    expect(first).toBe(ledger.fences);
    listener.fenced?.(true); // fenced again before being proven: a new token, no second line
    expect(ledger.fences).toBe(before + 2);
    expect(ledger.fencing).toBe(before + 2);
    expect(logs).toEqual([
      {
        level: 'warn',
        fields: { enroller: 'e', event: 'enroller:fenced', members: 42 },
        message:
          "lost its lease in the shared store: it cannot prove its 42 members' addresses current; refusing them until the store is back",
      },
    ]);
    ledger.unfence(first); // a revalidation of the first fence is void
    expect(ledger.fenced).toBe(true);
    ledger.unfence(ledger.fencing);
    expect(ledger.fenced).toBe(false);
    listener.fenced?.(true);
    expect(logs).toHaveLength(2); // a new run of fences is logged again
    ledger.unfence();
    expect(ledger.fenced).toBe(false);
  });

  it("a shared store's idle news does not hold a name the enroller serves", async () => {
    const store = new SharedMemoryStore();
    const { ledger } = ledgerOf(store, { serves: (name) => name === 'mine' });
    await ledger.open({ name: 'e', shimAddress: 'me' });
    const listener = store.listener as AddressStoreListener;
    listener.bound({ name: 'mine', address: 3 });
    listener.idle('mine');
    expect(ledger.holding('mine')).toBe(false);
    listener.bound({ name: 'other', address: 4 });
    listener.idle('other');
    expect(ledger.holding('other')).toBe(true);
  });
});
