/**
 * Found by a review (2026-12-05; fixed with it): a store whose release failed by throwing (a synchronous store, as
 * one on a sync database driver is) was never asked again, where a release that rejects is tried again within
 * RETRY_RELEASE_MS: the address stayed bound, in the pool and the store, for good.
 */
import { afterEach, expect, it } from 'vitest';
import { OpCode } from '../../src/index.js';
import { MemoryAddressStore } from '../../src/store/address-store.js';
import { cleanup, connectMsg, RawPeer, settle, startMsg, stopReply, withEnroller } from '../support/helpers.js';
import { ManualClock } from './manual-clock.js';

afterEach(cleanup);

for (const how of ['rejects', 'throws'] as const) {
  it(`a release that ${how} once is tried again: the address is freed`, async () => {
    let failures = 1;
    class FlakyStore extends MemoryAddressStore {
      override release(name: string): void | Promise<void> {
        if (failures > 0) {
          failures--;
          if (how === 'throws') throw new Error('database is locked');
          return Promise.reject(new Error('database is locked'));
        }
        return super.release(name);
      }
    }
    const clock = new ManualClock();
    const store = new FlakyStore();
    const { enroller, net } = await withEnroller({ clock, store, holdMs: 1000, leaseMs: 600_000 });
    const m = new RawPeer(net.attach('m-shim'));
    await m.send('bootstrap', connectMsg(1, 'm'));
    await settle();
    await m.send('bootstrap', startMsg(2));
    await settle();
    await m.send('bootstrap', stopReply(m));
    await settle();
    await m.send('bootstrap', { opCode: OpCode.M_RELEASE, invokeId: 3 });
    await settle();
    for (let i = 0; i < 20; i++) {
      clock.advance(1000);
      await settle();
    }
    expect({ bound: enroller.stats().bound, stored: store.load() }).toEqual({ bound: 0, stored: [] });
  });
}
