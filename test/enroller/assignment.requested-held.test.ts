/**
 * Found by a review (2026-12-05; fixed with it): a name that asked, in a new M_START, for another free address than
 * the one it held was moved in the pool at once (AddressPool.assign), before the store had the new binding; its
 * old address was free meanwhile. A newcomer asking for it got it. Then either the member stayed listed at the old
 * address (no failure at all, the default store), or its bind failed and the undo put the old address back with
 * pool.set, dropping the newcomer's binding, so that the hold's end freed an address the newcomer held. A name
 * now keeps the address it holds, whatever it asks for.
 */
import { afterEach, expect, it } from 'vitest';
import { OpCode } from '../../src/index.js';
import { cleanup, connectMsg, RawPeer, settle, startMsg, stopReply, withEnroller } from '../support/helpers.js';
import { ManualClock } from './manual-clock.js';
import { GatedStore } from './gated-store.js';

afterEach(cleanup);

async function enrol(peer: RawPeer, name: string, first: number, requested = 0): Promise<void> {
  await peer.send('bootstrap', connectMsg(first, name));
  await settle();
  await peer.send('bootstrap', startMsg(first + 1, requested));
  await settle();
  await peer.send('bootstrap', stopReply(peer));
  await settle();
}

it("a failed bind's undo never takes another member's address out of the pool (no two members share one)", async () => {
  const clock = new ManualClock();
  const store = new GatedStore();
  const { enroller, net } = await withEnroller({ clock, store, holdMs: 1000, leaseMs: 600_000, pendingTimeoutMs: 600_000 });
  const m = new RawPeer(net.attach('m-shim'));
  await enrol(m, 'm', 1);
  expect(enroller.members().map((x) => [x.name, x.address])).toEqual([['m', 1002]]);
  await m.send('bootstrap', { opCode: OpCode.M_RELEASE, invokeId: 3 }); // m leaves: 1002 held for it
  await settle();

  // m enrols again, asking for 1500; its bind waits on the store.
  const gate = store.gate();
  await m.send('bootstrap', connectMsg(4, 'm'));
  await settle();
  await m.send('bootstrap', startMsg(5, 1500));
  await settle();

  // n asks for 1002 meanwhile (held for m: it should not get it; it does, and enrols).
  const n = new RawPeer(net.attach('n-shim'));
  await enrol(n, 'n', 1, 1002);
  const nAddress = enroller.members().find((x) => x.name === 'n')?.address as number;

  gate.fail(); // m's bind fails: undo
  await settle();

  clock.advance(1100); // m's hold runs out
  await settle();
  const p = new RawPeer(net.attach('p-shim'));
  await enrol(p, 'p', 1, nAddress);

  const listed = enroller.members().map((x) => [x.name, x.address]);
  const addresses = listed.map(([, a]) => a);
  expect(new Set(addresses).size, `members: ${JSON.stringify(listed)}; store: ${JSON.stringify(store.table())}`).toBe(addresses.length);
});

// The default store (MemoryAddressStore), no failure at all.
it('a listed member enrolling again for another address keeps its listed address out of the pool until that enrollment completes', async () => {
  const clock = new ManualClock();
  const { enroller, net } = await withEnroller({ clock, holdMs: 1000, leaseMs: 600_000, pendingTimeoutMs: 5_000 });
  const m = new RawPeer(net.attach('m-shim'));
  await enrol(m, 'm', 1);
  // m connects and starts again from its shim, asking for 1500; it is told 1500 but never completes.
  await m.send('bootstrap', connectMsg(3, 'm'));
  await settle();
  await m.send('bootstrap', startMsg(4, 1500));
  await settle();
  // n asks for 1002, the address m is listed at.
  const n = new RawPeer(net.attach('n-shim'));
  await enrol(n, 'n', 1, 1002);
  clock.advance(6_000); // m's second enrollment is forgotten; m is still listed (its lease is long)
  await settle();

  const listed = enroller.members().map((x) => [x.name, x.address]);
  const addresses = listed.map(([, a]) => a);
  expect(new Set(addresses).size, `members: ${JSON.stringify(listed)}`).toBe(addresses.length);
});
