/**
 * Found by a review (2026-12-05; fixed with it): giveBack's new branch (tookOver, no address) leaves the name when a tookOver enrollment is abandoned
 * with its bind in flight. SessionTable.replace abandons it when the same member connects again (no address yet:
 * nothing to inherit), so the leave goes out while the bind is in flight; the bind then answers, and the same
 * member's new enrollment takes the binding over (assignment.ts `heir` -> inherit) and completes. The store was
 * told to leave m after the last bind/confirm of m: on etcd that forgets the bind's token and deletes its mark
 * (stray), exactly the hazard of test/etcd/enroller.leave-while-rebinding.test.ts.
 */
import { afterEach, expect, it } from 'vitest';
import { cleanup, connectMsg, settle, startMsg, stopReply } from '../support/helpers.js';
import { takeOverWorld } from './take-over-world.js';

afterEach(cleanup);

it('a tookOver enrollment replaced by the same member mid-bind does not leave the name its heir completes with', async () => {
  const { clock, store, enroller, peer, address, again } = await takeOverWorld();
  const answer = await again(); // m enrols again; its bind is held on the wire.
  // The old record's lease ends: only forgotten, the enrollment took it over.
  clock.advance(1100);
  await settle();
  expect(enroller.members()).toEqual([]);
  expect(store.callsOf('leave')).toEqual([]);

  // The same member connects again (its M_START_R was slow): replace abandons the enrollment (no address yet).
  await peer.send('bootstrap', connectMsg(5, 'm'));
  await settle();
  answer(); // the bind commits: the new enrollment inherits it
  await settle();
  await peer.send('bootstrap', startMsg(6, address));
  await settle();
  await peer.send('bootstrap', stopReply(peer));
  await settle();

  expect(enroller.members().map((x) => [x.name, x.address])).toEqual([['m', address]]);
  // m is served here, on the binding the in-flight bind wrote: no leave of m may come after that bind.
  const last = store.calls.filter((c) => c.endsWith(' m'));
  expect(last.slice(last.lastIndexOf('bind m'))).not.toContain('leave m');
});
