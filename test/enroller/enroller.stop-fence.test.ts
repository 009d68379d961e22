/**
 * Found by a review: Enroller.stop() lifts the ledger's fence first ("a later start() opens the store afresh"), then
 * awaits the farewells (up to 1 s) before it closes the store. A shared store whose lease lapses in that
 * window (etcd down: exactly when lapses happen) fences the ledger again; the store's renewal is then cut
 * by close(), so no fenced(false) ever comes. start() opens the store afresh (a fresh lease is no renewal:
 * no fenced(false), no revalidation) and never lifts the ledger's fence: the restarted enroller refuses
 * every M_START "unavailable" and every keepalive, forever.
 */
import { afterEach, expect, it } from 'vitest';
import { type AddressStoreListener, OpCode } from '../../src/index.js';
import { cleanup, enrolledPeer, startedPeer, withEnroller } from '../support/helpers.js';
import { ManualClock } from './manual-clock.js';
import { SharedMemoryStore } from './shared-memory-store.js';

afterEach(cleanup);

it('a lapse while stop() says goodbye leaves the ledger fenced across the next start(): nobody can enrol again', async () => {
  const store = new SharedMemoryStore();
  const { net, enroller } = await withEnroller({ store, clock: new ManualClock(), retransmitMs: 50 });
  await enrolledPeer(net, 'a');
  const old = store.listener as AddressStoreListener;

  const stopping = enroller.stop(); // unfences, then says goodbye to a (the store is still open)
  old.fenced?.(true); // the lease lapses meanwhile (etcd out of reach); its renewal is cut by close()
  await stopping;

  await enroller.start(); // the store opened afresh, under a fresh lease: no fenced(false) comes
  const b = await startedPeer(net, 'b');
  const answers = b.ofType(OpCode.M_START_R).map((r) => r.result ?? 0);
  expect(answers).toEqual([0]); // (before the fix: [-4] "it lost its lease in the shared store", and so forever)
  expect(enroller.health()).toEqual({ ok: true });
});
