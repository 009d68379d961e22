/**
 * Found by a review: during a lease doubt (the store asks etcd whether the lease lives; nothing is fenced) an M_STOP_R
 * waits (#onStopReply), and so does a keepalive standing for it, "the lease may be alive". But a
 * retransmitted M_START of the same enrollment (its M_START_R lost) goes through AddressAssigner.repeat(),
 * which sees !proven() and abandons the enrollment with "unavailable: it lost its lease": a member half-way
 * through is turned away by a doubt that ends with the lease alive, and its M_STOP_R then gets M_RELEASE.
 */
import { afterEach, expect, it } from 'vitest';
import { OpCode } from '../../src/index.js';
import { cleanup, RawPeer, settle, startMsg, stopReply, connectMsg, withEnroller } from '../support/helpers.js';
import { ManualClock } from './manual-clock.js';
import { SharedMemoryStore } from './shared-memory-store.js';

afterEach(cleanup);

it('a retransmitted M_START during a doubt abandons the enrollment, though an M_STOP_R would have waited', async () => {
  const store = new SharedMemoryStore();
  const { net, enroller } = await withEnroller({ store, clock: new ManualClock(), retransmitMs: 50 });
  const peer = new RawPeer(net.attach('m-shim'));
  await peer.send('bootstrap', connectMsg(1, 'm'));
  await settle();
  await peer.send('bootstrap', startMsg(2));
  await settle();
  expect(peer.ofType(OpCode.M_STOP)).toHaveLength(1);

  store.vouch = false; // the lease's proof ran out: the store asks etcd whether it lives
  store.doubt = true;
  await peer.send('bootstrap', startMsg(2)); // the same M_START again (its M_START_R was lost)
  await settle();
  store.vouch = true; // the lease was alive all along
  store.doubt = false;
  await peer.send('bootstrap', stopReply(peer));
  await settle();

  expect(peer.ofType(OpCode.M_START_R).map((r) => r.result ?? 0)).not.toContain(-4); // (before the fix: [0, -4])
  expect(enroller.members()).toMatchObject([{ name: 'm' }]); // (before the fix: [] (M_RELEASE sent instead))
});
