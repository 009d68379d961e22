/**
 * Found by a review (2026-12-05; fixed with it): a bind of a name served already (a listed member enrolling again
 * from its shim address, its record kept) that got no answer deleted the mark of the name's earlier, committed
 * bind: the failure gave up serving the name, and the mark the watch had shown was then taken for a stray. The
 * enroller kept the member listed and answered its keepalives, while every other enroller saw the name idle and
 * could free its address. A failed call now leaves the name served as it was before it.
 */
import { afterEach, expect, it } from 'vitest';
import { describeEtcd, uniquePrefix } from '../support/etcd.js';
import { otherEnroller, putsKey, readKey, tappedStore } from '../support/etcd-races.js';
import { until } from '../support/helpers.js';

const undo: Array<() => unknown> = [];
afterEach(async () => {
  while (undo.length > 0) await undo.pop()?.();
});

describeEtcd('EtcdAddressStore: a bind again that gets no answer', () => {
  it("keeps the mark of the name's earlier, committed bind", async () => {
    const prefix = uniquePrefix('rebind-unanswered');
    const markKey = `${prefix}members/a/e1`;
    const { tap, e1 } = await tappedStore(prefix, undo);
    const e2 = await otherEnroller(prefix, undo);
    expect(await e1.bind({ name: 'a', address: 5 })).toBe(true); // a enrolled through e1 (listed there)
    await until(() => e1.stats().watchEvents >= 3, 2000, 'the watch shows the mark');
    await until(() => e2.addressOf('a') === 5, 2000, 'e2 sees a');

    // a enrols again; its bind never reaches etcd.
    tap.hooks.before = (req) => {
      if (!putsKey(markKey)(req)) return undefined;
      tap.hooks.before = undefined;
      return Promise.reject(new Error('4 DEADLINE_EXCEEDED: Deadline exceeded'));
    };
    await expect(e1.bind({ name: 'a', address: 5 })).rejects.toThrow(/DEADLINE_EXCEEDED/);
    await new Promise((r) => setTimeout(r, 300)); // (what the store would send now has landed)

    expect(await readKey(markKey), `strayMarks: ${e1.stats().strayMarks}`).not.toBeNull();
    expect(await e2.release('a')).toBe(false); // another enroller cannot free the address of a member e1 lists
  });
});
