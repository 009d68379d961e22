/**
 * A release answered after a re-enrollment whose bind failed (found by a review, 2026-12-05). With a store of one
 * enroller whose release answers late (FileAddressStore: the release waits for an fsync'd write), the same member
 * enrols again while the release is unanswered: the release is flagged `again` (src/enroller/releases.ts), and the
 * pool gives m its old address. The bind then fails (a full disk): the pool gets the old address back and the
 * enrollment has none. The release then answered `true`, and as flagged, the pool kept m, with nothing left to hold
 * it: one address of the pool lost for as long as the process ran. Now a bind that fails lets the name's earlier
 * binding go as an abandoned enrollment's would (held, then released), unless a member or another enrollment holds it.
 */
import { expect, it } from 'vitest';
import { MemoryAddressStore } from '../../src/store/address-store.js';
import type { AddressBinding } from '../../src/store/address-store.js';
import { OpCode } from '../../src/index.js';
import { TICK_MS } from '../../src/util/ticker.js';
import { cleanup, connectMsg, RawPeer, settle, startMsg, stopReply, withEnroller } from '../support/helpers.js';
import { ManualClock } from './manual-clock.js';
import { afterEach } from 'vitest';

afterEach(cleanup);

/** A store of one enroller whose releases answer when the test says, and whose next bind can fail. */
class SlowDisk extends MemoryAddressStore {
  readonly answers: Array<() => void> = [];
  failNextBind = false;
  readonly calls: string[] = [];
  override bind(b: AddressBinding): void {
    this.calls.push(`bind ${b.name}`);
    if (this.failNextBind) {
      this.failNextBind = false;
      throw new Error('cannot write the address table: ENOSPC');
    }
    super.bind(b);
  }
  override release(name: string): Promise<void> | undefined {
    this.calls.push(`release ${name}`);
    super.release(name);
    if (this.calls.filter((c) => c.startsWith('release ')).length > 1) return undefined; // later ones answer at once
    // committed; the answer (the fsync) is late
    return new Promise<void>((resolve) => this.answers.push(resolve));
  }
}

const HOLD = 1000;

it('a release answered after a re-enrollment whose bind failed still frees the address', async () => {
  const clock = new ManualClock();
  const store = new SlowDisk();
  const { enroller, net } = await withEnroller({ clock, store, holdMs: HOLD, leaseMs: 60_000, pendingTimeoutMs: 2000 });
  const peer = new RawPeer(net.attach('m-shim'));

  // m enrols, then releases itself: its address is held, then released (the release's answer is late).
  await peer.send('bootstrap', connectMsg(1, 'm'));
  await settle();
  await peer.send('bootstrap', startMsg(2));
  await settle();
  await peer.send('bootstrap', stopReply(peer));
  await settle();
  expect(enroller.members().map((x) => x.name)).toEqual(['m']);
  await peer.send('bootstrap', { opCode: OpCode.M_RELEASE, invokeId: 3 });
  await settle();
  expect(enroller.members()).toEqual([]);
  clock.advance(HOLD + 2 * TICK_MS);
  expect(store.calls).toContain('release m');
  expect(store.answers.length).toBe(1);

  // m enrols again before the answer: the store cannot write, the bind fails ("unavailable"); m gives up.
  store.failNextBind = true;
  await peer.send('bootstrap', connectMsg(4, 'm'));
  await settle();
  await peer.send('bootstrap', startMsg(5));
  await settle();
  expect(store.calls.at(-1)).toBe('bind m');

  // The release answers now (its write had gone through).
  store.answers.shift()?.();
  await settle();

  // m's enrollment times out; then a long time passes.
  for (let i = 0; i < 20; i++) clock.advance(HOLD);
  await settle();

  expect({ pending: enroller.stats().pending, members: enroller.stats().members }).toEqual({ pending: 0, members: 0 });
  // Nobody holds m: its address should be free again (bound 0), and the store agrees it is free.
  expect({ boundInPool: enroller.stats().bound, inStore: store.load() }).toEqual({ boundInPool: 0, inStore: [] });
});
