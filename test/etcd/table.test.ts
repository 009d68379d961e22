/** The etcd store's copy of the shared table, fed by hand (no etcd needed). */
import type { IKeyValue } from 'etcd3';
import { describe, expect, it, vi } from 'vitest';
import { EtcdKeys } from '../../src/etcd/keys.js';
import { AddressTable } from '../../src/etcd/table.js';
import { mockListener, zeroStats } from '../support/scripted-etcd.js';

const PREFIX = '/rina/demo.DIF/';

const kv = (key: string, value: string, modRevision: number, createRevision = modRevision): IKeyValue =>
  ({
    key: Buffer.from(PREFIX + key),
    value: Buffer.from(value),
    mod_revision: String(modRevision),
    create_revision: String(createRevision),
  }) as IKeyValue;

function table(owner = 'e1') {
  const listener = mockListener();
  const strayMark = vi.fn();
  const ownMarkGone = vi.fn();
  const readAgain = vi.fn();
  const keys = new EtcdKeys(PREFIX, () => owner);
  const stats = zeroStats();
  const t = new AddressTable({
    keys,
    stats,
    listener: () => listener,
    ownerName: () => owner,
    strayMark,
    ownMarkGone,
    readAgain,
  });
  return { t, listener, strayMark, ownMarkGone, readAgain, keys, stats };
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
    t.adopt(
      [kv('names/a', '1', 2), kv('addresses/1', 'a', 2), kv('names/b', '2', 3), kv('addresses/2', 'b', 3), kv('members/b/e2', '', 4)],
      4,
    );
    expect(t.bindings()).toEqual([
      { name: 'a', address: 1 },
      { name: 'b', address: 2 },
    ]);
    expect(listener.idle.mock.calls.map(([n]) => n)).toEqual(['a']);
    listener.idle.mockClear();
    // a resync at revision 9: "a" was deleted meanwhile, "b"'s last mark went, an enroller registered
    t.adopt([kv('names/b', '2', 3), kv('addresses/2', 'b', 3), kv('enrollers/e2', JSON.stringify({ shimAddress: '10.0.0.2:7000' }), 8)], 9);
    expect(t.name('a')).toBeUndefined();
    expect(t.address(1)).toBeUndefined();
    expect(t.address(2)?.value).toBe('b'); // still there, unchanged since revision 3
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

  it("reports a live deletion of this enroller's mark with the deletion's revision; others' not", () => {
    const { t, ownMarkGone } = table('e1');
    t.onEvent(kv('members/a/e1', '', 3), false);
    t.onEvent(kv('members/a/e2', '', 6), false);
    t.onEvent(kv('members/a/e2', '', 7), true);
    expect(ownMarkGone).not.toHaveBeenCalled();
    t.onEvent(kv('members/a/e1', '', 9), true); // a delete event's revision is the deletion's
    t.onEvent(kv('members/b/e1', '', 10), true); // never seen written: still ours, still gone
    expect(ownMarkGone.mock.calls).toEqual([
      ['a', 9],
      ['b', 10],
    ]);
  });

  it('a table read again (not the first read) tells our marks in it, at their revisions, and the revision read', () => {
    const { t, readAgain } = table('e1');
    t.adopt([kv('members/c/e1', '', 2)], 2);
    expect(readAgain).not.toHaveBeenCalled(); // the first read: an earlier run's marks die with its lease
    t.adopt([kv('members/d/e1', '', 2), kv('members/e/e1', '', 11), kv('members/e/e2', '', 11)], 12);
    expect(readAgain.mock.calls).toEqual([
      [
        12,
        new Map([
          ['d', 2],
          ['e', 11],
        ]),
      ],
    ]);
  });

  it('a late read of a binding deleted before the tombstones were pruned is not news (a twelfth review, 2026-12-06)', () => {
    // A refused bind's failure branch read x -> 5 at R; its answer comes after the watch showed x released at D > R,
    // and that deletion took the table past 10,000 tombstones, which were pruned. Before the fix x came back.
    for (const between of [10, 9_999]) {
      const { t, keys, listener } = table('e1');
      t.adopt([kv('names/x', '5', 90), kv('addresses/5', 'x', 90), kv('members/x/e2', '', 90)], 95);
      t.onEvent(kv('members/x/e2', '', 96), true);
      let rev = 96;
      for (let i = 0; i < between; i++) {
        t.onEvent(kv(`names/n${i}`, String(1000 + i), ++rev), false);
        t.onEvent(kv(`names/n${i}`, '', ++rev), true);
      }
      t.onEvent(kv('names/x', '', rev + 2), true);
      t.onEvent(kv('addresses/5', '', rev + 2), true);
      const boundX = () => listener.bound.mock.calls.filter(([b]) => b.name === 'x').length;
      const before = boundX();
      t.learn(keys.name('x'), kv('names/x', '5', 90), rev + 1);
      t.learn(keys.address(5), kv('addresses/5', 'x', 90), rev + 1);
      expect({ between, x: t.name('x'), five: t.address(5), bound: boundX() - before }).toEqual({
        between,
        x: undefined,
        five: undefined,
        bound: 0,
      });
      t.onEvent(kv('names/x', '7', rev + 3), false); // bound again later: news
      expect(t.name('x')?.value).toBe('7');
    }
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
      'enrollers/a/e1',
      'enrollers//x',
      'names//a',
      'names/a/e1',
      'addresses/1/e1',
      'members/e1',
      'other/a',
      'other/a/e1',
    ]) {
      t.onEvent(kv(key, key.startsWith('enrollers') ? JSON.stringify({ shimAddress: '10.0.0.9:1' }) : '1', 3), false);
    }
    t.onEvent(stray('/elsewhere/names/a'), false);
    t.onEvent(stray('/rina/demo.NET/names/a'), false); // another DIF's, its prefix as long as ours
    t.onEvent(stray('/rina/demo.NET/members/a/e1'), false);
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

  it('forgets deletions once 10,000 pile up behind the watch, still refusing an older write of their keys; never what it holds nor what the watch has not passed', () => {
    const { t, keys } = table();
    t.onEvent(kv('names/kept', '1', 5), false);
    t.learn(keys.name('ahead'), undefined, 99_999); // a transaction saw it deleted beyond the watch
    for (let i = 0; i < 10_000; i++) t.onEvent(kv(`names/gone${i}`, '2', 10 + i), true);
    const stale = { value: '3', createRevision: 1, modRevision: 1 };
    // the prune ran: the deletions the watch passed are forgotten, but a write no newer than the watch then is stale
    // (every key alive was remembered): a late transaction read is not news (a twelfth review)
    t.record(keys.name('gone0'), stale, 1);
    t.record(keys.name('gone9999'), stale, 10_009);
    expect(t.name('gone0')).toBeUndefined();
    expect(t.name('gone9999')).toBeUndefined();
    t.record(keys.name('gone0'), { value: '4', createRevision: 10_010, modRevision: 10_010 }, 10_010);
    expect(t.name('gone0')?.value).toBe('4'); // newer than the watch at the prune: news
    // a held key's revision was kept, and so was the deletion the watch has not reached yet
    t.record(keys.name('kept'), stale, 1);
    t.record(keys.name('ahead'), stale, 1);
    expect(t.name('kept')?.value).toBe('1');
    expect(t.name('ahead')).toBeUndefined();
  });

  it('keeps 10,000 deletions: an older write of a deleted key is refused until then', () => {
    const { t, keys } = table();
    for (let i = 0; i < 10_000; i++) t.onEvent(kv(`names/gone${i}`, '2', 10 + i), true);
    t.record(keys.name('gone0'), { value: '3', createRevision: 1, modRevision: 1 }, 1);
    expect(t.name('gone0')).toBeUndefined();
  });

  it('a read counts as the watch having passed its revision: deletions behind it are forgotten at the prune', () => {
    const { t, keys } = table();
    t.adopt([], 20_000);
    for (let i = 0; i < 10_000; i++) t.learn(keys.name(`gone${i}`), undefined, 10_000 + i);
    t.onEvent(kv('names/last', '1', 5), true); // the 10,001st deletion, from an old watch event
    t.record(keys.name('gone0'), { value: '3', createRevision: 1, modRevision: 1 }, 1);
    expect(t.name('gone0')).toBeUndefined(); // (forgotten, and older than the read: stale)
    t.record(keys.name('gone0'), { value: '3', createRevision: 20_001, modRevision: 20_001 }, 20_001);
    expect(t.name('gone0')?.value).toBe('3');
  });

  it('address deletions count toward the prune and are forgotten by it; address writes are not deletions', () => {
    const stale = { value: 'old', createRevision: 1, modRevision: 1 };
    const deleted = table();
    for (let i = 0; i <= 10_000; i++) deleted.t.onEvent(kv(`addresses/${i + 1}`, '', 10 + i), true);
    deleted.t.record(deleted.keys.address(1), stale, 1);
    expect(deleted.t.address(1)).toBeUndefined(); // (forgotten at the prune, and older than it: stale)
    deleted.t.record(deleted.keys.address(1), { value: 'new', createRevision: 20_000, modRevision: 20_000 }, 20_000);
    expect(deleted.t.address(1)?.value).toBe('new');

    const written = table();
    written.t.onEvent(kv('addresses/1', '', 5), true);
    for (let i = 0; i <= 10_000; i++) written.t.onEvent(kv(`addresses/${i + 2}`, `n${i}`, 10 + i), false);
    written.t.record(written.keys.address(1), stale, 1);
    expect(written.t.address(1)).toBeUndefined();
  });

  it('a key at the revision it was seen at is no news; neither is an older one of an address', () => {
    const { t, keys, listener } = table();
    t.onEvent(kv('names/a', '1', 5), false);
    t.record(keys.name('a'), { value: '2', createRevision: 5, modRevision: 5 }, 5);
    expect(t.name('a')?.value).toBe('1');
    t.onEvent(kv('addresses/4', 'x', 10), false);
    t.onEvent(kv('addresses/4', 'y', 5), false);
    expect(t.address(4)?.value).toBe('x');
    expect(listener.bound.mock.calls).toEqual([[{ name: 'a', address: 1 }], [{ name: 'x', address: 4 }]]);
  });

  it("an address key that agrees with its name's binding, seen after it, tells the pool nothing new", () => {
    const { t, listener } = table();
    t.onEvent(kv('names/x', '4', 3), false);
    t.onEvent(kv('addresses/4', 'x', 3), false);
    expect(listener.bound).toHaveBeenCalledTimes(1);
    expect(t.address(4)?.value).toBe('x');
  });

  it("a read's keys are not live: its own marks are not strays, the enrollers announced once", () => {
    const { t, listener, strayMark } = table('e1');
    const reg = (shimAddress: string) => JSON.stringify({ shimAddress });
    t.adopt(
      [
        kv('names/a', '1', 2),
        kv('members/a/e1', '', 3),
        kv('enrollers/e2', reg('10.0.0.2:1'), 4),
        kv('enrollers/e3', reg('10.0.0.3:1'), 5),
      ],
      5,
    );
    expect(strayMark).not.toHaveBeenCalled();
    expect(listener.enrollers.mock.calls).toEqual([[['10.0.0.2:1', '10.0.0.3:1']]]);
  });

  it('counts the watch events it applies, readable or not', () => {
    const { t, stats } = table();
    t.onEvent(kv('names/a', '1', 2), false);
    t.onEvent(kv('other/b', '1', 3), false);
    t.learn(`${PREFIX}names/c`, kv('names/c', '2', 4), 4); // a transaction's, not the watch's
    expect(stats.watchEvents).toBe(2);
  });

  it("a transaction's failure branch teaches the table without announcing: the key as found, or gone", () => {
    const { t, keys, listener, strayMark } = table('e1');
    t.learn(keys.name('a'), kv('names/a', '9', 4), 4);
    t.learn(keys.address(9), kv('addresses/9', 'a', 4), 4);
    expect(t.name('a')?.value).toBe('9');
    expect(t.address(9)?.value).toBe('a');
    t.learn(keys.mark('a'), kv('members/a/e1', '', 5), 5); // our own mark, not live: no stray check
    t.learn(keys.enroller('e2'), kv('enrollers/e2', JSON.stringify({ shimAddress: '10.0.0.2:1' }), 5), 5);
    expect(strayMark).not.toHaveBeenCalled();
    expect(listener.enrollers).not.toHaveBeenCalled();
    t.learn(keys.name('a'), undefined, 6);
    t.learn(keys.address(9), undefined, 6);
    expect(t.name('a')).toBeUndefined();
    expect(t.address(9)).toBeUndefined();
    expect(listener.unbound).toHaveBeenCalledWith('a');
  });

  it('record reads the key it is given: an address, a name, or nothing it can read', () => {
    const { t, keys, listener } = table();
    t.record(keys.address(3), { value: 'x', createRevision: 2, modRevision: 2 }, 2);
    expect(t.address(3)?.value).toBe('x');
    expect(listener.bound).toHaveBeenCalledWith({ name: 'x', address: 3 });
    t.record(`${keys.prefix}addresses/x3`, { value: 'y', createRevision: 2, modRevision: 2 }, 2);
    t.record(`${keys.prefix}names/%E0%A4%A`, { value: '4', createRevision: 2, modRevision: 2 }, 2);
    t.record(`${keys.prefix}names/x/y`, { value: '4', createRevision: 2, modRevision: 2 }, 2);
    t.record(`${keys.prefix}members/x`, { value: '4', createRevision: 2, modRevision: 2 }, 2);
    expect(t.bindings()).toEqual([]);
    t.record(keys.name('x'), { value: '3', createRevision: 2, modRevision: 2 }, 2);
    expect(t.bindings()).toEqual([{ name: 'x', address: 3 }]);
    expect(listener.bound).toHaveBeenCalledTimes(2); // the name's key brings the binding (the address's told the pool first)
    t.record(keys.name('x'), undefined, 3);
    expect(listener.unbound).toHaveBeenCalledWith('x');
    t.record(keys.name('never'), undefined, 3);
    expect(listener.unbound).toHaveBeenCalledTimes(1);
  });

  it('cleared, it forgets every key and every revision seen', () => {
    const { t, listener } = table('e1');
    t.onEvent(kv('names/a', '1', 9), false);
    t.onEvent(kv('addresses/1', 'a', 9), false);
    t.onEvent(kv('members/a/e2', '', 9), false);
    t.onEvent(kv('enrollers/e2', JSON.stringify({ shimAddress: '10.0.0.2:1' }), 9), false);
    t.clear();
    expect(t.bindings()).toEqual([]);
    expect(t.name('a')).toBeUndefined();
    expect(t.address(1)).toBeUndefined();
    t.adopt([kv('names/a', '1', 3)], 3); // an older revision is news again; no marks, no enrollers left
    expect(t.name('a')?.value).toBe('1');
    expect(listener.idle).toHaveBeenLastCalledWith('a');
    expect(listener.enrollers).toHaveBeenLastCalledWith([]);
  });

  it('a read does not report again a name that was idle before it', () => {
    const { t, listener } = table();
    t.adopt([kv('names/a', '1', 2)], 2);
    expect(listener.idle).toHaveBeenCalledTimes(1);
    t.adopt([kv('names/a', '1', 2), kv('names/b', '2', 5)], 5);
    expect(listener.idle.mock.calls.map(([n]) => n)).toEqual(['a', 'b']);
  });

  it('a name stays served while any enroller marks it; only a live deletion of its last mark makes it idle', () => {
    const { t, listener } = table('e1');
    t.onEvent(kv('names/a', '1', 2), false);
    t.onEvent(kv('members/a/e2', '', 3), false);
    t.onEvent(kv('members/a/e3', '', 4), false);
    t.onEvent(kv('members/a/e2', '', 5), true);
    expect(listener.idle).not.toHaveBeenCalled();
    t.onEvent(kv('members/a/e2', '', 6), true); // gone already
    t.onEvent(kv('members/b/e2', '', 6), true); // never marked
    expect(listener.idle).not.toHaveBeenCalled();
    t.learn('', kv('members/a/e3', '', 7), 7); // a mark seen by a transaction is not a deletion
    t.onEvent(kv('members/a/e3', '', 8), true);
    expect(listener.idle).toHaveBeenCalledWith('a');
    // marked by two, the later one leaves: still served
    t.onEvent(kv('members/a/e2', '', 11), false);
    t.onEvent(kv('members/a/e3', '', 12), false);
    t.onEvent(kv('members/a/e3', '', 13), true);
    expect(listener.idle).toHaveBeenCalledTimes(1);
    // the last mark of a name with no binding: nothing to hold
    t.onEvent(kv('members/c/e2', '', 9), false);
    t.onEvent(kv('members/c/e2', '', 10), true);
    expect(listener.idle).toHaveBeenCalledTimes(1);
  });

  it('announces the other live enrollers at each change: registrations it cannot read ignored, itself left out', () => {
    const { t, listener } = table('e1');
    const reg = (shimAddress: unknown) => JSON.stringify({ shimAddress });
    t.onEvent(kv('enrollers/e1', reg('10.0.0.1:1'), 2), false);
    expect(listener.enrollers).toHaveBeenLastCalledWith([]);
    t.onEvent(kv('enrollers/e2', reg('10.0.0.2:1'), 3), false);
    t.onEvent(kv('enrollers/e3', reg(''), 4), false);
    t.onEvent(kv('enrollers/e4', reg(7), 5), false);
    t.onEvent(kv('enrollers/e5', '{not json', 6), false);
    t.onEvent(kv('enrollers/e6', reg('10.0.0.6:1'), 7), false);
    expect(listener.enrollers).toHaveBeenLastCalledWith(['10.0.0.2:1', '10.0.0.6:1']);
    t.onEvent(kv('enrollers/e2', '', 8), true);
    expect(listener.enrollers).toHaveBeenLastCalledWith(['10.0.0.6:1']);
    expect(listener.enrollers).toHaveBeenCalledTimes(7);
  });

  it('an event it cannot read (no value) changes nothing and throws nothing', () => {
    const { t, listener } = table();
    const broken = { key: Buffer.from(`${PREFIX}names/a`), mod_revision: '3', create_revision: '3' } as unknown as IKeyValue;
    expect(() => t.onEvent(broken, false)).not.toThrow();
    expect(t.bindings()).toEqual([]);
    expect(listener.bound).not.toHaveBeenCalled();
  });
});
