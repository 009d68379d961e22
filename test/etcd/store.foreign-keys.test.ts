/**
 * Keys under the enrollers' prefix that no enroller wrote (by hand, a restored backup, another program), and names a
 * store cannot keep. Found by an audit (2026-12-06) on a real etcd; each case failed before its fix.
 */
import { Etcd3 } from 'etcd3';
import { afterEach, expect, it } from 'vitest';
import { EtcdAddressStore } from '../../src/etcd/index.js';
import { ConfigError, StoreError } from '../../src/index.js';
import type { AddressStoreListener } from '../../src/store/address-store.js';
import { describeEtcd, etcdEndpoint, uniquePrefix } from '../support/etcd.js';
import { until } from '../support/helpers.js';

const undo: Array<() => unknown> = [];
afterEach(async () => {
  while (undo.length > 0) await undo.pop()?.();
});

/** An open, loaded store of enroller `name` under `prefix`, and what its listener heard. */
async function openStore(prefix: string, name: string) {
  const heard = { idle: [] as string[], enrollers: [] as string[][] };
  const listener: AddressStoreListener = {
    bound: () => undefined,
    unbound: () => undefined,
    idle: (n) => heard.idle.push(n),
    enrollers: (list) => heard.enrollers.push(list),
  };
  const store = new EtcdAddressStore({ hosts: etcdEndpoint(), prefix });
  await store.open({ name, shimAddress: `127.0.0.1:${7000 + name.length}` }, listener);
  undo.push(() => store.close());
  await store.load();
  return { store, heard };
}

/** A plain client on the test etcd. */
function client(): Etcd3 {
  const c = new Etcd3({ hosts: etcdEndpoint() });
  undo.push(() => c.close());
  return c;
}

it('a name or prefix that is not well-formed Unicode is refused: a ConfigError, or a StoreError, not a URIError', async () => {
  expect(() => new EtcdAddressStore({ hosts: 'http://127.0.0.1:1', difName: 'd\uD800' })).toThrow(ConfigError);
  expect(() => new EtcdAddressStore({ hosts: 'http://127.0.0.1:1', prefix: '/rina/\uDC00/' })).toThrow(ConfigError);
});

describeEtcd('EtcdAddressStore and keys no enroller wrote', () => {
  it('releasing a stale second claim of an address leaves the address key of the name that holds it', async () => {
    const prefix = uniquePrefix('stale-claim');
    const etcd = client();
    await etcd.put(`${prefix}names/ghost`).value('5'); // left over: ghost says 5, but 5 is m3's both ways
    await etcd.put(`${prefix}names/m3`).value('5');
    await etcd.put(`${prefix}addresses/5`).value('m3');
    const { store } = await openStore(prefix, 'e1');
    expect(await store.release('ghost')).toBe(true);
    // before: addresses/5 deleted with it, and 5 given to a second live member while m3 held it
    expect(await etcd.getAll().prefix(prefix).strings()).toMatchObject({ [`${prefix}names/m3`]: '5', [`${prefix}addresses/5`]: 'm3' });
    expect(await etcd.get(`${prefix}names/ghost`).string()).toBeNull();
  });

  it('a key under a name’s marks that is no enroller’s mark holds the name like a mark; once it is gone the name is idle', async () => {
    const prefix = uniquePrefix('junk-mark');
    const etcd = client();
    const { store, heard } = await openStore(prefix, 'e1');
    await etcd.put(`${prefix}members/m1/%zz`).value(''); // not an enroller's mark
    expect(await store.bind({ name: 'm1', address: 1 })).toBe(true);
    await store.leave('m1');
    expect(await store.release('m1')).toBe(false); // the junk key is there: etcd refuses, as before
    expect(heard.idle).toEqual([]);
    await etcd.delete().key(`${prefix}members/m1/%zz`);
    // before: no idle event ever came (the key was not seen either way), so the binding was never released
    await until(() => heard.idle.includes('m1'), 3000, 'the name to go idle');
    expect(await store.release('m1')).toBe(true);
  });

  it('an enroller registration whose shim address is no address (70 kB, or not a string) is not advertised', async () => {
    const prefix = uniquePrefix('bad-registration');
    const etcd = client();
    await etcd.put(`${prefix}enrollers/huge`).value(JSON.stringify({ shimAddress: 'x'.repeat(70_000) }));
    await etcd.put(`${prefix}enrollers/odd`).value(JSON.stringify({ shimAddress: '\uD800:7000' }));
    const { heard } = await openStore(prefix, 'e1');
    await openStore(prefix, 'e2'); // a real one
    await until(() => heard.enrollers.at(-1)?.length === 1, 3000, 'e2 to be advertised');
    expect(heard.enrollers.at(-1)).toEqual(['127.0.0.1:7002']);
  });

  it('a name that is not well-formed Unicode is a StoreError on every call', async () => {
    const { store } = await openStore(uniquePrefix('surrogate-name'), 'e1');
    for (const call of [
      () => store.bind({ name: 'a\uD800', address: 1 }),
      () => store.confirm({ name: 'a\uD800', address: 1 }),
      () => store.release('a\uD800'),
      () => store.leave('a\uD800'),
    ]) {
      await expect(call()).rejects.toBeInstanceOf(StoreError); // before: URIError: URI malformed
    }
  });
});
