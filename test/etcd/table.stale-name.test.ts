/**
 * Found by a review (2026-12-06; fixed with it; random worlds on an in-memory etcd, seeds 21 and 23): a refused
 * bind's failure branch reads `names/<name>` and the proposed address's key, so the table can learn that
 * `names/n0` binds 1 at revision 14 without ever seeing `addresses/1`. A late watch event of revision 12 saying
 * `names/x0` is 1 then passed the staleness check (which looked only at the address key) and told the pool x0 holds
 * 1: the pool dropped n0's binding, and n0's own keys, seen already, were never news again. The pool showed a
 * free address etcd binds, and newcomers were refused "busy" with free addresses.
 */
import type { IKeyValue } from 'etcd3';
import { expect, it, vi } from 'vitest';
import { EtcdKeys } from '../../src/etcd/keys.js';
import { AddressTable } from '../../src/etcd/table.js';
import { mockListener, zeroStats } from '../support/scripted-etcd.js';

const PREFIX = '/rina/demo.DIF/';
const kv = (key: string, value: string, revision: number): IKeyValue =>
  ({
    key: Buffer.from(PREFIX + key),
    value: Buffer.from(value),
    mod_revision: String(revision),
    create_revision: String(revision),
  }) as IKeyValue;

it("a late event of another name's older binding of an address is no news while a newer name key binds it", () => {
  const listener = mockListener();
  const keys = new EtcdKeys(PREFIX, () => 'e1');
  const t = new AddressTable({
    keys,
    stats: zeroStats(),
    listener: () => listener,
    ownerName: () => 'e1',
    strayMark: vi.fn(),
    ownMarkGone: vi.fn(),
    readAgain: vi.fn(),
  });
  // A refused bind's failure branch: names/n0 is 1 at revision 14 (addresses/1 not read).
  t.learn(keys.name('n0'), kv('names/n0', '1', 14), 14);
  expect(listener.bound.mock.calls.map(([b]) => b)).toEqual([{ name: 'n0', address: 1 }]);
  listener.bound.mockClear();
  // The watch, behind, shows x0's binding of 1 at revision 12 (x0 moved away before n0 took it).
  t.onEvent(kv('names/x0', '1', 12), false);
  expect(listener.bound).not.toHaveBeenCalled();
  expect(t.name('n0')?.value).toBe('1');
  // x0's own newer move is news as usual.
  t.onEvent(kv('names/x0', '5', 13), false);
  expect(listener.bound.mock.calls.map(([b]) => b)).toEqual([{ name: 'x0', address: 5 }]);
});
