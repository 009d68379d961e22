/**
 * Found by a review (2026-12-05; fixed with it): two M_STARTs with different invoke ids reach one enrollment (a
 * member's M_START of its earlier attempt, delayed in the network past its new M_CONNECT, then the new attempt's
 * own). Each was answered anew and bound the same name to the same address. The second bind succeeded and its
 * member was told the address; the first then failed, and its undo released the name from the pool, the binding
 * the store and the member both held: the next newcomer was given the same address. Now one M_START of an
 * enrollment is answered at a time; one that comes meanwhile waits for its retransmission.
 */
import { afterEach, expect, it } from 'vitest';
import { OpCode } from '../../src/index.js';
import { cleanup, connectMsg, RawPeer, settle, startMsg, stopReply, withEnroller } from '../support/helpers.js';
import { ManualClock } from './manual-clock.js';
import { GatedStore } from './gated-store.js';

afterEach(cleanup);

it('a failed bind of an M_START answered anew does not free the address a later M_START of the same enrollment told its member', async () => {
  const clock = new ManualClock();
  const store = new GatedStore();
  const { enroller, net } = await withEnroller({ clock, store, holdMs: 1000, leaseMs: 600_000, pendingTimeoutMs: 600_000 });
  const m = new RawPeer(net.attach('m-shim'));
  const first = store.gate();
  const second = store.gate();
  await m.send('bootstrap', connectMsg(3, 'm'));
  await settle();
  await m.send('bootstrap', startMsg(2)); // the earlier attempt's M_START, delivered late
  await settle();
  await m.send('bootstrap', startMsg(4)); // this attempt's M_START
  await settle();
  second.ok(); // a second bind, if there is one, is stored: m is told 1002
  await settle();
  first.fail(); // the store times out the first
  await settle();
  const told = () => m.ofType(OpCode.M_START_R).find((r) => r.invokeId === 4 && (r.result ?? 0) === 0);
  if (told() === undefined) {
    await m.send('bootstrap', startMsg(4)); // not answered yet: the member retransmits it
    await settle();
  }
  expect(told()).toBeDefined();
  await m.send('bootstrap', stopReply(m));
  await settle();
  const mAddress = enroller.members().find((x) => x.name === 'm')?.address as number;
  expect(mAddress).toBeDefined();

  // A newcomer asks for m's address.
  const n = new RawPeer(net.attach('n-shim'));
  await n.send('bootstrap', connectMsg(1, 'n'));
  await settle();
  await n.send('bootstrap', startMsg(2, mAddress));
  await settle();
  await n.send('bootstrap', stopReply(n));
  await settle();

  const listed = enroller.members().map((x) => [x.name, x.address]);
  const addresses = listed.map(([, a]) => a);
  expect(new Set(addresses).size, `members: ${JSON.stringify(listed)}; store: ${JSON.stringify(store.table())}`).toBe(addresses.length);
});
