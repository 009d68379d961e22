/**
 * Found by a review (2026-12-05; fixed with it): a bind refused ("taken") after its enrollment ended, while the name's old member record
 * was retired during that enrollment's M_START.
 *
 * retire() only forgets the record while an enrollment of the name is past M_START (MemberRegistryHost.enrolling):
 * that enrollment's end is to give the binding back. Here it ends (replaced by another name's enrollment from the
 * same shim) with its bind in flight, so abandon -> giveBack finds no address and does nothing; the bind then
 * answers `false`, and AddressAssigner.#bind returns at `if (stored === false) return undefined;` without
 * #orphaned/#bindFailed. Nobody ever leaves m (on etcd: members/m/<enroller> stays under our lease, so m never
 * goes idle and no enroller ever releases it) and no hold is armed.
 */
import { afterEach, expect, it } from 'vitest';
import { cleanup, connectMsg, RawPeer, settle, startMsg, stopReply, withEnroller } from '../support/helpers.js';
import { ManualClock } from './manual-clock.js';
import { SharedMemoryStore } from './shared-memory-store.js';
import { takeOverWorld } from './take-over-world.js';

afterEach(cleanup);

it('an enrollment that ends with its bind in flight, refused, still lets go the retired record it took over', async () => {
  const { clock, store, enroller, peer, again } = await takeOverWorld();
  expect(enroller.members().map((x) => x.name)).toEqual(['m']);
  const answer = await again(); // m enrols again; its bind is held on the wire (a slow etcd)
  expect(store.callsOf('bind')).toEqual(['bind m', 'bind m']);

  // The old record's lease ends meanwhile: only forgotten (an enrollment of m is past M_START).
  clock.advance(1100);
  await settle();
  expect(enroller.members()).toEqual([]);
  expect(store.callsOf('leave')).toEqual([]);

  // The process at m-shim now connects as another name: m's enrollment is abandoned (it has no address yet).
  await peer.send('bootstrap', connectMsg(5, 'n'));
  await settle();

  // The bind answers: refused (another enroller wrote meanwhile).
  answer('taken');
  await settle();

  // Long after: m is served by nobody here; our mark on it must have been let go.
  for (let i = 0; i < 20; i++) clock.advance(1000);
  await settle();
  expect({ members: enroller.members().map((x) => x.name), leaves: store.callsOf('leave') }).toEqual({
    members: [],
    leaves: ['leave m'],
  });
});

it('a re-enrollment whose refused bind finds the pool full (answered "failed") still lets go the retired record it took over', async () => {
  const clock = new ManualClock();
  const store = new SharedMemoryStore();
  const { enroller, net } = await withEnroller({
    clock,
    store,
    leaseMs: 1000,
    holdMs: 1000,
    pendingTimeoutMs: 3000,
    addressPool: { first: 1002, last: 1003 },
  });
  const peer = new RawPeer(net.attach('m-shim'));
  await peer.send('bootstrap', connectMsg(1, 'm'));
  await settle();
  await peer.send('bootstrap', startMsg(2));
  await settle();
  await peer.send('bootstrap', stopReply(peer));
  await settle();
  const address = enroller.members()[0]?.address as number;
  store.listener?.bound({ name: 'y', address: address === 1002 ? 1003 : 1002 }); // another enroller's member: the DIF is full

  let answer!: (v: 'taken') => void;
  store.script.push(new Promise<'taken'>((resolve) => (answer = resolve)));
  await peer.send('bootstrap', connectMsg(3, 'm'));
  await settle();
  await peer.send('bootstrap', startMsg(4, address));
  await settle();
  clock.advance(1100); // the old record's lease ends: only forgotten
  await settle();
  answer('taken'); // refused; the pool has nothing left for m: answered "failed", the enrollment stays until it times out
  await settle();
  for (let i = 0; i < 20; i++) clock.advance(1000);
  await settle();
  expect({ pending: enroller.stats().pending, members: enroller.members().length, leaves: store.callsOf('leave') }).toEqual({
    pending: 0,
    members: 0,
    leaves: ['leave m'],
  });
});
