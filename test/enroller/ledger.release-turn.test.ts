/**
 * On a shared store, the enrollers take turns to release a name whose last
 * member left (src/enroller/release-turn.ts): this enroller releases when
 * its hold ends if the name's turn is its own, one stagger later for each
 * enroller before it, and never before the hold; alone, at the hold.
 */
import { afterEach, expect, it, vi } from 'vitest';
import { MAX_RELEASE_STAGGER_MS, releaseTurn } from '../../src/enroller/release-turn.js';
import { TICK_MS } from '../../src/util/ticker.js';
import { cleanup, onCleanup, withEnroller } from '../support/helpers.js';
import { bound, HOLD_MS, ledgerOf } from './ledger-world.js';
import { SharedMemoryStore } from './shared-memory-store.js';

afterEach(cleanup);

const OTHERS = ['10.0.0.2:7000', '10.0.0.3:7000', '10.0.0.4:7000'];

/** A name whose turn at the ledger's enroller ('me') is `turn` among OTHERS. */
const nameOfTurn = (turn: number): string => {
  for (let i = 0; ; i++) if (releaseTurn(`m${i}`, 'me', OTHERS) === turn) return `m${i}`;
};

it.each([0, 1, 3])(
  'a name idle on a shared store of four enrollers, its turn %i here, is released one stagger per turn after its hold',
  async (turn) => {
    const store = new SharedMemoryStore();
    const { ledger, clock, released } = ledgerOf(store);
    await ledger.open({ name: 'e', shimAddress: 'me' });
    store.listener?.enrollers(OTHERS);
    const name = nameOfTurn(turn);
    const address = await bound(ledger, name);
    store.listener?.idle(name); // its last member left: every enroller holds it
    const due = HOLD_MS + turn * Math.min(HOLD_MS, MAX_RELEASE_STAGGER_MS);
    clock.advance(due - TICK_MS);
    expect(released).toEqual([]);
    expect(ledger.holding(name)).toBe(true);
    clock.advance(2 * TICK_MS);
    expect(released).toEqual([{ name, address }]);
  },
);

it('alone (no other enroller live), every name is released when its hold ends', async () => {
  const store = new SharedMemoryStore();
  const { ledger, clock, released } = ledgerOf(store);
  await ledger.open({ name: 'e', shimAddress: 'me' });
  const name = nameOfTurn(3); // (the last of four: alone, the first)
  const address = await bound(ledger, name);
  store.listener?.idle(name);
  clock.advance(HOLD_MS + TICK_MS);
  expect(released).toEqual([{ name, address }]);
});

it("an enroller takes its turn by the address the others know it by (advertisedAddress), not its shim's own", async () => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
  onCleanup(() => vi.useRealTimers());
  const advertised = '10.0.0.1:7000';
  // A name first in its order by the advertised address, and not first by the shim's own ('bootstrap').
  let name = '';
  for (let i = 0; name === ''; i++) {
    if (releaseTurn(`m${i}`, advertised, OTHERS) === 0 && releaseTurn(`m${i}`, 'bootstrap', OTHERS) > 0) name = `m${i}`;
  }
  const store = new SharedMemoryStore();
  await withEnroller({ store, advertisedAddress: advertised, holdMs: 500 });
  store.listener?.enrollers(OTHERS);
  store.listener?.bound({ name, address: 1500 });
  store.listener?.idle(name); // its last member left: held, then released by the first in its order
  await vi.advanceTimersByTimeAsync(500 + 2 * TICK_MS);
  expect(store.callsOf('release')).toEqual([`release ${name}`]);
});

it('a hold ended early says when it would have ended without its turn: a hold restarted from it is not delayed twice', async () => {
  const store = new SharedMemoryStore();
  const { ledger, clock } = ledgerOf(store);
  await ledger.open({ name: 'e', shimAddress: 'me' });
  store.listener?.enrollers(OTHERS);
  const name = nameOfTurn(3);
  await bound(ledger, name);
  const t0 = clock.now();
  ledger.hold(name);
  expect(ledger.endHold(name)).toBe(t0 + HOLD_MS);
});
