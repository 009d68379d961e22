/**
 * Written by a review (2026-12-05) that found nothing wrong here: a member told its address (burst sent) re-connects from the same shim (its new enrollment
 * inherits the told binding: SessionTable.replace), a fence comes and goes (the binding is no longer proven, so the
 * new M_START binds again), and that bind throws while the watch reports another enroller's binding of the name.
 * #bindFailed(m, heldBefore) must not free or leave anything at once: the enrollment still holds the told address.
 * (Found sound: SessionTable.serving(m) is true through `session.address`, so #orphaned returns.)
 */
import { afterEach, expect, it } from 'vitest';
import { OpCode } from '../../src/index.js';
import { cleanup, connectMsg, RawPeer, settle, startMsg, withEnroller } from '../support/helpers.js';
import { SharedMemoryStore } from './shared-memory-store.js';

afterEach(cleanup);

it('a told enrollment whose re-bind fails keeps its address: nothing freed, left or held', async () => {
  const store = new SharedMemoryStore();
  const { enroller, net } = await withEnroller({ store, holdMs: 1000 });
  const peer = new RawPeer(net.attach('m-shim'));
  await peer.send('bootstrap', connectMsg(1, 'm'));
  await settle();
  await peer.send('bootstrap', startMsg(2));
  await settle();
  const told = peer.ofType(OpCode.M_STOP).length;
  expect(told).toBe(1);

  // The member connects again (its new enrollment takes the told binding over); a fence comes and goes.
  await peer.send('bootstrap', connectMsg(3, 'm'));
  await settle();
  store.listener?.fenced?.(true);
  store.listener?.fenced?.(false);
  await settle();

  let fail!: (err: Error) => void;
  store.script.push(new Promise<void>((_, reject) => (fail = reject)));
  await peer.send('bootstrap', startMsg(4));
  await settle();
  expect(store.callsOf('bind')).toEqual(['bind m', 'bind m']);
  store.listener?.bound({ name: 'm', address: 1500 }); // another enroller's binding of m, meanwhile
  fail(new Error('etcd: deadline exceeded'));
  await settle();

  expect({ release: store.callsOf('release'), leave: store.callsOf('leave'), pending: enroller.stats().pending }).toEqual({
    release: [],
    leave: [],
    pending: 1,
  });
});
