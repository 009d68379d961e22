/**
 * A bind that fails for a name the pool had no address for (found by the 100,000-member scale run, 2026-12-05): the
 * enroller must not free, from there, a binding the pool has learned for the name meanwhile. That binding is
 * another enroller's (its member was told it); its marks may be gone for a lease lapse, so an immediate release
 * would go through and leave that member holding an address etcd binds to nobody. Only a name's earlier binding
 * of this enroller's is let go, and then held, as an abandoned enrollment's.
 */
import { afterEach, expect, it } from 'vitest';
import { cleanup, connectMsg, RawPeer, settle, startMsg, withEnroller } from '../support/helpers.js';
import { SharedMemoryStore } from './shared-memory-store.js';

afterEach(cleanup);

it('a failed bind of a name with no address here leaves alone what another enroller bound for it meanwhile', async () => {
  const store = new SharedMemoryStore();
  // Our pool probes from its first address (1002), never the other enroller's 1500 (Math.random hit it once in 998 runs).
  const { enroller, net } = await withEnroller({ store, random: () => 0, holdMs: 1000 });
  const peer = new RawPeer(net.attach('m-shim'));
  let fail!: (err: Error) => void;
  store.script.push(
    new Promise<undefined>((_, reject) => {
      fail = reject;
    }),
  );
  await peer.send('bootstrap', connectMsg(1, 'm'));
  await settle();
  await peer.send('bootstrap', startMsg(2));
  await settle();
  expect(store.callsOf('bind')).toEqual(['bind m']);

  // Meanwhile another enroller enrolled m at 1500: the watch tells the pool. Then this bind fails (etcd timed out).
  store.listener?.bound({ name: 'm', address: 1500 });
  fail(new Error('etcd: deadline exceeded'));
  await settle();

  // Never freed from here at once: held like any name this enroller no longer serves (a leave of a mark it does not
  // have sends nothing to etcd; the hold's release is refused while the other enroller marks m). Before 2026-12-06
  // it was not held at all, and a binding learned so whose marks were gone stayed in the pool for good
  // (test/etcd/pool-world.fuzz.test.ts, seeds 2 and 17).
  expect(store.callsOf('release')).toEqual([]);
  expect(store.callsOf('leave')).toEqual(['leave m']);
  expect(enroller.stats().bound).toBe(1); // m at 1500, as the other enroller bound it
});
