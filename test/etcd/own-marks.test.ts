/** OwnMarks: which of our marks are strays, and what a table read again tells ServedNames. */
import type { ITxnRequest } from 'etcd3';
import { expect, it } from 'vitest';
import { EtcdKeys } from '../../src/etcd/keys.js';
import type { TxnResponse } from '../../src/etcd/lease.js';
import { OwnMarks } from '../../src/etcd/own-marks.js';
import { ServedNames } from '../../src/etcd/served.js';
import type { AddressTable } from '../../src/etcd/table.js';

const PREFIX = '/rina/t/';

function scene(shown: Record<string, number> = {}) {
  const served = new ServedNames();
  const sent: ITxnRequest[] = [];
  const table = { ownMark: (name: string) => shown[name] } as unknown as AddressTable;
  const marks = new OwnMarks({
    keys: new EtcdKeys(PREFIX, () => 'e1'),
    served,
    table: () => table,
    txn: (request) => {
      sent.push(request);
      return Promise.resolve({ succeeded: true, header: { revision: '99' }, responses: [] } as unknown as TxnResponse);
    },
  });
  /** The stray deletions sent: [mark key, the revision compared]. */
  const deletions = () => sent.map((r) => [String(r.compare?.[0]?.key), r.compare?.[0]?.mod_revision]);
  return { served, marks, deletions };
}

it('a stray is deleted at its revision only, and never while its name is served', () => {
  const { served, marks, deletions } = scene();
  served.take('a');
  marks.stray('a', 5);
  marks.stray('b', 6);
  expect(deletions()).toEqual([[`${PREFIX}members/b/e1`, '6']]);
});

it('a failed call lets its name go and deletes the mark the watch showed after `since`, unless still served', () => {
  const { served, marks, deletions } = scene({ a: 7, b: 3 });
  marks.dropped('a', served.take('a'));
  const kept = served.take('b');
  served.wrote('b', 3);
  served.succeeded('b', kept, 3);
  marks.dropped('b', served.take('b')); // b's earlier bind succeeded: still served
  marks.strayIfShown('c'); // no mark shown
  expect([served.has('a'), served.has('b')]).toEqual([false, true]);
  expect(deletions()).toEqual([[`${PREFIX}members/a/e1`, '7']]);
  marks.strayIfShown('a', 7); // (a release at 7: a mark shown at 7 or before went with it)
  expect(deletions()).toHaveLength(1);
});

it('a read again: a served name without a mark in it lost it; a mark in it on a name not served is a stray', () => {
  const { served, marks, deletions } = scene();
  for (const name of ['a', 'b']) {
    const t = served.take(name);
    served.wrote(name, 5);
    served.succeeded(name, t, 5);
  }
  const inFlight = served.take('c'); // a bind of c in flight, committed before the read or not
  marks.readAgain(
    12,
    new Map([
      ['b', 5],
      ['x', 8],
    ]),
  );
  expect([served.has('a'), served.has('b'), served.has('c')]).toEqual([false, true, true]);
  expect(deletions()).toEqual([[`${PREFIX}members/x/e1`, '8']]);
  served.wrote('c', 10);
  served.succeeded('c', inFlight, 10); // committed before the read, which lacked its mark: counts for nothing
  expect(served.has('c')).toBe(false);
});
