import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type AddressBinding,
  type AddressStore,
  EnrollmentRejectedError,
  EnrollmentTimeoutError,
  FileAddressStore,
  MemoryAddressStore,
  MemoryNetwork,
  StoreError,
} from '../../src/index.js';
import { cleanup, member, withEnroller } from '../support/helpers.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rina-store-'));
});
afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
  rmSync(dir, { recursive: true, force: true });
});

describe('FileAddressStore', () => {
  it('starts empty without a file, persists binds and releases, and a new instance reads them back', async () => {
    const path = join(dir, 'table.json');
    const store = new FileAddressStore(path);
    expect(await store.load()).toEqual([]);
    await store.bind({ name: 'a', address: 10 });
    await store.bind({ name: 'b', address: 11 });
    await store.bind({ name: 'a', address: 12 });
    await store.release('b');
    const again = new FileAddressStore(path);
    expect(await again.load()).toEqual([{ name: 'a', address: 12 }]);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({ format: 'rina-enrollment/address-store', version: 1, bindings: { a: 12 } });
    // (the second instance took the first's lock over, this process's own: a takeover's mark stays until it is given back)
    expect(
      readdirSync(dir)
        .filter((f) => !f.endsWith('.taken'))
        .sort(),
    ).toEqual(['table.json', 'table.json.lock']);
    await again.close();
    expect(readdirSync(dir)).toEqual(['table.json']); // no temporary file left behind, the lock given back
  });

  it('refuses a file another live process holds, naming it; takes over the lock of a process that died, also when its id was reused', async () => {
    const path = join(dir, 'table.json');
    writeFileSync(path, JSON.stringify({ format: 'rina-enrollment/address-store', version: 1, bindings: { a: 7 } }));
    writeFileSync(`${path}.lock`, `${process.ppid}\n`); // a live process other than this one
    const store = new FileAddressStore(path);
    await expect(store.load()).rejects.toThrow(new RegExp(`in use by another enroller \\(process ${process.ppid};`));
    expect(readFileSync(`${path}.lock`, 'utf8')).toBe(`${process.ppid}\n`); // untouched
    // the same live id with its own start time: still held
    const started = readFileSync(`/proc/${process.ppid}/stat`, 'utf8').split(') ')[1]?.split(' ')[19];
    writeFileSync(`${path}.lock`, `${process.ppid} ${started}\n`);
    await expect(store.load()).rejects.toThrow(/in use by another enroller/);
    // a live id with another start time: the holder died and the id was given to another process
    writeFileSync(`${path}.lock`, `${process.ppid} 1\n`);
    expect(await store.load()).toEqual([{ name: 'a', address: 7 }]);
    await store.close();
    const dead = spawnSync(process.execPath, ['-e', '']).pid as number;
    writeFileSync(`${path}.lock`, `${dead}\n`);
    expect(await store.load()).toEqual([{ name: 'a', address: 7 }]);
    expect(readFileSync(`${path}.lock`, 'utf8')).toMatch(new RegExp(`^${process.pid} \\d+\n$`));
  });

  it('refuses to load where it cannot write (a missing directory), at load rather than at the first enrollment', async () => {
    const store = new FileAddressStore(join(dir, 'no', 'such', 'dir', 'table.json'));
    await expect(store.load()).rejects.toThrow(/cannot create .*table\.json\.lock \(ENOENT\): is the directory there and writable\?/);
  });

  it('writes changes made during a write together (group commit)', async () => {
    const store = new FileAddressStore(join(dir, 'table.json'));
    await store.load();
    await Promise.all(Array.from({ length: 1000 }, (_, i) => store.bind({ name: `m${i}`, address: i + 1 })));
    expect((await new FileAddressStore(store.path).load()).length).toBe(1000);
    expect(store.writes).toBeLessThanOrEqual(3);
  });

  it('refuses a corrupt table with StoreError rather than starting empty', async () => {
    const path = join(dir, 'table.json');
    writeFileSync(path, '{"format":"rina-enrollment/address-store","version":1,"bindings":{"a":5');
    await expect(new FileAddressStore(path).load()).rejects.toBeInstanceOf(StoreError);
    writeFileSync(path, JSON.stringify({ format: 'rina-enrollment/address-store', version: 1, bindings: { a: 5, b: 5 } }));
    await expect(new FileAddressStore(path).load()).rejects.toThrow(/binds address 5 to both "a" and "b"/);
    writeFileSync(path, JSON.stringify({ something: 'else' }));
    await expect(new FileAddressStore(path).load()).rejects.toThrow(/is not an address table/);
  });

  // Found by an audit (2026-12-06): a state file named through a symbolic link took a lock of its own beside the link,
  // so two enrollers shared one table and gave the same address to two members.
  it('a path through a symbolic link takes the lock of the file it names', async () => {
    const real = join(dir, 'real.json');
    const link = join(dir, 'link.json');
    writeFileSync(real, JSON.stringify({ format: 'rina-enrollment/address-store', version: 1, bindings: { a: 7 } }));
    symlinkSync(real, link);
    writeFileSync(`${real}.lock`, `${process.ppid}\n`); // held by a live process other than this one
    const store = new FileAddressStore(link);
    await expect(store.load()).rejects.toThrow(/in use by another enroller/);
    expect(existsSync(`${link}.lock`)).toBe(false);
    rmSync(`${real}.lock`);
    expect(await store.load()).toEqual([{ name: 'a', address: 7 }]);
    expect(store.lockPath).toBe(`${realpathSync(real)}.lock`);
    await store.bind({ name: 'b', address: 8 });
    expect(JSON.parse(readFileSync(real, 'utf8')).bindings).toEqual({ a: 7, b: 8 }); // written through the link
    await store.close();
    expect(readdirSync(dir).sort()).toEqual(['link.json', 'real.json']);
  });

  // Found by a review (2026-12-06): a link to a table not written yet still took a lock beside the link.
  it('a symbolic link to a table not written yet takes the lock of that table, and the table is written there', async () => {
    const real = join(dir, 'real.json');
    const link = join(dir, 'link.json');
    symlinkSync(real, link);
    writeFileSync(`${real}.lock`, `${process.ppid}\n`); // held by a live process other than this one
    const store = new FileAddressStore(link);
    await expect(store.load()).rejects.toThrow(/in use by another enroller/);
    rmSync(`${real}.lock`);
    expect(await store.load()).toEqual([]);
    expect(store.lockPath).toBe(join(realpathSync(dir), 'real.json.lock'));
    await store.bind({ name: 'b', address: 8 });
    expect(JSON.parse(readFileSync(real, 'utf8')).bindings).toEqual({ b: 8 }); // the link is left a link
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    await store.close();
  });

  // Found by an audit (2026-12-06): zod's message, its issues as indented JSON, came through: 29 lines on the CLI.
  it('a table of the wrong shape is refused in one line naming what is wrong', async () => {
    const path = join(dir, 'table.json');
    for (const shape of [{}, [], null, { format: 'rina-enrollment/address-store', version: 2, bindings: {} }]) {
      writeFileSync(path, JSON.stringify(shape));
      const err = await new FileAddressStore(path).load().catch((e: unknown) => e as StoreError);
      expect(err).toBeInstanceOf(StoreError);
      expect((err as Error).message).toMatch(/^\S*table\.json is not an address table of rina-enrollment: \S.*$/);
      expect((err as Error).message).not.toContain('\n');
    }
    writeFileSync(path, JSON.stringify({ format: 'rina-enrollment/address-store', version: 2, bindings: {} }));
    await expect(new FileAddressStore(path).load()).rejects.toThrow(/: version: /);
  });

  // Found by an audit (2026-12-06): a close() while load() took the lock returned at once, and the lock stayed taken.
  it('close() during load() gives the lock back once load() has taken it: nothing is left behind', async () => {
    const path = join(dir, 'table.json');
    writeFileSync(path, JSON.stringify({ format: 'rina-enrollment/address-store', version: 1, bindings: { a: 7 } }));
    const store = new FileAddressStore(path);
    const loading = store.load().catch((e: unknown) => e);
    await store.close();
    await loading;
    expect(readdirSync(dir)).toEqual(['table.json']);
    await expect(store.bind({ name: 'b', address: 8 })).rejects.toBeInstanceOf(StoreError); // closed: nothing written
  });

  it('a failed write rejects with StoreError', async () => {
    const store = new FileAddressStore(join(dir, 'missing-dir', 'table.json'));
    await expect(store.bind({ name: 'a', address: 1 })).rejects.toBeInstanceOf(StoreError);
  });
});

