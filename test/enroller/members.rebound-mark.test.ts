/**
 * Found by a review of the rebound fix: a listed member whose binding moved
 * was only forgotten (its mark kept) while an enrollment of its name was
 * under way here; if that enrollment then ended without an address of its
 * own (its bind failed), nobody deleted this enroller's mark, and no other
 * enroller could ever release the name. Only an enrollment that has bound
 * an address takes the mark over; otherwise the member is let go, mark and
 * all.
 */
import { afterEach, expect, it } from 'vitest';
import { MemoryNetwork } from '../../src/index.js';
import { cleanup, connectMsg, enrolledPeer, settle, startMsg, until, withEnroller } from '../support/helpers.js';
import { SharedMemoryStore } from '../enroller/shared-memory-store.js';

afterEach(cleanup);

it('a member forgotten because its name moved while it enrolled again here has its mark left once that enrollment fails', async () => {
  const net = new MemoryNetwork({ seed: 31 });
  const store = new SharedMemoryStore();
  // Our pool probes from its first address (1002), never the other enroller's 1700 (Math.random hit it once in 998 runs).
  const { enroller } = await withEnroller({ store, random: () => 0, retransmitMs: 20, pendingTimeoutMs: 300 }, net);
  const peer = await enrolledPeer(net, 'm');
  expect(enroller.members().map((m) => m.name)).toEqual(['m']);
  let fail!: (err: Error) => void;
  store.script.push(
    new Promise<void>((_, reject) => {
      fail = reject;
    }),
  );
  // The member enrols again here (its keepalives timed out, say): its bind waits for etcd.
  await peer.send('bootstrap', connectMsg(10, 'm'));
  await settle();
  await peer.send('bootstrap', startMsg(11));
  await settle();
  // Meanwhile another enroller moved m's binding: the watch tells.
  store.listener?.bound({ name: 'm', address: 1700 });
  expect(enroller.members()).toEqual([]); // forgotten, not retired: no leave
  fail(new Error('etcd: deadline exceeded')); // the bind here fails
  await settle();
  await until(() => enroller.pendingEnrollments === 0, 3000, 'the enrollment abandoned');
  await new Promise((r) => setTimeout(r, 100));
  expect(store.callsOf('leave')).toContain('leave m'); // this enroller serves m no more: its mark must go
});
