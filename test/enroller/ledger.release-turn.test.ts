/**
 * On a shared store, the enrollers take turns to release a name whose last
 * member left (src/enroller/release-turn.ts): this enroller releases when
 * its hold ends if the name's turn is its own, one stagger later for each
 * enroller before it, and never before the hold; alone, at the hold.
 */
import { expect, it } from 'vitest';
import { MAX_RELEASE_STAGGER_MS, releaseTurn } from '../../src/enroller/release-turn.js';
import { TICK_MS } from '../../src/util/ticker.js';
import { bound, HOLD_MS, ledgerOf } from './ledger-world.js';
import { SharedMemoryStore } from './shared-memory-store.js';

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
