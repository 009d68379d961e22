import { describe, expect, it } from 'vitest';
import { AddressPool } from '../../src/index.js';

describe('AddressPool', () => {
  it('assigns unique addresses from the pool, the same one again for the same name', () => {
    const pool = new AddressPool({ first: 10, last: 14 });
    const got = ['a', 'b', 'c', 'd', 'e'].map((n) => pool.assign(n));
    expect(got.map((g) => (g.ok ? g.address : 0))).toEqual([10, 11, 12, 13, 14]);
    expect(pool.assign('c')).toEqual({ ok: true, address: 12 });
    expect(pool.assign('f')).toEqual({ ok: false, reason: 'address pool 10-14 is exhausted' });
  });

  it('honours a requested address when free, moves the name to it, and frees the old one', () => {
    const pool = new AddressPool({ first: 1, last: 5 });
    expect(pool.assign('a')).toEqual({ ok: true, address: 1 });
    expect(pool.assign('a', 4)).toEqual({ ok: true, address: 4 });
    expect(pool.ownerOf(1)).toBeUndefined();
    expect(pool.assign('b', 4)).toEqual({ ok: true, address: 2 }); // taken by a: b gets a free one
    expect(pool.assign('a', 4)).toEqual({ ok: true, address: 4 });
  });

  it('a requested address outside the pool is a wish it cannot grant: the name gets one of the pool', () => {
    const pool = new AddressPool({ first: 1000, last: 1999 });
    expect(pool.assign('a', 5)).toEqual({ ok: true, address: 1000 });
    expect(pool.assign('b', 2 ** 60)).toEqual({ ok: true, address: 1001 });
    expect(pool.assign('c', -3)).toEqual({ ok: true, address: 1002 });
    expect(pool.ownerOf(5)).toBeUndefined();
    expect(pool.size).toBe(3);
  });

  it('wraps around to find addresses freed below the cursor', () => {
    const pool = new AddressPool({ first: 1, last: 3 });
    pool.assign('a');
    pool.assign('b');
    pool.assign('c');
    pool.assign('a', 3 /* taken */);
    pool.assign('b', 2);
    expect(pool.assign('d').ok).toBe(false);
    const small = new AddressPool({ first: 1, last: 3 });
    small.assign('a');
    small.assign('b');
    small.assign('a', 3); // frees 1
    expect(small.assign('c')).toEqual({ ok: true, address: 1 });
  });

  it('for a shared store: keeps a held address over a requested one, probes from random points, learns bindings made elsewhere', () => {
    const draws = [0.5, 0.5, 0.999];
    const pool = new AddressPool({ first: 1, last: 10 }, { keepHeld: true, random: () => draws.shift() ?? 0 });
    expect(pool.assign('a')).toEqual({ ok: true, address: 6 });
    expect(pool.assign('a', 2)).toEqual({ ok: true, address: 6 }); // another enroller may serve "a" with 6
    expect(pool.assign('b')).toEqual({ ok: true, address: 7 }); // 6 is taken: the next one up
    pool.set('z', 7); // another enroller's binding wins: "b" holds nothing here now
    expect(pool.addressOf('b')).toBeUndefined();
    expect(pool.ownerOf(7)).toBe('z');
    expect(pool.assign('c')).toEqual({ ok: true, address: 10 }); // random() near 1 stays in the pool
    pool.set('y', 99); // outside the pool: ignored
    expect(pool.ownerOf(99)).toBeUndefined();
  });
});
