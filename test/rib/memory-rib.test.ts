import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryRib, RibError } from '../../src/index.js';

describe('MemoryRib', () => {
  it('writes, reads, replaces, lists by prefix in name order, and deletes', () => {
    const rib = new MemoryRib();
    rib.write({ name: '/dif/b', class: 'x', value: { intval: 1 } });
    rib.write({ name: '/dif/a', class: 'x', value: { strval: 'a' } });
    rib.write({ name: '/mgmt/address', class: 'address', value: { int64val: 5n } });
    rib.write({ name: '/dif/b', class: 'y', value: { intval: 2 } });
    expect(rib.read('/dif/b')).toEqual({ name: '/dif/b', class: 'y', value: { intval: 2 } });
    expect(rib.list('/dif/').map((o) => o.name)).toEqual(['/dif/a', '/dif/b']);
    expect(rib.list().length).toBe(3);
    expect(rib.delete('/dif/a')).toBe(true);
    expect(rib.delete('/dif/a')).toBe(false);
    expect(rib.read('/dif/a')).toBeUndefined();
    expect(rib.size).toBe(2);
  });

  it('copies objects in and out', () => {
    const rib = new MemoryRib();
    const bytes = Uint8Array.of(1, 2);
    rib.write({ name: '/x', class: 'c', value: { byteval: bytes } });
    bytes[0] = 9;
    const read = rib.read('/x');
    expect(Array.from(read?.value.byteval ?? [])).toEqual([1, 2]);
    (read?.value as { intval?: number }).intval = 3;
    expect(rib.read('/x')?.value.intval).toBeUndefined();
  });

  it.each([
    ['a name without a leading slash', { name: 'x', class: 'c', value: {} }],
    ['the bare root', { name: '/', class: 'c', value: {} }],
    ['an empty class', { name: '/x', class: '', value: {} }],
    ['a missing value', { name: '/x', class: 'c' }],
    // Found by an audit (2026-12-06): a string byteval was stored, and every M_CREATE of it failed to encode.
    ['a string byteval', { name: '/x', class: 'c', value: { byteval: 'ab' } }],
    ['an array byteval', { name: '/x', class: 'c', value: { byteval: [1, 2] } }],
  ])('refuses %s with RibError and stores nothing', (_what, object) => {
    const rib = new MemoryRib();
    expect(() => rib.write(object as never)).toThrow(RibError);
    expect(rib.size).toBe(0);
  });

  it('refuses bad names on read and delete', () => {
    const rib = new MemoryRib();
    expect(() => rib.read('nope')).toThrow(RibError);
    expect(() => rib.delete(42 as never)).toThrow(RibError);
  });
});

describe('MemoryRib: small (a sorted array) or large (a Map), the same RIB', () => {
  type Op = { kind: 'write'; name: number; value: number } | { kind: 'delete'; name: number } | { kind: 'list'; prefix: number };
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('write' as const), name: fc.noBias(fc.nat(80)), value: fc.integer() }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), name: fc.noBias(fc.nat(80)) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('list' as const), prefix: fc.nat(9) }) },
  );
  // Names of varied lengths, so that sorting by name is not sorting by number; up to 81 of them, past the small size.
  const nameOf = (n: number): string => `/o/${n % 9}/${n}`;

  it('reads, lists (sorted, by prefix), deletes and counts as a Map of the same writes would, across any growth', () => {
    let grown = false;
    fc.assert(
      fc.property(fc.array(op, { minLength: 80, maxLength: 300 }), (ops) => {
        const rib = new MemoryRib();
        const model = new Map<string, number>();
        for (const o of ops) {
          if (o.kind === 'write') {
            rib.write({ name: nameOf(o.name), class: 'c', value: { intval: o.value } });
            model.set(nameOf(o.name), o.value);
          } else if (o.kind === 'delete') {
            expect(rib.delete(nameOf(o.name))).toBe(model.delete(nameOf(o.name)));
          } else {
            const prefix = `/o/${o.prefix}/`;
            const expected = [...model].filter(([n]) => n.startsWith(prefix)).sort(([a], [b]) => (a < b ? -1 : 1));
            expect(rib.list(prefix).map((x) => [x.name, x.value.intval])).toEqual(expected);
          }
          expect(rib.size).toBe(model.size);
        }
        for (let n = 0; n <= 80; n++) expect(rib.read(nameOf(n))?.value.intval).toBe(model.get(nameOf(n)));
        grown ||= model.size > 32;
        expect(rib.list().map((x) => x.name)).toEqual([...model.keys()].sort());
      }),
      { numRuns: 150 },
    );
    expect(grown).toBe(true); // some runs went well past the small size
  });

  it('keeps every object written, in order, as it grows from small to large', () => {
    const rib = new MemoryRib();
    const names = Array.from({ length: 100 }, (_, i) => `/n/${String(99 - i).padStart(2, '0')}`);
    names.forEach((name, i) => {
      rib.write({ name, class: 'c', value: { intval: i } });
      expect(rib.size).toBe(i + 1);
    });
    expect(rib.list().map((o) => o.name)).toEqual([...names].reverse());
    expect(rib.read('/n/00')?.value.intval).toBe(99);
  });
});
