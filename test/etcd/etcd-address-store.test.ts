import { spawn } from 'node:child_process';
import { Etcd3 } from 'etcd3';
import { afterEach, expect, it } from 'vitest';
import { EtcdAddressStore } from '../../src/etcd/index.js';
import { ConfigError, StoreError } from '../../src/index.js';
import type { AddressStoreListener } from '../../src/store/address-store.js';
import { describeEtcd, etcdEndpoint, uniquePrefix } from '../support/etcd.js';
import { until } from '../support/helpers.js';
import { built } from '../support/cli-paths.js';

/** A listener that records what the store reports. */
function recorder() {
  const seen = { bound: new Map<string, number>(), unbound: [] as string[], idle: [] as string[], enrollers: [] as string[] };
  const listener: AddressStoreListener = {
    bound: (b) => seen.bound.set(b.name, b.address),
    unbound: (name) => {
      seen.bound.delete(name);
      seen.unbound.push(name);
    },
    idle: (name) => seen.idle.push(name),
    enrollers: (list) => {
      seen.enrollers = list;
    },
  };
  return { seen, listener };
}

const CHILD = built(new URL('../support/etcd-store-child.ts', import.meta.url));
const opened: EtcdAddressStore[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()));
});

async function openStore(prefix: string, name: string, options: Partial<ConstructorParameters<typeof EtcdAddressStore>[0]> = {}) {
  const store = new EtcdAddressStore({ hosts: etcdEndpoint(), prefix, ...options } as never);
  const { seen, listener } = recorder();
  await store.open({ name, shimAddress: `${name}-shim` }, listener);
  const loaded = await store.load();
  opened.push(store);
  return { store, seen, loaded };
}

it('refuses options it cannot use, naming the field', () => {
  expect(() => new EtcdAddressStore({ difName: 'd' } as never)).toThrow(ConfigError);
  expect(() => new EtcdAddressStore({ hosts: 'not a url', difName: 'd' })).toThrow(/hosts/);
  expect(() => new EtcdAddressStore({ hosts: 'http://127.0.0.1:1' })).toThrow(/difName/);
  expect(new EtcdAddressStore({ hosts: 'http://127.0.0.1:1', difName: 'd.DIF' }).prefix).toBe('/rina/d.DIF/');
});

it('fails to open with a StoreError when etcd is out of reach', async () => {
  const store = new EtcdAddressStore({ hosts: 'http://127.0.0.1:9', difName: 'x', callTimeoutMs: 300 });
  await expect(store.open({ name: 'e', shimAddress: 'e' }, recorder().listener)).rejects.toThrow(StoreError);
  await expect(store.bind({ name: 'm', address: 1 })).rejects.toThrow(/not open/);
});

