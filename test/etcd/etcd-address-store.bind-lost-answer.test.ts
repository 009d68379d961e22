/**
 * Found by a review (2026-12-05; fixed with it): a bind whose answer was lost after the watch had already shown its
 * mark left that mark for good. The bind's failure drops the name from the names served and counted on the watch
 * to show the mark later (then taken for a stray and deleted); but the watch is another stream, and it can show the
 * mark before the answer fails, while the name is still served. The mark stayed under e1's live lease for a name e1
 * did not serve: no enroller saw the name idle, every release of it was refused, and its address was never freed
 * while e1 lived. The same for a confirm. Now a call that gets no answer deletes a mark of its name the watch showed.
 */
import { afterEach, expect, it } from 'vitest';
import { describeEtcd, uniquePrefix } from '../support/etcd.js';
import { otherEnroller, putsKey, readKey, tappedStore } from '../support/etcd-races.js';
import { until } from '../support/helpers.js';

const undo: Array<() => unknown> = [];
afterEach(async () => {
  while (undo.length > 0) await undo.pop()?.();
});

describeEtcd('EtcdAddressStore: a bind answered after its watch events', () => {
  it('a committed bind whose answer is lost after the watch showed its mark leaves no mark behind', async () => {
    const prefix = uniquePrefix('bind-lost-answer');
    const markKey = `${prefix}members/a/e1`;
    const { tap, e1 } = await tappedStore(prefix, undo);
    const e2 = await otherEnroller(prefix, undo);
    const before = e1.stats().watchEvents;
    tap.hooks.after = (req) => {
      if (!putsKey(markKey)(req)) return undefined;
      tap.hooks.after = undefined;
      // The answer is on its way; the watch shows the three keys first; then the call's deadline passes.
      return until(() => e1.stats().watchEvents >= before + 3, 2000, 'the watch shows the bind').then(() => {
        throw new Error('4 DEADLINE_EXCEEDED: Deadline exceeded');
      });
    };
    await expect(e1.bind({ name: 'a', address: 5 })).rejects.toThrow(/DEADLINE_EXCEEDED/);
    expect(await readKey(`${prefix}names/a`)).toBe('5'); // committed (its mark with it)
    expect(e1.addressOf('a')).toBe(5);

    // e1 does not serve a (its bind failed). Its mark must go, as bind's comment says ("deleted when the watch
    // shows it"), so that a goes idle and its hold can free 5. (Before the fix, the mark stayed as long as e1 lived.)
    for (const deadline = Date.now() + 2000; (await readKey(markKey)) !== null && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await readKey(markKey)).toBeNull();
    expect(e1.stats().strayMarks).toBe(1);
    await until(() => e2.addressOf('a') === 5, 2000, 'e2 sees a');
    expect(await e2.release('a')).toBe(true);
  });
});