describe('the enroller on an address store', () => {
  it('restarted from its file, gives every known name its old address', async () => {
    const path = join(dir, 'table.json');
    const net = new MemoryNetwork();
    const first = await withEnroller({ store: new FileAddressStore(path) }, net);
    const members = Array.from({ length: 20 }, (_, i) => member(net, `m${i}`).mgr);
    await Promise.all(members.map((m) => m.enrolWithBootstrap('bootstrap')));
    const before = members.map((m) => m.address);
    net.detach('bootstrap'); // gone without a word (a crash), not a graceful stop
    await first.enroller.stop();
    await withEnroller({ store: new FileAddressStore(path) }, net);
    // new incarnations of the same IPCPs, who remember nothing
    const again = members.map((_, i) => member(net, `m${i}-again`).mgr);
    again.forEach((m, i) => {
      m.setIpcpName(`m${i}`);
    });
    // the old incarnations are gone: leave so their names are free
    await Promise.all(members.map((m) => m.close()));
    await Promise.all(again.map((m) => m.enrolWithBootstrap('bootstrap')));
    expect(again.map((m) => m.address)).toEqual(before);
  });

  it('killed between assigning and persisting, then restarted: no address is held twice', async () => {
    const path = join(dir, 'table.json');
    const net = new MemoryNetwork();
    const file = new FileAddressStore(path);
    // A store that never finishes persisting m-crash: the enroller "dies" there (and its write with it).
    let die!: (err: Error) => void;
    const dead = new Promise<void>((_, reject) => (die = reject));
    const stalling: AddressStore = {
      load: () => file.load(),
      release: (name) => file.release(name),
      bind: (b: AddressBinding) => (b.name === 'm-crash' ? dead : file.bind(b)),
    };
    const first = await withEnroller({ store: stalling, addressPool: { first: 1, last: 3 } }, net);
    const a = member(net, 'a').mgr;
    await a.enrolWithBootstrap('bootstrap');
    const crashing = member(net, 'm-crash', { timeoutMs: 200, maxRetries: 1 }).mgr;
    await expect(crashing.enrolWithBootstrap('bootstrap')).rejects.toBeInstanceOf(EnrollmentTimeoutError);
    // the enroller dies here; a new one starts from the file
    net.detach('bootstrap'); // gone without a word (a crash), not a graceful stop
    die(new Error('the process died'));
    await first.enroller.stop();
    await withEnroller({ store: new FileAddressStore(path), addressPool: { first: 1, last: 3 } }, net);
    const b = member(net, 'b').mgr;
    await b.enrolWithBootstrap('bootstrap');
    await crashing.enrolWithBootstrap('bootstrap');
    const addresses = [a.address, b.address, crashing.address];
    expect(new Set(addresses).size).toBe(3);
    // and the survivor of the first incarnation kept its address in the table
    expect((await new FileAddressStore(path).load()).find((x) => x.name === 'a')?.address).toBe(a.address);
  });

  it('a store that fails makes the enroller answer "unavailable": the member retries and gets in once it works', async () => {
    vi.useFakeTimers();
    let broken = true;
    const inner = new MemoryAddressStore();
    const flaky: AddressStore = {
      load: () => inner.load(),
      release: (n) => inner.release(n),
      bind: (b) => {
        if (broken) throw new Error('disk full');
        inner.bind(b);
      },
    };
    const { net } = await withEnroller({ store: flaky });
    const { mgr } = member(net, 'm', { initialBackoffMs: 1000 });
    const result = mgr.enrolWithBootstrap('bootstrap');
    await vi.advanceTimersByTimeAsync(500);
    expect(mgr.state).toMatchObject({ type: 'enrolling', attempt: 1 });
    broken = false;
    await vi.advanceTimersByTimeAsync(1000);
    await expect(result).resolves.toBe('demo.DIF');
    expect(inner.load()).toEqual([{ name: 'm', address: mgr.address }]);
  });

  it('with every attempt unavailable, the final error says why', async () => {
    vi.useFakeTimers();
    const failing: AddressStore = { load: () => [], release: () => undefined, bind: () => Promise.reject(new Error('disk full')) };
    const { net } = await withEnroller({ store: failing });
    const { mgr } = member(net, 'm');
    const result = mgr.enrolWithBootstrap('bootstrap').catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(10_000);
    const err = (await result) as EnrollmentTimeoutError;
    expect(err).toBeInstanceOf(EnrollmentTimeoutError);
    expect(err.attempts).toBe(3);
    expect(err.cause).toBeInstanceOf(EnrollmentRejectedError);
    expect((err.cause as EnrollmentRejectedError).reason).toMatch(/cannot store addresses now: disk full/);
  });
});

