/**
 * A FileAddressStore bind whose write fails (found by a review, 2026-12-05): the store had set its table in memory
 * before writing and kept the binding after the failure, so the next write stored it, while the enroller had freed
 * the address in its pool. The next member given that address made the file bind it to two names, and the
 * enroller could not start again ("binds address ... to both"). Now a failed bind puts the table back.
 *
 * (vi.mock of write-file-atomic: listed in vitest.config.ts's MOCKING, so it runs in a process of its own.)
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it, vi } from 'vitest';
import { FileAddressStore, OpCode } from '../../src/index.js';
import { cleanup, connectMsg, RawPeer, settle, startMsg, stopReply, until, withEnroller } from '../support/helpers.js';

const failNext = vi.hoisted(() => ({ on: false }));
vi.mock('write-file-atomic', async (importOriginal) => {
  const real = (await importOriginal<{ default: (...args: unknown[]) => Promise<void> }>()).default;
  return {
    default: (...args: unknown[]) => {
      if (failNext.on) {
        failNext.on = false;
        return Promise.reject(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }));
      }
      return real(...args);
    },
  };
});

const dir = mkdtempSync(join(tmpdir(), 'rina-review3-'));
afterEach(async () => {
  await cleanup();
  rmSync(dir, { recursive: true, force: true });
});

it('a failed bind of a new name leaves the file binding nobody, and the address is given again', async () => {
  const path = join(dir, 'table.json');
  const store = new FileAddressStore(path);
  const { enroller, net } = await withEnroller({ store, holdMs: 1000 });

  // m's bind fails (the disk is full for a moment); m gives up.
  const m = new RawPeer(net.attach('m-shim'));
  failNext.on = true;
  await m.send('bootstrap', connectMsg(1, 'm'));
  await settle();
  await m.send('bootstrap', startMsg(2, 1500));
  await until(() => m.ofType(OpCode.M_START_R).length > 0, 1000, 'm refused');
  expect(m.ofType(OpCode.M_START_R)[0]?.result).toBe(-4);
  expect(enroller.stats().bound).toBe(0);

  // y asks for the same address (an attacker may ask for any): it is free in the pool.
  const y = new RawPeer(net.attach('y-shim'));
  await y.send('bootstrap', connectMsg(1, 'y'));
  await settle();
  await y.send('bootstrap', startMsg(2, 1500));
  await until(() => y.ofType(OpCode.M_STOP).length > 0, 1000, 'y M_STOP');
  await y.send('bootstrap', stopReply(y));
  await settle();
  expect(enroller.members().map((x) => [x.name, x.address])).toEqual([['y', 1500]]);
  await enroller.stop();

  const bindings = JSON.parse(readFileSync(path, 'utf8')).bindings as Record<string, number>;
  // Nobody holds m: the file must not bind it (and never bind 1500 twice); a restart must read the table.
  const reopened = new FileAddressStore(path);
  const loaded = await reopened.load().then(
    (b) => b,
    (err: Error) => err.message,
  );
  await reopened.close?.();
  expect({ bindings, loaded }).toEqual({ bindings: { y: 1500 }, loaded: [{ name: 'y', address: 1500 }] });
});
