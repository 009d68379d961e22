/**
 * Found by a review (2026-12-05; fixed with it): an enrollment whose M_STOP_R carries an error ends through SessionTable.delete (enroller.ts
 * #onStopReply: `else this.#p.sessions.delete(from)`), never through abandon -> giveBack. Its address, bound for
 * it, is never given back (neither freed nor held) and, with a shared store, its mark (and a retired record's mark
 * it took over, `tookOver`) is never left.
 */
import { afterEach, expect, it } from 'vitest';
import { OpCode } from '../../src/index.js';
import { cleanup, connectMsg, RawPeer, settle, startMsg, withEnroller } from '../support/helpers.js';
import { ManualClock } from './manual-clock.js';
import { takeOverWorld } from './take-over-world.js';

afterEach(cleanup);

const failedStopReply = (peer: RawPeer) => ({
  opCode: OpCode.M_STOP_R,
  invokeId: peer.ofType(OpCode.M_STOP).at(-1)?.invokeId,
  result: -1,
  resultReason: 'member failed to apply the RIB',
});

it('an enrollment ended by a failed M_STOP_R gives its fresh address back', async () => {
  const clock = new ManualClock();
  const { enroller, net } = await withEnroller({ clock, leaseMs: 1000, holdMs: 1000, pendingTimeoutMs: 5000 });
  const peer = new RawPeer(net.attach('m-shim'));
  await peer.send('bootstrap', connectMsg(1, 'm'));
  await settle();
  await peer.send('bootstrap', startMsg(2));
  await settle();
  expect(peer.ofType(OpCode.M_STOP).length).toBe(1);
  await peer.send('bootstrap', failedStopReply(peer));
  await settle();
  for (let i = 0; i < 30; i++) clock.advance(1000);
  await settle();
  // Nobody holds m (no member, no enrollment in progress, never comes back): its address must be free again.
  expect({ members: enroller.members().length, pending: enroller.stats().pending, bound: enroller.stats().bound }).toEqual({
    members: 0,
    pending: 0,
    bound: 0,
  });
});

it('a tookOver re-enrollment ended by a failed M_STOP_R lets the name go (leave), as the record would have', async () => {
  const { clock, store, enroller, peer, again } = await takeOverWorld();
  const answer = await again();
  clock.advance(1100); // the old record's lease ends: forgotten only (tookOver)
  await settle();
  answer();
  await settle();
  await peer.send('bootstrap', failedStopReply(peer));
  await settle();
  for (let i = 0; i < 30; i++) clock.advance(1000);
  await settle();
  expect({ members: enroller.members().length, pending: enroller.stats().pending, leaves: store.callsOf('leave') }).toEqual({
    members: 0,
    pending: 0,
    leaves: ['leave m'],
  });
});
