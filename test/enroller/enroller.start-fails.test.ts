/**
 * A start() whose RIB, store or shim fails: a typed error with the part's own error as its cause, and nothing left
 * open. Found by an audit (2026-12-06): the user's raw errors came through, and a FileAddressStore stayed locked after
 * a shim refused the handler, until stop().
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type AddressStore,
  Enroller,
  type EnrollerOptions,
  FileAddressStore,
  MemoryAddressStore,
  MemoryNetwork,
  MemoryRib,
  RibError,
  ShimError,
  StoreError,
} from '../../src/index.js';
import { cleanup, onCleanup } from '../support/helpers.js';

afterEach(cleanup);

const base = (over: Partial<EnrollerOptions>): EnrollerOptions => ({
  shim: new MemoryNetwork().attach('e'),
  rib: new MemoryRib(),
  ipcpName: 'e',
  difName: 'demo.DIF',
  addressPool: { first: 1, last: 9 },
  ...over,
});

/** start()'s rejection. */
async function failedStart(enroller: Enroller): Promise<Error> {
  const err = await enroller.start().then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  expect(err).toBeDefined();
  expect(enroller.running).toBe(false);
  return err as Error;
}

describe('Enroller.start() when a part fails', () => {
  it('a RIB that throws its own error: RibError with that cause, and the store never opened', async () => {
    const broken = new Error('disk full');
    const rib = new MemoryRib();
    rib.write = () => {
      throw broken;
    };
    const calls: string[] = [];
    const load = (): [] => {
      calls.push('load');
      return [];
    };
    const store: AddressStore = { load, bind: () => undefined, release: () => undefined };
    const err = await failedStart(new Enroller(base({ rib, store })));
    expect(err).toBeInstanceOf(RibError);
    expect(err.message).toBe('cannot write /dif/config/name into the RIB: disk full');
    expect(err.cause).toBe(broken);
    expect(calls).toEqual([]);
  });

  it('a store whose load rejects: StoreError with that cause, and the store closed', async () => {
    const broken = new Error('EACCES');
    const calls: string[] = [];
    const store: AddressStore = {
      load: () => Promise.reject(broken),
      bind: () => undefined,
      release: () => undefined,
      close: () => void calls.push('close'),
    };
    const err = await failedStart(new Enroller(base({ store })));
    expect(err).toBeInstanceOf(StoreError);
    expect(err.message).toBe('cannot open the address store: EACCES');
    expect(err.cause).toBe(broken);
    expect(calls).toEqual(['close']);
  });

  it("the library's own errors come through as they are", async () => {
    const own = new StoreError('the table is corrupt');
    const store = new MemoryAddressStore();
    store.load = () => {
      throw own;
    };
    expect(await failedStart(new Enroller(base({ store })))).toBe(own);
  });

  it('a shim that refuses the handler: ShimError with that cause, and a file store let go (another enroller takes the file)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rina-start-fails-'));
    onCleanup(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'addresses.json');
    const refused = new Error('socket is closed');
    const shim = new MemoryNetwork().attach('e');
    shim.onReceive = () => {
      throw refused;
    };
    const err = await failedStart(new Enroller(base({ shim, store: new FileAddressStore(path) })));
    expect(err).toBeInstanceOf(ShimError);
    expect(err.message).toBe('cannot listen on the shim: socket is closed');
    expect(err.cause).toBe(refused);
    const next = new Enroller(base({ store: new FileAddressStore(path) }));
    await next.start(); // refused with "locked by another process" while the failed start held the lock
    onCleanup(() => next.stop());
    expect(next.running).toBe(true);
  });
});

// Found by an audit (2026-12-06): on etcd, a stop() during the store's open made that open fail ("not open"), and
// start() rejected with it, where an overtaken start() resolves, not serving, with the other stores.
it('a start() overtaken by stop() while the store opens resolves, not serving, even when the open then fails', async () => {
  let fail: (err: Error) => void = () => undefined;
  const store = new MemoryAddressStore();
  store.load = (() => new Promise((_, reject) => (fail = reject))) as never;
  const enroller = new Enroller(base({ store }));
  const starting = enroller.start();
  await new Promise((r) => setImmediate(r));
  const stopping = enroller.stop();
  fail(new StoreError('the EtcdAddressStore is not open'));
  await expect(starting).resolves.toBeUndefined(); // before: rejected with the StoreError
  await stopping;
  expect(enroller.running).toBe(false);
});

it('start() on a closed shim rejects with ShimError: it could never hear anything (it said it was running)', async () => {
  const shim = new MemoryNetwork().attach('e');
  await shim.close();
  const err = await failedStart(new Enroller(base({ shim })));
  expect(err).toBeInstanceOf(ShimError);
  expect(err.message).toBe('MemoryNetwork shim e is closed: nothing can be received on it'); // (the shim's own error, as it is)
});
