/** The etcd store's copy of the shared table, fed by hand (no etcd needed). */
import type { IKeyValue } from 'etcd3';
import { describe, expect, it, vi } from 'vitest';
import { EtcdKeys } from '../../src/etcd/keys.js';
import { AddressTable } from '../../src/etcd/table.js';
import type { AddressStoreListener } from '../../src/store/address-store.js';

const PREFIX = '/rina/demo.DIF/';

const kv = (key: string, value: string, modRevision: number, createRevision = modRevision): IKeyValue =>
  ({
    key: Buffer.from(PREFIX + key),
    value: Buffer.from(value),
    mod_revision: String(modRevision),
    create_revision: String(createRevision),
  }) as IKeyValue;

function table(owner = 'e1') {
  const listener = { bound: vi.fn(), unbound: vi.fn(), idle: vi.fn(), enrollers: vi.fn() } satisfies AddressStoreListener;
  const strayMark = vi.fn();
  const keys = new EtcdKeys(PREFIX, () => owner);
  const t = new AddressTable({
    keys,
    stats: { transactions: 0, conflicts: 0, rangeReads: 0, watchEvents: 0, leaseRenewals: 0 },
    listener: () => listener,
    ownerName: () => owner,
    strayMark,
  });
  return { t, listener, strayMark, keys };
}

describe('AddressTable', () => {
  it('a late watch event cannot undo a newer transaction result', () => {
    const { t, keys } = table();
    t.record(keys.name('a'), { value: '7', createRevision: 10, modRevision: 10 }, 10);
    t.onEvent(kv('names/a', '3', 5), false); // older than what the transaction saw
    expect(t.name('a')?.value).toBe('7');
    t.onEvent(kv('names/a', '8', 11), false);
    expect(t.name('a')?.value).toBe('8');
  });

  it('a read adopted anew: bindings missing from it are gone, names nobody serves are idle, other enrollers announced', () => {
    const { t, listener } = table();
    t.adopt([kv('names/a', '1', 2), kv('addresses/1', 'a', 2), kv('names/b', '2', 3), kv('members/b/e2', '', 4)], 4);
    expect(t.bindings()).toEqual([
      { name: 'a', address: 1 },
      { name: 'b', address: 2 },
    ]);
    expect(listener.idle.mock.calls.map(([n]) => n)).toEqual(['a']);
    listener.idle.mockClear();
    // a resync at revision 9: "a" was deleted meanwhile, "b"'s last mark went, an enroller registered
    t.adopt([kv('names/b', '2', 3), kv('enrollers/e2', JSON.stringify({ shimAddress: '10.0.0.2:7000' }), 8)], 9);
    expect(t.name('a')).toBeUndefined();
    expect(t.address(1)).toBeUndefined();
    expect(listener.unbound).toHaveBeenCalledWith('a');
    expect(listener.idle.mock.calls.map(([n]) => n)).toEqual(['b']);
    expect(listener.enrollers).toHaveBeenLastCalledWith(['10.0.0.2:7000']);
  });

  it('tells the pool of an address taken by another name at once; a name whose last mark goes is idle', () => {
    const { t, listener } = table();
    t.onEvent(kv('addresses/4', 'x', 3), false);
    expect(listener.bound).toHaveBeenCalledWith({ name: 'x', address: 4 });
    t.onEvent(kv('names/x', '4', 3), false);
    t.onEvent(kv('names/x', '4', 4), false); // rewritten to the same address: nothing new
    expect(listener.bound.mock.calls).toEqual([[{ name: 'x', address: 4 }], [{ name: 'x', address: 4 }]]);
    t.onEvent(kv('members/x/e2', '', 5), false);
    t.onEvent(kv('members/x/e2', '', 6), true);
    expect(listener.idle).toHaveBeenCalledWith('x');
  });

  it("a live mark of this enroller's is reported as a possible stray; others' and keys it cannot read are not", () => {
    const { t, strayMark } = table('e1');
    t.onEvent(kv('members/a/e1', '', 3), false);
    t.onEvent(kv('members/a/e2', '', 4), false);
    t.onEvent(kv('names/%E0%A4%A', '1', 5), false); // bad %-escape: not ours
    t.onEvent(kv('names/b', 'not an address', 6), false);
    expect(strayMark).toHaveBeenCalledTimes(1);
    expect(strayMark.mock.calls[0]?.[0]).toBe('a');
    expect(t.bindings()).toEqual([]);
  });

  it('ignores keys of the wrong shape under the prefix, and keys outside it', () => {
    const { t, listener, strayMark } = table('e1');
    const stray = (key: string, value = '1') => ({ ...kv('', value, 3), key: Buffer.from(key) }) as IKeyValue;
    for (const key of [
      'names/a/extra',
      'names/',
      'addresses/',
      'addresses/0',
      'addresses/1/x',
      'addresses/01',
      'members/a',
      'members/a/e1/x',
      'members//e1',
      'enrollers/',
      'enrollers/e2/x',
      'other/a',
    ]) {
      t.onEvent(kv(key, key.startsWith('enrollers') ? JSON.stringify({ shimAddress: '10.0.0.9:1' }) : '1', 3), false);
    }
    t.onEvent(stray('/elsewhere/names/a'), false);
    t.onEvent(kv('addresses/5', '', 4), false); // an address key must name its holder
    expect(t.bindings()).toEqual([]);
    expect(t.address(1)).toBeUndefined();
    expect(t.address(5)).toBeUndefined();
    expect(listener.bound).not.toHaveBeenCalled();
    expect(listener.enrollers).not.toHaveBeenCalled();
    expect(strayMark).not.toHaveBeenCalled();
    // the same keys well formed are read
    t.onEvent(kv('names/a', '1', 5), false);
    t.onEvent(kv('addresses/1', 'a', 5), false);
    t.onEvent(kv('members/a/e1', '', 5), false);
    t.onEvent(kv('enrollers/e2', JSON.stringify({ shimAddress: '10.0.0.9:1' }), 5), false);
    expect(t.bindings()).toEqual([{ name: 'a', address: 1 }]);
    expect(strayMark).toHaveBeenCalledTimes(1);
    expect(listener.enrollers).toHaveBeenLastCalledWith(['10.0.0.9:1']);
  });
});
