/**
 * Found by a review (2026-12-05; fixed with it) of the second version of "a failed call leaves a name served as it
 * was", which kept a name served after a failed call while its mark's revision was known (#written): (1) a leave
 * whose delete failed left #written set, so a bind again that failed kept the name served, its mark kept for the
 * lease's life and every release of it refused; (2) a confirm that failed while a bind of the name was in flight
 * un-served the name and deleted the mark the bind had just written, which then answered true. Now a name stays
 * served after a failed call while another call of it is in flight, or if one succeeded since it was last let go.
 */
import { afterEach, expect, it } from 'vitest';
import { describeEtcd, uniquePrefix } from '../support/etcd.js';
import { deletesKey, gate, isConfirm, otherEnroller, putsKey, readKey, tappedStore } from '../support/etcd-races.js';
import { until } from '../support/helpers.js';

const undo: Array<() => unknown> = [];
afterEach(async () => {
  while (undo.length > 0) await undo.pop()?.();
});

describeEtcd('review: ServedNames.drop keyed on #written', () => {
  it('control: a leave whose delete failed is retried, and the mark goes', async () => {
    const prefix = uniquePrefix('review-leave-retried');
    const markKey = `${prefix}members/a/e1`;
    const { tap, e1 } = await tappedStore(prefix, undo);
    expect(await e1.bind({ name: 'a', address: 5 })).toBe(true);
    let leaveFails = 1;
    tap.hooks.before = (req) => {
      if (leaveFails > 0 && deletesKey(markKey)(req)) {
        leaveFails--;
        return Promise.reject(new Error('14 UNAVAILABLE: etcd out of reach'));
      }
      return undefined;
    };
    await e1.leave('a').catch(() => undefined);
    await new Promise((r) => setTimeout(r, 3500));
    expect(await readKey(markKey)).toBeNull();
  }, 20_000);

  it('a leave whose delete failed, then a failed bind of the name: the mark goes, the name can be released', async () => {
    const prefix = uniquePrefix('review-leave-then-failed-bind');
    const markKey = `${prefix}members/a/e1`;
    const { tap, e1 } = await tappedStore(prefix, undo);
    const e2 = await otherEnroller(prefix, undo);
    expect(await e1.bind({ name: 'a', address: 5 })).toBe(true);
    let leaveFails = 1;
    let bindFails = 0;
    tap.hooks.before = (req) => {
      if (leaveFails > 0 && deletesKey(markKey)(req)) {
        leaveFails--;
        return Promise.reject(new Error('14 UNAVAILABLE: etcd out of reach'));
      }
      if (bindFails > 0 && putsKey(markKey)(req)) {
        bindFails--;
        return Promise.reject(new Error('14 UNAVAILABLE: etcd out of reach'));
      }
      return undefined;
    };
    await e1.leave('a').catch(() => undefined); // the member left; the delete of its mark failed (retried later)
    bindFails = 1;
    await expect(e1.bind({ name: 'a', address: 6 })).rejects.toThrow(/UNAVAILABLE/); // it enrols again: never sent
    await until(() => e2.addressOf('a') === 5, 2000, 'e2 sees a');
    await new Promise((r) => setTimeout(r, 3500)); // the leave's retry (1 s, then 2 s) has had its chances

    // e1 serves nobody by the name a: its left member's mark should be gone, and a releasable.
    expect(await readKey(markKey)).toBeNull();
    expect(await e2.release('a')).toBe(true);
  }, 20_000);

  it("a confirm failing while a committed bind of the name awaits its answer leaves the bind's mark", async () => {
    const prefix = uniquePrefix('review-bind-and-confirm');
    const markKey = `${prefix}members/a/e1`;
    const { tap, e1 } = await tappedStore(prefix, undo);
    const answer = gate();
    let confirmFails = 1;
    tap.hooks.before = (req) => {
      if (confirmFails > 0 && isConfirm(prefix, 'a')(req)) {
        confirmFails--;
        return Promise.reject(new Error('4 DEADLINE_EXCEEDED: Deadline exceeded'));
      }
      return undefined;
    };
    let bindsAnswered = 0;
    tap.hooks.after = (req) => {
      if (!isConfirm(prefix, 'a')(req) && putsKey(markKey)(req) && bindsAnswered++ === 0) return answer.held;
      return undefined;
    };
    const bound = e1.bind({ name: 'a', address: 5 }); // committed; its answer held
    await until(() => e1.stats().watchEvents >= 3 && e1.addressOf('a') === 5, 2000, 'the watch shows the bind and its mark');
    const confirmed = e1.confirm({ name: 'a', address: 5 }).then(
      (ok) => `answered ${ok}`,
      (err: Error) => `failed ${err.message}`,
    );
    expect(await confirmed).toMatch(/failed .*DEADLINE/);
    await new Promise((r) => setTimeout(r, 300)); // what the store sends now lands
    answer.open();
    expect(await bound).toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    // e1 bound a and answered true: its mark must be there.
    expect(await readKey(markKey), `strayMarks: ${e1.stats().strayMarks}`).not.toBeNull();
  }, 20_000);
});
