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
import { Etcd3, type ITxnRequest } from 'etcd3';
import { afterEach, expect, it } from 'vitest';
import type { TxnResponse } from '../../src/etcd/lease.js';
import { EtcdAddressStore } from '../../src/etcd/index.js';
import type { AddressStoreListener } from '../../src/store/address-store.js';
import { describeEtcd, etcdEndpoint, uniquePrefix } from '../support/etcd.js';
import { until } from '../support/helpers.js';

const undo: Array<() => unknown> = [];
afterEach(async () => {
  while (undo.length > 0) await undo.pop()?.();
});

const quiet = (): AddressStoreListener => ({
  bound: () => undefined,
  unbound: () => undefined,
  idle: () => undefined,
  enrollers: () => undefined,
});

/** A real client whose transactions pass through `hook` (before sending, and with the reply before it is returned). */
function tappedClient() {
  const client = new Etcd3({ hosts: etcdEndpoint() });
  const txn = client.kv.txn.bind(client.kv);
  const hooks: {
    before?: (req: ITxnRequest) => Promise<void> | undefined;
    after?: (req: ITxnRequest, res: TxnResponse) => Promise<void> | undefined;
  } = {};
  client.kv.txn = (async (req: ITxnRequest, opts?: object) => {
    await hooks.before?.(req);
    const res = await txn(req, opts as never);
    await hooks.after?.(req, res);
    return res;
  }) as typeof client.kv.txn;
  return { client, hooks };
}

const deletesName = (key: string) => (r: ITxnRequest) => (r.success ?? []).some((op) => String(op.request_delete_range?.key) === key);
const putsName = (key: string) => (r: ITxnRequest) => (r.success ?? []).some((op) => String(op.request_put?.key) === key);

describeEtcd('EtcdAddressStore: a late release reply', () => {
  it('a release whose reply comes after a new bind of the name was sent leaves that bind its mark', async () => {
    const prefix = uniquePrefix('review-release');
    const nameKey = `${prefix}names/m`;
    const markKey = `${prefix}members/m/e1`;
    const tap = tappedClient();
    undo.push(() => tap.client.close());
    const e1 = new EtcdAddressStore({ client: tap.client, prefix, callTimeoutMs: 2000 });
    await e1.open({ name: 'e1', shimAddress: 'e1-shim' }, quiet());
    undo.push(() => e1.close());
    await e1.load();
    const e2 = new EtcdAddressStore({ hosts: etcdEndpoint(), prefix, callTimeoutMs: 2000 });
    await e2.open({ name: 'e2', shimAddress: 'e2-shim' }, quiet());
    undo.push(() => e2.close());
    await e2.load();

    // m was a member of e1 at 5; it left; its hold ended: e1 releases m.
    expect(await e1.bind({ name: 'm', address: 5 })).toBe(true);
    await e1.leave('m');
    let deliverReply!: () => void;
    const replyHeld = new Promise<void>((r) => {
      deliverReply = r;
    });
    tap.hooks.after = (req) => (deletesName(nameKey)(req) ? replyHeld : undefined); // committed; the reply is slow
    const release = e1.release('m');
    await until(() => e1.addressOf('m') === undefined, 1000, 'the watch shows the release'); // the watch is faster

    // m enrols here again, asking for 5: the bind is sent, then the release's reply arrives.
    tap.hooks.before = (req) => {
      if (!putsName(nameKey)(req)) return undefined;
      deliverReply();
      return release.then(() => undefined);
    };
    const bound = await e1.bind({ name: 'm', address: 5 });
    const released = await release;

    await new Promise((r) => setTimeout(r, 300)); // the watch shows the bind's mark to e1 (and a stray deletion, if any)
    const markPresent = (await tap.client.get(markKey).string()) !== null;
    // Another enroller, seeing nobody serve m, frees it (after its hold) and gives 5 away.
    await until(() => e2.addressOf('m') === 5, 1000, 'e2 sees m bound again');
    const e2Released = await e2.release('m');
    const xGot5 = e2Released ? await e2.bind({ name: 'x', address: 5 }) : false;

    expect(released).toBe(true); // the older release did commit, as set up
    expect({
      newBind: bound,
      markOfE1OnM: markPresent,
      e2FreedM: e2Released,
      xBoundTo5WhileMHoldsIt: xGot5,
    }).toEqual({ newBind: true, markOfE1OnM: true, e2FreedM: false, xBoundTo5WhileMHoldsIt: false });
  });
});
