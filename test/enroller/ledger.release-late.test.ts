/**
 * A release whose answer comes after the same name was bound again (found by
 * a review): the store's release committed first, then a new enrollment of
 * the name bound it again, to the same address. The late `true` must not
 * take that binding out of the pool, tell the members it is gone, or report
 * the address released.
 */
import { expect, it } from 'vitest';
import { TICK_MS } from '../../src/util/ticker.js';
import { bound, HOLD_MS, ledgerOf } from './ledger-world.js';
import { SharedMemoryStore } from './shared-memory-store.js';

/** A shared store whose releases answer only when the test says so. */
class SlowReleases extends SharedMemoryStore {
  readonly #answers: Array<() => void> = [];

  override release(name: string): boolean {
    const committed = super.release(name); // committed now (and recorded); the answer is late
    return new Promise<boolean>((resolve) => this.#answers.push(() => resolve(committed))) as unknown as boolean;
  }

  /** Delivers the oldest release answer still held. */
  answer(): void {
    this.#answers.shift()?.();
  }
}

it('a release answered after the name was bound again (same address) leaves the new binding in the pool, unreported', async () => {
  const store = new SlowReleases();
  const serving = new Set<string>();
  const { ledger, clock, released, host } = ledgerOf(store, { serves: (name) => serving.has(name) });
  await ledger.open({ name: 'e', shimAddress: 'me' });
  const address = await bound(ledger, 'm');
  store.listener?.idle('m'); // its last member left: held, then released
  clock.advance(HOLD_MS + TICK_MS);
  expect(store.callsOf('release')).toEqual(['release m']);

  // m enrols again before the release's answer: it asks for its address and gets it.
  const again = ledger.assign('m', address);
  expect(again).toMatchObject({ ok: true, address });
  await ledger.bind({ name: 'm', address });
  serving.add('m');

  store.answer();
  await Promise.resolve();
  await Promise.resolve();
  expect(ledger.addressOf('m')).toBe(address);
  expect(host.rebound).not.toHaveBeenCalledWith('m', undefined);
  expect(released).toEqual([]);
});

it('a release answered with nothing bound since frees the address and reports it, as before', async () => {
  const store = new SlowReleases();
  const { ledger, clock, released, host } = ledgerOf(store);
  await ledger.open({ name: 'e', shimAddress: 'me' });
  const address = await bound(ledger, 'm');
  store.listener?.idle('m');
  clock.advance(HOLD_MS + TICK_MS);
  store.answer();
  await Promise.resolve();
  await Promise.resolve();
  expect(ledger.addressOf('m')).toBeUndefined();
  expect(host.rebound).toHaveBeenCalledWith('m', undefined);
  expect(released).toEqual([{ name: 'm', address }]);
});
