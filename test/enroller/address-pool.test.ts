import { describe, expect, it } from 'vitest';
import { AddressPool, ConfigError } from '../../src/index.js';

describe('AddressPool', () => {
  it('assigns unique addresses from the pool, the same one again for the same name', () => {
    const pool = new AddressPool({ first: 10, last: 14 });
    const got = ['a', 'b', 'c', 'd', 'e'].map((n) => pool.assign(n));
    expect(got.map((g) => (g.ok ? g.address : 0))).toEqual([10, 11, 12, 13, 14]);
    expect(pool.assign('c')).toEqual({ ok: true, address: 12 });
    expect(pool.assign('f')).toEqual({ ok: false, reason: 'address pool 10-14 is exhausted' });
  });

  it('honours a requested address when free for a name that holds none; a name that holds one keeps it', () => {
    const pool = new AddressPool({ first: 1, last: 5 });
    expect(pool.assign('a', 4)).toEqual({ ok: true, address: 4 });
    expect(pool.assign('b', 4)).toEqual({ ok: true, address: 1 }); // taken by a: b gets a free one
    // b asks for a free address: it keeps the one it holds, which stays bound to it (never free meanwhile)
    expect(pool.assign('b', 3)).toEqual({ ok: true, address: 1 });
    expect(pool.ownerOf(1)).toBe('b');
    expect(pool.ownerOf(3)).toBeUndefined();
    pool.release('b');
    expect(pool.assign('b', 3)).toEqual({ ok: true, address: 3 });
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
    small.assign('c');
    small.release('a'); // frees 1, below the cursor
    expect(small.assign('d')).toEqual({ ok: true, address: 1 });
  });

  it('for a shared store: keeps a held address over a requested one, probes from random points, learns bindings made elsewhere', () => {
    const draws = [0.5, 0.5, 0.999];
    const pool = new AddressPool({ first: 1, last: 10 }, { random: () => draws.shift() ?? 0 });
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

describe('AddressPool: the edges of a request', () => {
  it('a request for the first or the last address is granted; one past the last, or not an integer, is not', () => {
    const pool = new AddressPool({ first: 1, last: 5 });
    pool.assign('x');
    pool.release('x'); // the cursor moved past 1
    expect(pool.assign('a', 1)).toEqual({ ok: true, address: 1 });
    expect(pool.assign('b', 5)).toEqual({ ok: true, address: 5 });
    expect(pool.assign('c', 6)).toEqual({ ok: true, address: 2 });
    expect(pool.assign('d', 3.5)).toEqual({ ok: true, address: 3 });
    expect(pool.ownerOf(6)).toBeUndefined();
  });

  it('address 0 asks for none in particular: the name keeps what it holds', () => {
    const pool = new AddressPool({ first: 1, last: 3 });
    expect(pool.assign('a', 2)).toEqual({ ok: true, address: 2 });
    expect(pool.assign('a', 0)).toEqual({ ok: true, address: 2 });
    expect(pool.assign('a', 2)).toEqual({ ok: true, address: 2 }); // its own address, asked again
  });
});

describe('AddressPool: restore() and set()', () => {
  it('restore() replaces every binding; those outside the pool, to a bound address or of a bound name are skipped and returned', () => {
    const pool = new AddressPool({ first: 10, last: 20 });
    pool.assign('old');
    const skipped = pool.restore([
      { name: 'a', address: 10 },
      { name: 'b', address: 20 },
      { name: 'low', address: 9 },
      { name: 'high', address: 21 },
      { name: 'twin', address: 10 },
      { name: 'a', address: 15 },
    ]);
    expect(skipped).toEqual([
      { name: 'low', address: 9 },
      { name: 'high', address: 21 },
      { name: 'twin', address: 10 },
      { name: 'a', address: 15 },
    ]);
    expect([pool.addressOf('a'), pool.addressOf('b'), pool.addressOf('old'), pool.ownerOf(15)]).toEqual([10, 20, undefined, undefined]);
    expect(pool.size).toBe(2);
  });

  it('set() records a binding at either end of the pool and ignores one below or above it', () => {
    const pool = new AddressPool({ first: 10, last: 20 });
    pool.set('a', 10);
    pool.set('b', 20);
    pool.set('low', 9);
    pool.set('high', 21);
    expect([pool.ownerOf(10), pool.ownerOf(20), pool.addressOf('low'), pool.addressOf('high')]).toEqual(['a', 'b', undefined, undefined]);
    pool.set('a', 10); // again: nothing changes
    expect([pool.addressOf('a'), pool.size]).toEqual([10, 2]);
  });
});

// Found by an audit (2026-12-06): a pool of NaN, inverted or fractional bounds was accepted; { first: 0 } gave its first
// name address 0, which the wire reads as "no address"; { first: 5, last: 1 } had a capacity of -3 and gave nothing.
describe('AddressPool: a range it cannot use', () => {
  it('is a ConfigError naming the bound, and a random source that is not a function too', () => {
    const cases: Array<[unknown, string]> = [
      [{ first: 0, last: 3 }, 'range.first: must be >= 1'],
      [{ first: 5, last: 1 }, 'range.last: must be >= range.first'],
      [{ first: Number.NaN, last: 3 }, 'range.first'],
      [{ first: 1.5, last: 3 }, 'range.first: must be an integer'],
      [{ first: 1, last: 2 ** 53 }, 'range.last: must be an integer'],
      [{ first: 1 }, 'range.last'],
      [null, 'range'],
    ];
    for (const [range, why] of cases) {
      expect(() => new AddressPool(range as never), why).toThrow(ConfigError);
      expect(() => new AddressPool(range as never), why).toThrow(why);
    }
    expect(() => new AddressPool({ first: 1, last: 3 }, { random: 0.5 } as never)).toThrow(/options.random: must be a function/);
  });

  it('takes a one-address pool and the largest safe bound', () => {
    expect(new AddressPool({ first: 7, last: 7 }).assign('a')).toEqual({ ok: true, address: 7 });
    expect(new AddressPool({ first: 1, last: Number.MAX_SAFE_INTEGER }).capacity).toBe(Number.MAX_SAFE_INTEGER);
  });
});
