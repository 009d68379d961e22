/** Enroller.start() called again while the first call is still opening its store ("calling it twice is harmless"). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { FileAddressStore } from '../../src/index.js';
import { cleanup, member, newEnroller, settle } from '../support/helpers.js';

afterEach(cleanup);

/** A FileAddressStore whose first load() answers only when let go (a slow disk). */
class SlowFirstLoad extends FileAddressStore {
  calls = 0;
  letGo: () => void = () => undefined;
  override async load() {
    const table = await super.load();
    if (++this.calls === 1) await new Promise<void>((resolve) => (this.letGo = resolve));
    return table;
  }
}

// Found by a review (2026-12-06): the overtaken first start() closed the store the second one was using; since
// FileAddressStore refuses a bind after close(), every enrollment then failed with -4 until a restart.
it('start() called twice ("harmless"): the enroller that runs can still bind addresses in its FileAddressStore', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rina-start-twice-'));
  try {
    const store = new SlowFirstLoad(join(dir, 'table.json'));
    const { net, enroller } = newEnroller({ store });
    const first = enroller.start();
    while (store.calls === 0) await new Promise((r) => setTimeout(r, 5)); // the first start() is in its (slow) load
    const second = enroller.start(); // called again: its load finds the lock taken and reads the table
    await second;
    expect(enroller.running).toBe(true);
    store.letGo(); // the first start()'s load answers: it was overtaken, and closes the store
    await first;
    await settle();
    expect(enroller.running).toBe(true);
    const { mgr } = member(net, 'm', { timeoutMs: 500, maxRetries: 1 });
    // Before 87437ba..HEAD the bind wrote the table and this enrolled; now every bind is a StoreError
    await expect(mgr.enrolWithBootstrap('bootstrap')).resolves.toBe('demo.DIF');
  } finally {
    await cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});
