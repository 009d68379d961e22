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
