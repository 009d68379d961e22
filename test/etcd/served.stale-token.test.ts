/**
 * Found by a review (2026-12-05; fixed with it): a first version of "a failed call leaves a name served as it was"
 * restored the token the name had when the call was sent, even when that token was another call's that had failed
 * too: two binds of a name never served, the first committed with its answer lost, the second refused, left the
 * name served for as long as the lease lived, its mark never taken for a stray, its address never released. A name
 * now stays served after a failed call only if a call of it succeeded before (its mark written, not deleted since),
 * and a refused call deletes a mark of its name the watch showed, as a call with no answer does.
 */
import { afterEach, expect, it } from 'vitest';
import { describeEtcd, uniquePrefix } from '../support/etcd.js';
import { gate, otherEnroller, putsKey, readKey, tappedStore } from '../support/etcd-races.js';
import { until } from '../support/helpers.js';

const undo: Array<() => unknown> = [];
afterEach(async () => {
  while (undo.length > 0) await undo.pop()?.();
});

describeEtcd('EtcdAddressStore: two failed binds of one name', () => {
  it('leave the name unserved: the committed-but-unanswered mark is deleted as a stray', async () => {
    const prefix = uniquePrefix('two-failed-binds');
    const markKey = `${prefix}members/a/e1`;
    const { tap, e1 } = await tappedStore(prefix, undo);
    const e2 = await otherEnroller(prefix, undo);
    const g1 = gate();
    const g2 = gate();
    let n = 0;
    let sent = 0;
    const committed = gate();
    tap.hooks.before = (req) => {
      if (!putsKey(markKey)(req)) return undefined;
      sent++;
      return sent === 2 ? committed.held : undefined; // the second is sent once the first committed
    };
    tap.hooks.after = (req) => {
      if (!putsKey(markKey)(req)) return undefined;
      n++;
      if (n === 1) committed.open();
      if (n === 1) return g1.held.then(() => Promise.reject(new Error('4 DEADLINE_EXCEEDED: Deadline exceeded')));
      if (n === 2) return g2.held;
      return undefined;
    };
    const first = e1.bind({ name: 'a', address: 5 }).then(
      (ok) => `answered ${ok}`,
      (err: Error) => `failed ${err.message}`,
    );
    const second = e1.bind({ name: 'a', address: 6 }); // built at once: etcd has no a yet, as far as e1 knows
    await until(() => n === 2, 2000, 'the second bind answered');
    await until(() => e1.stats().watchEvents >= 3, 2000, 'the watch shows the mark');
    g1.open();
    expect(await first).toMatch(/failed .*DEADLINE_EXCEEDED/);
    g2.open();
    expect(await second).toBe(false); // refused: etcd has a bound to 5 now
    await until(() => e2.addressOf('a') === 5, 2000, 'e2 sees a');
    await new Promise((r) => setTimeout(r, 500)); // what the store would send now has landed

    // e1 binds nobody to a: both its calls failed. Its mark from the first is a stray and should go.
    expect(await readKey(markKey), `strayMarks: ${e1.stats().strayMarks}`).toBeNull();
    expect(await e2.release('a')).toBe(true);
  });
});
