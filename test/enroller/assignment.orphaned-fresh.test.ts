/**
 * Found by a review (2026-12-05; fixed with it): the hazard 48beead closed for a failed bind ("a binding the pool has learned for the name
 * since is another enroller's, and is never freed from here at once") is still open on the other path into
 * #orphaned(name, undefined): a bind that SUCCEEDS after its enrollment was replaced or stopped. #orphaned then calls
 * ledger.free(name), which releases whatever the pool holds for the name now, not the address this bind wrote:
 * here another enroller's later binding of m (1500), whose member was told it.
 */
import { afterEach, expect, it } from 'vitest';
import { cleanup, connectMsg, RawPeer, settle, startMsg, withEnroller } from '../support/helpers.js';
import { SharedMemoryStore } from './shared-memory-store.js';

afterEach(cleanup);

it("a bind answered after its enrollment ended frees only what it bound, never another enroller's later binding of the name", async () => {
  const store = new SharedMemoryStore();
  // The pool probes from a random point with a shared store: from its first address here (1002), so that our bind
  // never proposes the other enroller's 1500 itself (it did once in 998 runs with Math.random).
  const { enroller, net } = await withEnroller({ store, holdMs: 1000, random: () => 0 });
  const peer = new RawPeer(net.attach('m-shim'));
  let answer!: () => void;
  store.script.push(new Promise<void>((resolve) => (answer = resolve)));
  await peer.send('bootstrap', connectMsg(1, 'm'));
  await settle();
  await peer.send('bootstrap', startMsg(2));
  await settle();
  expect(store.callsOf('bind')).toEqual(['bind m']);

  // The process at m-shim connects as another name: m's enrollment is abandoned with its bind in flight.
  await peer.send('bootstrap', connectMsg(3, 'n'));
  await settle();
  // Another enroller binds m at 1500 (its member is told 1500); the watch tells the pool. Then our bind answers.
  store.listener?.bound({ name: 'm', address: 1500 });
  answer();
  await settle();

  expect(store.callsOf('release')).toEqual([]);
  expect(enroller.stats().bound).toBe(1); // m at 1500, as the other enroller bound it
});