describeEtcd('EtcdAddressStore on a real etcd', () => {
  it('lets exactly one of two enrollers racing for one address win, and tells the loser who did', async () => {
    const prefix = uniquePrefix('race');
    const a = await openStore(prefix, 'A');
    const b = await openStore(prefix, 'B');
    const results = await Promise.all([a.store.bind({ name: 'n1', address: 5 }), b.store.bind({ name: 'n2', address: 5 })]);
    expect(results.filter((r) => r === true)).toHaveLength(1);
    const loser = results[0] ? b : a;
    const winner = results[0] ? 'n1' : 'n2';
    expect(loser.seen.bound.get(winner)).toBe(5);
    // The same for two enrollers racing for one name with different addresses.
    const named = await Promise.all([a.store.bind({ name: 'x', address: 7 }), b.store.bind({ name: 'x', address: 8 })]);
    expect(named.filter((r) => r === true)).toHaveLength(1);
  });

  it('keeps a binding sticky across enrollers and releases it only once no enroller serves the name', async () => {
    const prefix = uniquePrefix('sticky');
    const a = await openStore(prefix, 'A');
    const b = await openStore(prefix, 'B');
    expect(await a.store.bind({ name: 'm', address: 9 })).toBe(true);
    await until(() => b.seen.bound.get('m') === 9, 2000, 'the watch to reach B');
    // m fails over to B with its address: B marks it too.
    expect(await b.store.bind({ name: 'm', address: 9 })).toBe(true);
    await a.store.leave('m');
    expect(await a.store.release('m')).toBe(false); // B serves it
    expect(a.seen.idle).not.toContain('m');
    await b.store.leave('m');
    await until(() => a.seen.idle.includes('m'), 2000, 'idle(m) at A');
    expect(await a.store.release('m')).toBe(true);
    await until(() => b.seen.unbound.includes('m'), 2000, 'unbound(m) at B');
    // Free again: anyone may take 9.
    expect(await b.store.bind({ name: 'other', address: 9 })).toBe(true);
  });

  it('advertises live enrollers and drops one that closes', async () => {
    const prefix = uniquePrefix('enrollers');
    const a = await openStore(prefix, 'A');
    const b = await openStore(prefix, 'B');
    await until(() => a.seen.enrollers.includes('B-shim'), 2000, 'B registered');
    expect(b.seen.enrollers).toEqual(['A-shim']);
    await b.store.close();
    await until(() => a.seen.enrollers.length === 0, 2000, 'B gone');
  });

  it('loads the table written by others, reporting names nobody serves as idle', async () => {
    const prefix = uniquePrefix('load');
    const a = await openStore(prefix, 'A');
    await a.store.bind({ name: 'p', address: 3 });
    await a.store.bind({ name: 'q', address: 4 });
    await a.store.leave('q');
    const c = await openStore(prefix, 'C');
    expect(c.loaded.sort((x, y) => x.address - y.address)).toEqual([
      { name: 'p', address: 3 },
      { name: 'q', address: 4 },
    ]);
    expect(c.seen.idle).toEqual(['q']);
  });

  it("lets a dead enroller's marks expire with its lease, so its members' holds start elsewhere", async () => {
    const prefix = uniquePrefix('dead');
    const a = await openStore(prefix, 'A');
    const child = spawn(process.execPath, [CHILD, etcdEndpoint(), prefix, 'D', 'z=11'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
        child.once('exit', (code) => reject(new Error(`the child exited with ${code}`)));
      });
      await until(() => a.seen.enrollers.includes('D-shim') && a.seen.bound.get('z') === 11, 2000, 'D registered, z bound');
      child.kill('SIGKILL');
      await until(() => a.seen.idle.includes('z'), 6000, 'z idle after the lease TTL');
      expect(a.seen.enrollers).toEqual([]);
      expect(a.seen.bound.get('z')).toBe(11); // still bound: the hold decides
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('lets an enroller that stops go of its members at once', async () => {
    const prefix = uniquePrefix('stop');
    const a = await openStore(prefix, 'A');
    const b = await openStore(prefix, 'B');
    expect(await b.store.bind({ name: 'y', address: 12 })).toBe(true);
    await b.store.close();
    await until(() => a.seen.idle.includes('y'), 2000, 'y idle');
  });

  it('refuses a second live enroller with the same name (they would share their marks)', async () => {
    const prefix = uniquePrefix('twins');
    await openStore(prefix, 'A');
    const twin = new EtcdAddressStore({ hosts: etcdEndpoint(), prefix });
    await expect(twin.open({ name: 'A', shimAddress: 'elsewhere' }, recorder().listener)).rejects.toThrow(/registered already/);
    await expect(twin.bind({ name: 'm', address: 1 })).rejects.toThrow(StoreError); // closed again: usable by nobody
  });

  it('lets an enroller restarted at its own shim address take over its registration at once', async () => {
    const prefix = uniquePrefix('restart');
    const child = spawn(process.execPath, [CHILD, etcdEndpoint(), prefix, 'R'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
        child.once('exit', (code) => reject(new Error(`the child exited with ${code}`)));
      });
      child.kill('SIGKILL'); // its lease lives on for up to 2 s
      const restarted = new EtcdAddressStore({ hosts: etcdEndpoint(), prefix });
      await restarted.open({ name: 'R', shimAddress: 'R-shim' }, recorder().listener); // the child's shim address
      opened.push(restarted);
      await restarted.load();
      expect(await restarted.bind({ name: 'm', address: 1 })).toBe(true);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('an enroller whose copy lags (its watch delivers nothing) neither frees nor double-binds an address', async () => {
    const prefix = uniquePrefix('stale');
    const deaf = new Etcd3({ hosts: etcdEndpoint() });
    // A watch that never delivers: the copy only learns from the store's own transactions.
    (deaf as unknown as { watch: () => unknown }).watch = () => ({
      prefix() {
        return this;
      },
      startRevision() {
        return this;
      },
      watcher: () => ({ on: () => undefined, cancel: async () => undefined }),
    });
    const lagging = new EtcdAddressStore({ client: deaf, prefix });
    await lagging.open({ name: 'A', shimAddress: 'A-shim' }, recorder().listener);
    await lagging.load();
    try {
      const b = await openStore(prefix, 'B');
      expect(await lagging.bind({ name: 'n', address: 1 })).toBe(true);
      await until(() => b.seen.bound.get('n') === 1, 2000, 'B sees n');
      expect(await b.store.bind({ name: 'n', address: 2 })).toBe(true); // n moves to 2 (A does not see it)
      expect(await b.store.bind({ name: 'm', address: 1 })).toBe(true); // 1 is free: m takes it
      // A still believes n -> 1: moving n to 3 would delete addresses/1, which is m's now.
      expect(await lagging.bind({ name: 'n', address: 3 })).toBe(false);
      expect(await lagging.bind({ name: 'k', address: 1 })).toBe(false);
      const client = new Etcd3({ hosts: etcdEndpoint() });
      try {
        const all = await client.getAll().prefix(prefix).strings();
        const at = (k: string) => all[`${prefix}${k}`];
        expect([at('names/n'), at('names/m'), at('names/k')]).toEqual(['2', '1', undefined]);
        expect([at('addresses/1'), at('addresses/2'), at('addresses/3')]).toEqual(['m', 'n', undefined]);
      } finally {
        client.close();
      }
    } finally {
      await lagging.close();
      deaf.close();
    }
  });

  it('two enrollers moving one name at once: one wins, and no address key is left behind', async () => {
    const prefix = uniquePrefix('move');
    const a = await openStore(prefix, 'A');
    const b = await openStore(prefix, 'B');
    expect(await a.store.bind({ name: 'n', address: 1 })).toBe(true);
    await until(() => b.seen.bound.get('n') === 1, 2000, 'B sees n');
    const won = await Promise.all([a.store.bind({ name: 'n', address: 2 }), b.store.bind({ name: 'n', address: 3 })]);
    expect(won.filter(Boolean)).toHaveLength(1);
    const client = new Etcd3({ hosts: etcdEndpoint() });
    try {
      const addresses = await client.getAll().prefix(`${prefix}addresses/`).strings();
      expect(Object.keys(addresses)).toHaveLength(1);
    } finally {
      client.close();
    }
  });

  it('confirms 70 bindings asked at once in 3 transactions, each answered as alone: a taken or released one false and unmarked', async () => {
    const prefix = uniquePrefix('confirms');
    const a = await openStore(prefix, 'A');
    const b = await openStore(prefix, 'B');
    for (let i = 0; i < 70; i++) expect(await a.store.bind({ name: `m${i}`, address: i + 1 })).toBe(true);
    await until(() => b.seen.bound.size === 70, 3000, 'B sees the 70 bindings');
    await a.store.leave('m5');
    await a.store.leave('m40');
    expect(await b.store.bind({ name: 'm5', address: 200 })).toBe(true); // moved by B
    expect(await b.store.release('m40')).toBe(true); // released by B
    const before = b.store.stats().transactions;
    const verdicts = await Promise.all(Array.from({ length: 70 }, (_, i) => b.store.confirm({ name: `m${i}`, address: i + 1 })));
    expect(verdicts.flatMap((v, i) => (v ? [] : [i]))).toEqual([5, 40]);
    // 32 + 32 + 6, and one more for the batches that held m5 and m40
    expect(b.store.stats().transactions - before).toBe(5);
    expect(b.store.stats().confirms).toBe(5);
    const client = new Etcd3({ hosts: etcdEndpoint() });
    try {
      const marks = Object.keys(await client.getAll().prefix(`${prefix}members/`).strings()).filter((k) => k.endsWith('/B'));
      expect(marks).toHaveLength(69); // the 68 confirmed and m5, which B bound itself
      expect(marks.some((k) => k.includes('/members/m40/'))).toBe(false);
    } finally {
      client.close();
    }
  });

  it("an enroller with a 60,000-character name proves 32 members at once: its batches stay within etcd's request limit", async () => {
    const { store } = await openStore(uniquePrefix('long-enroller'), 'e'.repeat(60_000));
    for (let i = 0; i < 32; i++) expect(await store.bind({ name: `m${i}`, address: i + 1 })).toBe(true);
    const verdicts = await Promise.allSettled(Array.from({ length: 32 }, (_, i) => store.confirm({ name: `m${i}`, address: i + 1 })));
    // (counted by the member's name alone, 32 marks of 60 KB went in one request, which etcd refused whole)
    expect(verdicts.map((v) => (v.status === 'fulfilled' ? v.value : String(v.reason)))).toEqual(Array(32).fill(true));
  });

  it('keys under the prefix that no enroller wrote are ignored, at load and in the watch', async () => {
    const prefix = uniquePrefix('junk');
    const client = new Etcd3({ hosts: etcdEndpoint() });
    try {
      await client.put(`${prefix}names/50%-off`).value('12');
      await client.put(`${prefix}names/plain`).value('not a number');
      const a = await openStore(prefix, 'A');
      expect(a.loaded).toEqual([]);
      await client.put(`${prefix}members/%E0%A4%A/x`).value('');
      await client.put(`${prefix}addresses/abc`).value('someone');
      await client.put(`${prefix}enrollers/%zz`).value('{}');
      await client.put(`${prefix}names/ok`).value('5'); // a real one after the junk: the watch still works
      await until(() => a.seen.bound.get('ok') === 5, 2000, 'the watch past the junk');
      expect(await a.store.bind({ name: 'n', address: 6 })).toBe(true);
    } finally {
      client.close();
    }
  });

  it('keeps IPCP names with slashes apart', async () => {
    const prefix = uniquePrefix('slash');
    const a = await openStore(prefix, 'A');
    expect(await a.store.bind({ name: 'a', address: 1 })).toBe(true);
    expect(await a.store.bind({ name: 'a/1//', address: 2 })).toBe(true);
    await a.store.leave('a/1//');
    expect(await a.store.release('a/1//')).toBe(true);
    expect((await openStore(prefix, 'B')).loaded).toEqual([{ name: 'a', address: 1 }]);
  });
});
