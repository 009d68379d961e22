/**
 * Found by a review (2026-12-05; fixed with it): stop() while a FileAddressStore bind was in flight. close() waited
 * for the write, and its answer then ran the enrollment's continuation (the session gone, so the name was freed):
 * a release, written after close() gave the lock back and after stop() resolved. A stopped enroller now writes
 * nothing: what it would release is held, and released after the next start.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, expect, it } from 'vitest';
import { FileAddressStore } from '../../src/index.js';
import { cleanup, connectMsg, RawPeer, settle, startMsg, withEnroller } from '../support/helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'rina-review-a-stop-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(cleanup);

it('nothing is written to the file after stop() resolved', async () => {
  const path = join(dir, 'table.json');
  const store = new FileAddressStore(path);
  const { enroller, net } = await withEnroller({ store, holdMs: 60_000 });
  const m = new RawPeer(net.attach('m-shim'));
  await m.send('bootstrap', connectMsg(1, 'm'));
  await settle();
  await m.send('bootstrap', startMsg(2)); // m:1002 being written
  await settle();
  await enroller.stop();
  const atStop = { writes: store.writes, file: readFileSync(path, 'utf8'), locked: existsSync(store.lockPath) };
  await new Promise((r) => setTimeout(r, 200));
  const later = { writes: store.writes, file: readFileSync(path, 'utf8'), locked: existsSync(store.lockPath) };
  expect(later).toEqual(atStop);
});
