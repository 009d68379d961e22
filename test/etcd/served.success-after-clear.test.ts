/**
 * Found by a review (2026-12-05; fixed with it): the success of a bind sent under a lease since lost, answered
 * after the renewal cleared the names served, counted: a bind of the name under the new lease whose answer was lost
 * then left the name served, its mark never taken for a stray. A success counts only for a call sent since the
 * last renewal.
 */
import { afterEach, expect, it } from 'vitest';
import { describeEtcd, uniquePrefix } from '../support/etcd.js';
import { gate, otherEnroller, putsKey, readKey, tappedStore } from '../support/etcd-races.js';
import { until } from '../support/helpers.js';

const undo: Array<() => unknown> = [];
afterEach(async () => {
  while (undo.length > 0) await undo.pop()?.();
});

describeEtcd('review: an answer of a call sent before a renewal', () => {
  it('does not keep the name served after a call under the new lease fails', async () => {
    const prefix = uniquePrefix('review-success-after-clear');
    const markKey = `${prefix}members/a/e1`;
    const { tap, e1, lapse } = await tappedStore(prefix, undo);
    const e2 = await otherEnroller(prefix, undo);
    const g1 = gate();
    let answered1 = false;
    tap.hooks.after = async (req) => {
      if (putsKey(`${prefix}addresses/5`)(req)) {
        answered1 = true;
        await g1.held; // B1's answer, slow
        return;
      }
      if (putsKey(`${prefix}addresses/6`)(req)) {
        g1.open(); // B1's answer arrives while B2's is on the wire
        await new Promise((r) => setTimeout(r, 100));
        throw new Error('4 DEADLINE_EXCEEDED: Deadline exceeded'); // B2 committed, its answer lost
      }
    };
    const b1 = e1.bind({ name: 'a', address: 5 });
    await until(() => answered1, 1000, 'B1 committed');
    await until(() => e1.addressOf('a') === 5, 2000, 'the watch shows a');
    await lapse(0); // lease 2: B1's mark goes with lease 1, clear()
    const b2 = e1.bind({ name: 'a', address: 6 }).catch((err: Error) => `failed ${err.message}`);
    expect(await b1).toBe(true);
    expect(await b2).toMatch(/failed .*DEADLINE/);
    await until(() => e2.addressOf('a') === 6, 2000, 'e2 sees a at 6');
    await new Promise((r) => setTimeout(r, 1000));
    // e1's one bind of a under lease 2 failed; a mark of it is stray and should go, and a be releasable.
    expect(await readKey(markKey)).toBeNull();
    expect(await e2.release('a')).toBe(true);
  }, 20_000);
});
