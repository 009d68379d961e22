/**
 * An enroller whose shared store doubts its lease (its proof ran out, and the
 * store is asking etcd whether it lives): nothing is vouched for, and nobody
 * is turned away, until the store knows. The etcd side is in
 * test/etcd/lease.test.ts and test/etcd/fencing.test.ts ("late answers").
 */
import { afterEach, expect, it } from 'vitest';
import { type AddressStoreListener, type CdapMessage, KEEPALIVE_OBJECT, OpCode } from '../../src/index.js';
import { cleanup, connectMsg, RawPeer, settle, startMsg, stopReply, withEnroller } from '../support/helpers.js';
import { ManualClock } from './manual-clock.js';
import { SharedMemoryStore } from './shared-memory-store.js';

afterEach(cleanup);

const keepalive = (invokeId: number): CdapMessage => ({ opCode: OpCode.M_READ, invokeId, ...KEEPALIVE_OBJECT });

/** An enroller on a shared in-memory store, and a raw member at m-shim started (its M_STOP not answered yet). */
async function started() {
  const store = new SharedMemoryStore();
  const env = await withEnroller({ store, clock: new ManualClock(), retransmitMs: 50 });
  const peer = new RawPeer(env.net.attach('m-shim'));
  const send = async (msg: CdapMessage) => {
    await peer.send('bootstrap', msg);
    await settle();
  };
  await send(connectMsg(1, 'm'));
  await send(startMsg(2));
  expect(peer.ofType(OpCode.M_STOP)).toHaveLength(1);
  const readReplies = () => peer.ofType(OpCode.M_READ_R).map((r) => r.result ?? 0);
  return { ...env, store, peer, send, readReplies };
}

it("a member's keepalive while the store doubts its lease is not answered, and the member stays; answered again once the lease is proven", async () => {
  const { enroller, store, send, peer, readReplies } = await started();
  await send(stopReply(peer));
  expect(enroller.members()).toMatchObject([{ name: 'm' }]);
  store.vouch = false;
  store.doubt = true;
  await send(keepalive(10));
  expect(readReplies()).toEqual([]);
  expect(enroller.members()).toMatchObject([{ name: 'm' }]);
  expect(enroller.stats()).toMatchObject({ keepalivesInDoubt: 1, keepalives: 0 });
  store.vouch = true; // etcd said the lease lives: no fence, nothing to prove again
  store.doubt = false;
  await send(keepalive(11));
  expect(readReplies()).toEqual([0]);
  expect(store.callsOf('confirm')).toEqual([]);
});

it('a doubt that ends in a fence: keepalives from then on are refused, and the member let go', async () => {
  const { enroller, store, send, peer, readReplies } = await started();
  await send(stopReply(peer));
  store.vouch = false;
  store.doubt = true;
  await send(keepalive(10));
  store.doubt = false; // etcd said the lease is gone (or did not answer): the store fences
  (store.listener as AddressStoreListener).fenced?.(true);
  await send(keepalive(11));
  expect(readReplies()).toEqual([-1]);
  expect(enroller.members()).toEqual([]);
});

it('an M_STOP_R while the store doubts its lease completes nothing and releases nothing: the enrollment waits, and completes at the next once the lease is proven', async () => {
  const { enroller, store, send, peer } = await started();
  store.vouch = false;
  store.doubt = true;
  await send(stopReply(peer));
  expect(peer.ofType(OpCode.M_RELEASE)).toEqual([]);
  expect(enroller.members()).toEqual([]);
  expect(enroller.pendingEnrollments).toBe(1);
  store.vouch = true;
  store.doubt = false;
  await send(stopReply(peer)); // (the member answers the M_STOP the enroller repeats)
  expect(enroller.members()).toMatchObject([{ name: 'm' }]);
  expect(enroller.pendingEnrollments).toBe(0);
});

it('asked whether it vouches while its store doubts, the enroller does not fence itself (the store fences if the lease is gone)', async () => {
  const { store, send, peer, readReplies } = await started();
  await send(stopReply(peer));
  store.vouch = false;
  store.doubt = true;
  for (let i = 0; i < 3; i++) await send(keepalive(10 + i));
  store.vouch = true;
  store.doubt = false;
  await send(keepalive(20));
  expect(readReplies()).toEqual([0]); // never fenced: no revalidation was needed to answer again
});

it("back from a lapse, while its members' bindings are proven again: a keepalive waits (unanswered, the member kept) and is answered once its binding is proven", async () => {
  const { enroller, store, send, peer, readReplies } = await started();
  await send(stopReply(peer));
  const listener = store.listener as AddressStoreListener;
  listener.fenced?.(true); // lapsed: a keepalive now is refused...
  const open = store.holdConfirms();
  listener.fenced?.(false); // ...but a new lease is granted, and the members are being proven
  await settle();
  await send(keepalive(10));
  expect(readReplies()).toEqual([]);
  expect(enroller.members()).toMatchObject([{ name: 'm' }]);
  expect(enroller.stats().keepalivesInDoubt).toBe(1);
  open();
  await settle();
  await send(keepalive(11));
  expect(readReplies()).toEqual([0]);
});

// Found by a review: the keepalive of a member whose M_STOP_R was lost stands for it (see Enroller #onRead), and was
// refused "not enrolled" during a doubt, while the M_STOP_R itself would have waited.
it('a keepalive standing for a lost M_STOP_R, while the store doubts its lease, waits (is not refused); after the doubt it completes the enrollment', async () => {
  const { enroller, store, send, readReplies } = await started(); // it answered M_STOP; its M_STOP_R was lost
  store.vouch = false;
  store.doubt = true;
  await send(keepalive(10));
  expect(enroller.pendingEnrollments).toBe(1);
  expect(readReplies()).toEqual([]);
  store.vouch = true;
  store.doubt = false;
  await send(keepalive(11));
  expect(readReplies()).toEqual([0]);
  expect(enroller.members()).toMatchObject([{ name: 'm' }]);
});

it('an M_START while the store doubts its lease is answered "unavailable", saying the lease is being asked about (not that it was lost)', async () => {
  const store = new SharedMemoryStore();
  const env = await withEnroller({ store, clock: new ManualClock(), retransmitMs: 50 });
  const peer = new RawPeer(env.net.attach('n-shim'));
  await peer.send('bootstrap', connectMsg(1, 'n'));
  await settle();
  store.vouch = false;
  store.doubt = true;
  await peer.send('bootstrap', startMsg(2));
  await settle();
  const [reply] = peer.ofType(OpCode.M_START_R);
  expect(reply?.result).toBe(-4);
  expect(reply?.resultReason).toMatch(/asking the shared store whether its lease is alive/);
  store.doubt = false; // etcd said it is gone: the store fences
  (store.listener as AddressStoreListener).fenced?.(true);
  await peer.send('bootstrap', startMsg(3));
  await settle();
  expect(peer.ofType(OpCode.M_START_R)[1]?.resultReason).toMatch(/it lost its lease/);
});
