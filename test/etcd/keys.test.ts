/** The etcd store's key layout and how its segments and values read. */
import type { IKeyValue } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { addressFrom, dec, EtcdKeys, enc, entryOf, prefixEnd } from '../../src/etcd/keys.js';

describe('etcd keys', () => {
  it('lays out names, addresses, marks and registrations under the prefix, names %-encoded', () => {
    let owner: string | undefined;
    const keys = new EtcdKeys('/rina/d/', () => owner);
    expect(keys.name('a/b c')).toBe('/rina/d/names/a%2Fb%20c');
    expect(keys.address(42)).toBe('/rina/d/addresses/42');
    expect(keys.marksOf('a/b')).toBe('/rina/d/members/a%2Fb/');
    expect(keys.mark('a/b')).toBe('/rina/d/members/a%2Fb/'); // no owner yet: the marks' prefix
    owner = 'e/1';
    expect(keys.mark('a/b')).toBe('/rina/d/members/a%2Fb/e%2F1');
    expect(keys.enroller('e/1')).toBe('/rina/d/enrollers/e%2F1');
  });

  it('the range end of a prefix is the prefix with its last byte plus one', () => {
    expect(prefixEnd('/rina/d/')).toEqual(Buffer.from('/rina/d0'));
    expect(prefixEnd('a')).toEqual(Buffer.from('b'));
  });

  it('a segment decodes back to what was encoded; an empty one or bad %-escapes decode to nothing', () => {
    for (const s of ['a', 'a/b', '100%', 'ä ✓', '/']) expect(dec(enc(s))).toBe(s);
    expect(dec('')).toBeUndefined();
    expect(dec(undefined)).toBeUndefined();
    expect(dec('%E0%A4%A')).toBeUndefined();
    expect(dec('%')).toBeUndefined();
  });

  it('an address is a decimal without leading zeros from 1 to 2^53 - 1, and nothing else', () => {
    expect(addressFrom('1')).toBe(1);
    expect(addressFrom('42')).toBe(42);
    expect(addressFrom('9007199254740991')).toBe(Number.MAX_SAFE_INTEGER);
    for (const bad of [
      '',
      '0',
      '01',
      '-1',
      '1.5',
      '1e3',
      ' 1',
      '1 ',
      'x1',
      '1x',
      '0x10',
      '9007199254740992',
      '99999999999999999',
      undefined,
    ]) {
      expect(addressFrom(bad)).toBeUndefined();
    }
  });

  it('an entry holds the value as text and the revisions as numbers', () => {
    const kv = { key: Buffer.from('k'), value: Buffer.from('7'), create_revision: '3', mod_revision: '5' } as IKeyValue;
    expect(entryOf(kv)).toEqual({ value: '7', createRevision: 3, modRevision: 5 });
  });
});
