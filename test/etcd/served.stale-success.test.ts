/**
 * Found by a review (2026-12-05; fixed with it): the success of a bind sent before its name was let go (a leave)
 * counted as the name's own: a bind again, refused, then kept the name served, the first bind's mark kept for the
 * lease's life and every release of the name refused. A success counts only for a call sent since the name was
 * last let go.
 */
import { afterEach, expect, it } from 'vitest';
import { describeEtcd, uniquePrefix } from '../support/etcd.js';
import { gate, otherEnroller, putsKey, readKey, tappedStore } from '../support/etcd-races.js';
import { until } from '../support/helpers.js';

const undo: Array<() => unknown> = [];
afterEach(async () => {
  while (undo.length > 0) await undo.pop()?.();
});

describeEtcd('review: a success of a call sent before a leave', () => {
  it('does not keep the name served after a later call of it fails', async () => {
    const prefix = uniquePrefix('review-stale-success');
    const markKey = `${prefix}members/a/e1`;
    const { tap, e1 } = await tappedStore(prefix, undo);
    const e2 = await otherEnroller(prefix, undo);
    const g1 = gate();
    const g2 = gate();
    let sent1 = false;
    let sent2 = false;
    tap.hooks.before = (req) => {
      if (putsKey(`${prefix}addresses/5`)(req)) {
        sent1 = true;
        return g1.held;
      }
      if (putsKey(`${prefix}addresses/6`)(req)) {
        sent2 = true;
        return g2.held;
      }
      return undefined;
    };
    const b1 = e1.bind({ name: 'a', address: 5 });
    await until(() => sent1, 1000, 'B1 sent');
    await e1.leave('a'); // the member left: no mark known yet, nothing sent
    const b2 = e1.bind({ name: 'a', address: 6 }).catch((err: Error) => `failed ${err.message}`);
    await until(() => sent2, 1000, 'B2 sent');
    g1.open();
    expect(await b1).toBe(true); // answered after the leave
    g2.open();
    expect(await b2).toBe(false); // refused: a is bound now
    await until(() => e2.addressOf('a') === 5, 2000, 'e2 sees a');
    await new Promise((r) => setTimeout(r, 1000));
    // e1 left a, and its last bind of a was refused: it serves a no more; its mark should go and a be releasable.
    expect(await readKey(markKey)).toBeNull();
    expect(await e2.release('a')).toBe(true);
  }, 20_000);
});
