/**
 * Two confirms of one name in flight at once, answered out of order (found by a review, 2026-12-05; fixed by the
 * tokens of src/etcd/served.ts: a call answered late gives a name up only while it is still its own).
 *
 * How the enroller gets there: a lease lapse → lease-2 → a revalidation asks confirm A (m at 5), whose transaction
 * is slow to come back; lease-2 lapses too → lease-3 (the renewal revokes lease-2) → a second revalidation asks
 * confirm B (m at 5) while A is still unanswered (members.ts revalidate/prove: a superseded revalidation stops asking
 * new confirms, but the ones it sent stay in flight). A then reaches etcd after lease-2's revocation and fails
 * ("requested lease not found"); its failure handler (confirms.ts, the catch of #sendNow) deletes m from #served,
 * although B, sent later, put m there and is about to prove it. B answers true; its mark, seen by the watch, is
 * then taken for a stray (#deleteStrayMark: not served) and deleted. The enroller kept m as proven, no mark
 * guarded the binding, and another enroller freed it.
 *
 * Real etcd throughout; the only intervention is on the wire: A's request is held in transit (delivered once B has
 * been sent), and the lapses are reported by emitting 'lost' on the real leases after revoking them at etcd (what
 * etcd3's keepalive reports on its next beat).
 */
import { afterEach, expect, it } from 'vitest';
import { describeEtcd, uniquePrefix } from '../support/etcd.js';
import { freedElsewhere, gate, isConfirm, tappedStores } from '../support/etcd-races.js';
import { until } from '../support/helpers.js';

const undo: Array<() => unknown> = [];
afterEach(async () => {
  while (undo.length > 0) await undo.pop()?.();
});

describeEtcd('EtcdAddressStore: two confirms of one name in flight', () => {
  it('an older confirm that fails after a newer one was sent leaves the newer one its mark: nobody else frees the name', async () => {
    const prefix = uniquePrefix('review-confirm');
    const { tap, e1, e2, lapse } = await tappedStores(prefix, undo);

    expect(await e1.bind({ name: 'm', address: 5 })).toBe(true);

    await lapse(0); // lease-2: the enroller revalidates m
    const { held: aHeld, open: releaseA } = gate();
    let a: Promise<boolean | string> | undefined;
    let seen = 0;
    tap.hooks.before = (r) => {
      if (!isConfirm(prefix, 'm')(r)) return undefined;
      seen++;
      if (seen === 1) return aHeld; // A: slow on the wire
      // B (under lease-3) has been sent: A reaches etcd now, after lease-2's revocation, and fails; then B goes on.
      releaseA();
      return a?.then(() => undefined);
    };
    a = e1.confirm({ name: 'm', address: 5 }).catch((err: Error) => `A failed: ${err.message}`);
    await until(() => seen === 1, 1000, 'A sent');

    await lapse(1); // lease-3: the enroller revalidates m again, A still unanswered
    const b = await e1.confirm({ name: 'm', address: 5 });
    const aOutcome = await a;

    // The watch shows B's mark to e1; give it (and a stray deletion, if any) time to land.
    const markKey = `${prefix}members/m/e1`;
    const markGone = async () => (await tap.client.get(markKey).string()) === null;
    await new Promise((r) => setTimeout(r, 300));
    const markPresent = !(await markGone());
    // Another enroller, seeing nobody serve m, frees it (after its hold) and gives 5 away.
    const elsewhere = await freedElsewhere(e2, 'm', 5);

    expect(String(aOutcome)).toMatch(/A failed/); // A failed late, as set up
    expect({ bProven: b, markOfE1OnM: markPresent, e2FreedM: elsewhere.freed, xBoundTo5WhileMHoldsIt: elsewhere.taken }).toEqual({
      bProven: true,
      markOfE1OnM: true,
      e2FreedM: false,
      xBoundTo5WhileMHoldsIt: false,
    });
  });
});