describe('restarting with another pool', () => {
  it('says which stored bindings it ignores (outside the new pool), naming them', async () => {
    const path = join(dir, 'table.json');
    const store = new FileAddressStore(path);
    await store.load();
    await store.bind({ name: '__proto__', address: 1002 });
    await store.bind({ name: 'b', address: 1003 });
    await store.bind({ name: 'c', address: 3002 });
    await store.close();
    const warnings: Array<{ fields: object; message: string | undefined }> = [];
    const logger = {
      debug: () => undefined,
      info: () => undefined,
      warn: (fields: object, message?: string) => warnings.push({ fields, message }),
      error: () => undefined,
    };
    const { enroller } = await withEnroller({ store: new FileAddressStore(path), addressPool: { first: 3000, last: 3999 }, logger });
    expect(warnings).toEqual([
      {
        fields: expect.objectContaining({
          event: 'store:skipped',
          skipped: [
            { name: '__proto__', address: 1002 },
            { name: 'b', address: 1003 },
          ],
        }),
        message: '2 stored bindings ignored (outside the pool 3000-3999, or an address bound twice): "__proto__"=1002, "b"=1003',
      },
    ]);
    expect(enroller.stats().members).toBe(0);
  });
});

describe('hostile IPCP names through an enroller', () => {
  it('members named __proto__ and constructor keep their addresses across a restart from the file; a newcomer gets neither', async () => {
    const path = join(dir, 'table.json');
    const net = new MemoryNetwork({ seed: 51 });
    const names = ['__proto__', 'constructor', 'toString', 'a', 'b', 'c', 'd'];
    const first = await withEnroller({ store: new FileAddressStore(path) }, net);
    const held = new Map<string, number | undefined>();
    for (const [i, name] of names.entries()) {
      const { mgr } = member(net, `shim-${i}`, {}, { ipcpName: name });
      await mgr.enrolWithBootstrap('bootstrap');
      held.set(name, mgr.address);
    }
    net.detach('bootstrap');
    await first.enroller.stop();
    const infos: string[] = [];
    const logger = {
      debug: () => undefined,
      info: (_f: object, m?: string) => infos.push(m ?? ''),
      warn: () => undefined,
      error: () => undefined,
    };
    await withEnroller({ store: new FileAddressStore(path), logger }, net);
    expect(infos.find((m) => m.startsWith('serving'))).toBeDefined();
    const { mgr: newcomer } = member(net, 'newcomer-shim', {}, { ipcpName: 'newcomer' });
    await newcomer.enrolWithBootstrap('bootstrap');
    expect([...held.values()]).not.toContain(newcomer.address);
    const again = new FileAddressStore(path);
    const loaded = new Map((await again.load()).map((b) => [b.name, b.address]));
    for (const name of names) expect(loaded.get(name)).toBe(held.get(name));
  });
});
