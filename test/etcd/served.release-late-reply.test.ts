/**
 * A late reply to a release must not clear the state of a newer bind of the same name (found by a review,
 * 2026-12-05; fixed by the tokens of src/etcd/served.ts).
 *
 * How the enroller gets there: m's hold ends, the ledger releases it (ledger.ts #release → store.release); the
 * release commits, but its reply is slow. The watch (another gRPC stream) shows the deletion first: the pool lets
 * m go (listener.unbound). m enrols again here, asking for its old address 5: bind(m, 5) is sent. Only then does
 * the release's reply arrive: EtcdAddressStore.release, on success, deletes m from #served and #markRevision
 * unconditionally (etcd-address-store.ts, the `if (res.succeeded)` branch of release), though they are now the
 * newer bind's. The bind answered true; its mark, seen by the watch, was taken for a stray (#deleteStrayMark: not
 * served) and deleted. m was bound to 5 for e1's member, no mark guarded it, and another enroller freed it.
 *
 * Real etcd throughout; the only intervention is on the wire: the release's reply is held until the bind is sent.
 */
import { afterEach, expect, it } from 'vitest';
import { EtcdAddressStore } from '../../src/etcd/index.js';
import { describeEtcd, uniquePrefix } from '../support/etcd.js';
import { deletesKey, freedElsewhere, gate, otherEnroller, putsKey, quietListener, tappedClient } from '../support/etcd-races.js';
import { until } from '../support/helpers.js';

const undo: Array<() => unknown> = [];
afterEach(async () => {
  while (undo.length > 0) await undo.pop()?.();
});

describeEtcd('EtcdAddressStore: a late release reply', () => {
  it('a release whose reply comes after a new bind of the name was sent leaves that bind its mark', async () => {
    const prefix = uniquePrefix('review-release');
    const nameKey = `${prefix}names/m`;
    const markKey = `${prefix}members/m/e1`;
    const tap = tappedClient();
    undo.push(() => tap.client.close());
    const e1 = new EtcdAddressStore({ client: tap.client, prefix, callTimeoutMs: 2000 });
    await e1.open({ name: 'e1', shimAddress: 'e1-shim' }, quietListener());
    undo.push(() => e1.close());
    await e1.load();
    const e2 = await otherEnroller(prefix, undo);

    // m was a member of e1 at 5; it left; its hold ended: e1 releases m.
    expect(await e1.bind({ name: 'm', address: 5 })).toBe(true);
    await e1.leave('m');
    const { held: replyHeld, open: deliverReply } = gate();
    tap.hooks.after = (req) => (deletesKey(nameKey)(req) ? replyHeld : undefined); // committed; the reply is slow
    const release = e1.release('m');
    await until(() => e1.addressOf('m') === undefined, 1000, 'the watch shows the release'); // the watch is faster

    // m enrols here again, asking for 5: the bind is sent, then the release's reply arrives.
    tap.hooks.before = (req) => {
      if (!putsKey(nameKey)(req)) return undefined;
      deliverReply();
      return release.then(() => undefined);
    };
    const bound = await e1.bind({ name: 'm', address: 5 });
    const released = await release;

    await new Promise((r) => setTimeout(r, 300)); // the watch shows the bind's mark to e1 (and a stray deletion, if any)
    const markPresent = (await tap.client.get(markKey).string()) !== null;
    // Another enroller, seeing nobody serve m, frees it (after its hold) and gives 5 away.
    const elsewhere = await freedElsewhere(e2, 'm', 5);

    expect(released).toBe(true); // the older release did commit, as set up
    expect({
      newBind: bound,
      markOfE1OnM: markPresent,
      e2FreedM: elsewhere.freed,
      xBoundTo5WhileMHoldsIt: elsewhere.taken,
    }).toEqual({ newBind: true, markOfE1OnM: true, e2FreedM: false, xBoundTo5WhileMHoldsIt: false });
  });
});
