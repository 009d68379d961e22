/**
 * src/store on its own: what the enroller learns of a store it is given
 * (sharedCapabilities, isSharedStore), the memory store, and the edges of
 * FileAddressStore's file format, writes and lock that the enroller-level
 * tests do not reach.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sharedCapabilities } from '../../src/store/address-store.js';
import {
  type AddressBinding,
  type AddressStore,
  FileAddressStore,
  isSharedStore,
  MemoryAddressStore,
  StoreError,
} from '../../src/index.js';

describe('what the enroller learns of a store', () => {
  const plain = (): AddressStore => ({ load: () => [], bind: () => undefined, release: () => undefined });

  it('isSharedStore: only a store that says shared: true', () => {
    expect(isSharedStore(plain())).toBe(false);
    expect(isSharedStore({ ...plain(), shared: false })).toBe(false);
    expect(isSharedStore({ ...plain(), shared: 'yes' } as unknown as AddressStore)).toBe(false);
    expect(isSharedStore({ ...plain(), shared: true })).toBe(true);
  });

  it('a store without open() has no shared capabilities; one that says it is shared must have open()', () => {
    expect(sharedCapabilities(plain())).toBeUndefined();
    expect(sharedCapabilities(new MemoryAddressStore())).toBeUndefined();
    expect(() => sharedCapabilities({ ...plain(), shared: true })).toThrow(
      new TypeError('a store that says it is shared must implement open()'),
    );
  });

  it('with open() only: confirm binds again (refused only by a false), leave does nothing, canVouch is true', async () => {
    const calls: string[] = [];
    const verdicts: Array<boolean | undefined> = [undefined, true, false];
    const store: AddressStore = {
      load: () => [],
      bind(binding) {
        calls.push(`bind ${binding.name}@${binding.address} ${this === store}`);
        return verdicts.shift();
      },
      release: () => undefined,
      open(owner) {
        calls.push(`open ${owner.name} ${this === store}`);
      },
    };
    const caps = sharedCapabilities(store);
    if (caps === undefined) throw new Error('no capabilities');
    await caps.open(
      { name: 'e1', shimAddress: 'e1' },
      { bound: () => undefined, unbound: () => undefined, idle: () => undefined, enrollers: () => undefined },
    );
    const binding: AddressBinding = { name: 'm', address: 3 };
    expect([await caps.confirm(binding), await caps.confirm(binding), await caps.confirm(binding)]).toEqual([true, true, false]);
    expect(await caps.leave('m')).toBeUndefined();
    expect(caps.canVouch()).toBe(true);
    expect(calls).toEqual(['open e1 true', 'bind m@3 true', 'bind m@3 true', 'bind m@3 true']);
  });

  it("with every method: each is the store's own, called on the store", async () => {
    const calls: string[] = [];
    const store: AddressStore = {
      load: () => [],
      bind: () => {
        throw new Error('confirm must not bind');
      },
      release: () => undefined,
      open() {
        calls.push(`open ${this === store}`);
      },
      confirm(binding) {
        calls.push(`confirm ${binding.name} ${this === store}`);
        return false;
      },
      leave(name) {
        calls.push(`leave ${name} ${this === store}`);
      },
      canVouch() {
        calls.push(`canVouch ${this === store}`);
        return false;
      },
    };
    const caps = sharedCapabilities(store);
    if (caps === undefined) throw new Error('no capabilities');
    await caps.open(
      { name: 'e1', shimAddress: 'e1' },
      { bound: () => undefined, unbound: () => undefined, idle: () => undefined, enrollers: () => undefined },
    );
    expect(await caps.confirm({ name: 'm', address: 3 })).toBe(false);
    await caps.leave('m');
    expect(caps.canVouch()).toBe(false);
    expect(calls).toEqual(['open true', 'confirm m true', 'leave m true', 'canVouch true']);
  });

  it('MemoryAddressStore: binds, rebinds and releases in memory', () => {
    const store = new MemoryAddressStore();
    expect(store.load()).toEqual([]);
    store.bind({ name: 'a', address: 1 });
    store.bind({ name: 'b', address: 2 });
    store.bind({ name: 'a', address: 3 });
    store.release('b');
    store.release('nobody');
    expect(store.load()).toEqual([{ name: 'a', address: 3 }]);
  });

  // Found by an audit (2026-12-06): bind(null) was a TypeError, and bad bindings were kept as they came.
  it('MemoryAddressStore: a binding it could not keep is a StoreError, and the table stays as it was', () => {
    const store = new MemoryAddressStore();
    store.bind({ name: 'a', address: 1 });
    for (const bad of [
      null,
      5,
      {},
      { name: '', address: 2 },
      { name: 5, address: 2 },
      { name: 'b', address: 0 },
      { name: 'b', address: -7.5 },
    ]) {
      expect(() => store.bind(bad as never), JSON.stringify(bad)).toThrow(StoreError);
    }
    expect(() => store.release(null as never)).toThrow(/cannot release: an IPCP name must be a non-empty string, got null/);
    expect(store.load()).toEqual([{ name: 'a', address: 1 }]);
  });
});

describe('FileAddressStore: the file, the writes and the lock', () => {
  let dir: string;
  let path: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rina-store-unit-'));
    path = join(dir, 'table.json');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const table = (bindings: unknown, extra: object = {}) =>
    JSON.stringify({ format: 'rina-enrollment/address-store', version: 1, bindings, ...extra });

  it('needs a path', () => {
    for (const bad of ['', undefined, 5]) {
      expect(() => new FileAddressStore(bad as string)).toThrow(new StoreError('a FileAddressStore needs a file path'));
    }
    expect(new FileAddressStore(path).lockPath).toBe(`${path}.lock`);
  });

  it('writes only what changes: the same binding again, or releasing an unknown name, writes nothing', async () => {
    const store = new FileAddressStore(path);
    await store.load();
    await store.bind({ name: 'a', address: 1 });
    expect(store.writes).toBe(1);
    await store.bind({ name: 'a', address: 1 });
    await store.release('nobody');
    expect(store.writes).toBe(1);
    await store.bind({ name: 'a', address: 2 });
    await store.release('a');
    expect(store.writes).toBe(3);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({ format: 'rina-enrollment/address-store', version: 1, bindings: {} });
    await store.close();
  });

  // Found by an audit (2026-12-06): bind() before load() took no lock and read nothing: it overwrote a table another
  // store held locked with its one binding; and bad bindings were written, so that the next load() refused the file.
  it('refuses bind() and release() before load(), and a binding it could not read back, with StoreError; the file untouched', async () => {
    writeFileSync(path, table({ a: 1, b: 2 }));
    const holder = new FileAddressStore(path);
    await holder.load();
    const stranger = new FileAddressStore(path);
    await expect(stranger.bind({ name: 'c', address: 3 })).rejects.toThrow(/cannot bind: bind\(\) before load\(\)/);
    await expect(stranger.release('a')).rejects.toThrow(/cannot release: release\(\) before load\(\)/);
    for (const bad of [
      null,
      { name: '', address: 4 },
      { name: 'd', address: -7.5 },
      { name: 'd', address: 0 },
      { name: 5, address: 'x' },
    ]) {
      await expect(holder.bind(bad as never), JSON.stringify(bad)).rejects.toThrow(StoreError);
    }
    await expect(holder.release('' as never)).rejects.toThrow(StoreError);
    expect(JSON.parse(readFileSync(path, 'utf8')).bindings).toEqual({ a: 1, b: 2 });
    expect(holder.writes).toBe(0);
    await holder.close();
    await expect(holder.bind({ name: 'c', address: 3 })).rejects.toThrow(/before load/); // closed: the lock is given back
    expect(await new FileAddressStore(path).load()).toEqual([
      { name: 'a', address: 1 },
      { name: 'b', address: 2 },
    ]);
  });

  it('after a failed write, the same binding is written again rather than taken as saved', async () => {
    mkdirSync(join(dir, 'later'));
    const store = new FileAddressStore(join(dir, 'later', 'table.json'));
    await store.load();
    mkdirSync(store.path); // the table's name taken by a directory: the write fails
    await expect(store.bind({ name: 'a', address: 1 })).rejects.toThrow(/^cannot write the address table .*later\/table\.json: /);
    rmdirSync(store.path);
    await store.bind({ name: 'a', address: 1 });
    expect(store.writes).toBe(1);
    expect(JSON.parse(readFileSync(join(dir, 'later', 'table.json'), 'utf8')).bindings).toEqual({ a: 1 });
    await store.close();
  });

  it('refuses each kind of bad table, naming the file and what is wrong', async () => {
    const cases: Array<[string, RegExp]> = [
      [table({ a: 1 }, { format: 'other' }), /is not an address table of rina-enrollment: /],
      [table({ a: 1 }, { version: 2 }), /is not an address table of rina-enrollment: /],
      [table([1, 2]), /bindings must be an object of IPCP names to addresses/],
      [table(null), /bindings must be an object of IPCP names to addresses/],
      [table('ab'), /bindings must be an object of IPCP names to addresses/],
      [table(5), /bindings must be an object of IPCP names to addresses/],
      [table({ '': 1 }), /bad binding ""/],
      [table({ a: 0 }), /bad binding "a"/],
      [table({ a: 1.5 }), /bad binding "a"/],
      [table({ a: '1' }), /bad binding "a"/],
      [table({ a: 1, b: 2, c: 1 }), /binds address 1 to both "a" and "c"/],
      // One name bound twice, by hand (JSON.parse would keep the last, and free 5 silently; a review found it, 2026-12-05)
      [table({ a: 5, b: 7 }).replace('"b":7', '"b":7,"a":6'), /names "a" twice/],
      ['not json', /is not an address table of rina-enrollment: /],
    ];
    for (const [text, why] of cases) {
      writeFileSync(path, text);
      const store = new FileAddressStore(path);
      const err = await store.load().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, text).toBeInstanceOf(StoreError);
      expect((err as Error).message, text).toMatch(why);
      expect((err as Error).message.startsWith(path), text).toBe(true);
      if (!/binds address|bad binding|twice/.test((err as Error).message)) expect((err as Error).cause, text).toBeInstanceOf(Error);
      // a refused load gives the lock back
      expect(() => readFileSync(`${path}.lock`)).toThrow(/ENOENT/);
    }
  });

  it('a table it cannot read is an error, not an empty table; each error keeps its cause', async () => {
    mkdirSync(path); // a directory where the file should be
    const failure = (p: Promise<unknown>) =>
      p.then(
        () => undefined,
        (e: unknown) => e as Error,
      );
    const unreadable = await failure(new FileAddressStore(path).load());
    expect(unreadable?.message).toMatch(new RegExp(`^cannot read the address table ${path}: `));
    expect(unreadable?.cause).toMatchObject({ code: 'EISDIR' });
    const noDir = await failure(new FileAddressStore(join(dir, 'none', 'table.json')).load());
    expect(noDir?.cause).toMatchObject({ code: 'ENOENT' });
    mkdirSync(join(dir, 'gone'));
    const loaded = new FileAddressStore(join(dir, 'gone', 'table.json'));
    await loaded.load();
    mkdirSync(loaded.path); // a write that fails
    const noWrite = await loaded.bind({ name: 'a', address: 1 }).catch((e: unknown) => e as Error);
    expect(noWrite?.cause).toMatchObject({ code: expect.stringMatching(/^(EISDIR|ENOTEMPTY|EEXIST)$/) });
    rmdirSync(loaded.path);
    await loaded.close();
  });

  it('a binding asked twice in one go is on disk when the second promise resolves', async () => {
    const store = new FileAddressStore(path);
    await store.load();
    const first = store.bind({ name: 'a', address: 1 });
    await store.bind({ name: 'a', address: 1 });
    expect(JSON.parse(readFileSync(path, 'utf8')).bindings).toEqual({ a: 1 });
    await first;
    await store.close();
  });

  it('leaves no file descriptor open per write', async () => {
    const { readdirSync } = await import('node:fs');
    const store = new FileAddressStore(path);
    await store.load();
    await store.bind({ name: 'warm', address: 1 }); // the first write loads its modules
    const before = readdirSync('/proc/self/fd').length;
    for (let i = 2; i < 22; i++) await store.bind({ name: `m${i}`, address: i });
    expect(readdirSync('/proc/self/fd').length).toBe(before);
    await store.close();
  });

  it('close() gives back only its own lock: never before a load, never twice', async () => {
    const other = new FileAddressStore(path);
    await other.load();
    const lock = readFileSync(`${path}.lock`, 'utf8');
    await new FileAddressStore(path).close(); // never loaded: the lock is the other's
    expect(readFileSync(`${path}.lock`, 'utf8')).toBe(lock);
    await other.close();
    const third = new FileAddressStore(path);
    await third.load();
    await other.close(); // closed already: the lock now is third's
    expect(readFileSync(`${path}.lock`, 'utf8')).toMatch(new RegExp(`^${process.pid}`));
    await third.close();
  });

  it('gives up on a lock it cannot read, saying so', async () => {
    mkdirSync(`${path}.lock`); // exists, cannot be read as a process id nor removed as a file
    await expect(new FileAddressStore(path).load()).rejects.toThrow(
      new StoreError(`cannot read the lock ${path}.lock (EISDIR): remove it if no enroller uses ${path}`),
    );
  });

  it('reads what it wrote, and a load replaces what it held', async () => {
    writeFileSync(path, table({ x: 4, y: 5 }));
    const store = new FileAddressStore(path);
    expect(await store.load()).toEqual([
      { name: 'x', address: 4 },
      { name: 'y', address: 5 },
    ]);
    // a binding the table already holds costs no write, from the first bind on
    await store.bind({ name: 'x', address: 4 });
    expect(store.writes).toBe(0);
    writeFileSync(path, table({ z: 6 }));
    expect(await store.load()).toEqual([{ name: 'z', address: 6 }]);
    await store.close();
    await store.close(); // twice: nothing to give back
  });

  it("takes over a dead holder's lock whose takeover a process that died left unfinished; leaves no file behind", async () => {
    const { spawnSync } = await import('node:child_process');
    const { readdirSync, utimesSync } = await import('node:fs');
    const { takenMark } = await import('../../src/store/file-lock.js');
    const dead = spawnSync(process.execPath, ['-e', '']).pid as number; // a process that has exited
    writeFileSync(`${path}.lock`, `${dead}\n`);
    // The mark of a takeover of that lock, left by a process killed while taking it over, a minute ago.
    const mark = takenMark(`${path}.lock`, `${dead}\n`);
    writeFileSync(mark, '');
    utimesSync(mark, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    const store = new FileAddressStore(path);
    await store.load();
    expect(readFileSync(`${path}.lock`, 'utf8')).toMatch(new RegExp(`^${process.pid}( \\d+)?\n$`));
    expect(readdirSync(dir).filter((f) => f !== 'table.json.lock')).toEqual([]); // the mark gone, nothing else made
    await store.close();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('takes over a lock whose content is not a process id, and its own process id', async () => {
    for (const content of ['garbage\n', '', `${process.pid}\n`, '-5\n', '0\n']) {
      writeFileSync(`${path}.lock`, content);
      const store = new FileAddressStore(path);
      expect(await store.load(), JSON.stringify(content)).toEqual([]);
      expect(readFileSync(`${path}.lock`, 'utf8')).toMatch(new RegExp(`^${process.pid}( \\d+)?\n$`));
      await store.close();
    }
  });
});
