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
import { Etcd3, type ITxnRequest, type Lease } from 'etcd3';
import { afterEach, expect, it } from 'vitest';
import { EtcdAddressStore } from '../../src/etcd/index.js';
import type { AddressStoreListener } from '../../src/store/address-store.js';
import { describeEtcd, etcdEndpoint, uniquePrefix } from '../support/etcd.js';
import { until } from '../support/helpers.js';

const undo: Array<() => unknown> = [];
afterEach(async () => {
  while (undo.length > 0) await undo.pop()?.();
});

function listener() {
  const fenced: boolean[] = [];
  const l: AddressStoreListener = {
    bound: () => undefined,
    unbound: () => undefined,
    idle: () => undefined,
    enrollers: () => undefined,
    fenced: (f) => fenced.push(f),
  };
  return { l, fenced };
}

/** A real client whose leases are recorded, and whose next confirm transaction can be held in transit. */
function tappedClient() {
  const client = new Etcd3({ hosts: etcdEndpoint() });
  const leases: Lease[] = [];
  const lease = client.lease.bind(client);
  client.lease = ((ttl: number, opts?: object) => {
    const l = lease(ttl, opts as never);
    leases.push(l);
    return l;
  }) as typeof client.lease;
  const txn = client.kv.txn.bind(client.kv);
  let hook: ((req: ITxnRequest) => Promise<void> | undefined) | undefined;
  client.kv.txn = (async (req: ITxnRequest, opts?: object) => {
    await hook?.(req);
    return txn(req, opts as never);
  }) as typeof client.kv.txn;
  return { client, leases, setHook: (h: typeof hook) => (hook = h) };
}

const isConfirm = (prefix: string, name: string) => (r: ITxnRequest) =>
  (r.compare ?? []).some((c) => c.target === 'Value' && String(c.key) === `${prefix}names/${name}`) &&
  (r.success ?? []).some((op) => String(op.request_put?.key ?? '').startsWith(`${prefix}members/${name}/`));

describeEtcd('EtcdAddressStore: two confirms of one name in flight', () => {
  it('an older confirm that fails after a newer one was sent leaves the newer one its mark: nobody else frees the name', async () => {
    const prefix = uniquePrefix('review-confirm');
    const tap = tappedClient();
    undo.push(() => tap.client.close());
    const e1 = new EtcdAddressStore({ client: tap.client, prefix, leaseTtlSecs: 10, callTimeoutMs: 2000 });
    const one = listener();
    await e1.open({ name: 'e1', shimAddress: 'e1-shim' }, one.l);
    undo.push(() => e1.close());
    await e1.load();
    const e2 = new EtcdAddressStore({ hosts: etcdEndpoint(), prefix, callTimeoutMs: 2000 });
    await e2.open({ name: 'e2', shimAddress: 'e2-shim' }, listener().l);
    undo.push(() => e2.close());
    await e2.load();

    expect(await e1.bind({ name: 'm', address: 5 })).toBe(true);

    /** Revokes the lease at etcd and reports it lost, as etcd3's keepalive would; waits for the renewal. */
    const lapse = async (i: number) => {
      const l = tap.leases[i] as Lease;
      await tap.client.leaseClient.leaseRevoke({ ID: await l.grant() }).catch(() => undefined);
      const renewals = one.fenced.filter((f) => !f).length;
      l.emit('lost', new Error('lease expired'));
      await until(() => one.fenced.filter((f) => !f).length > renewals, 2000, `renewal after lapse ${i + 1}`);
    };

    await lapse(0); // lease-2: the enroller revalidates m
    let releaseA!: () => void;
    const aHeld = new Promise<void>((r) => {
      releaseA = r;
    });
    let a: Promise<boolean | string> | undefined;
    let seen = 0;
    tap.setHook((r) => {
      if (!isConfirm(prefix, 'm')(r)) return undefined;
      seen++;
      if (seen === 1) return aHeld; // A: slow on the wire
      // B (under lease-3) has been sent: A reaches etcd now, after lease-2's revocation, and fails; then B goes on.
      releaseA();
      return a?.then(() => undefined);
    });
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
    await until(() => e2.addressOf('m') === 5, 1000, 'e2 sees m');
    const e2Released = await e2.release('m');
    const xGot5 = e2Released ? await e2.bind({ name: 'x', address: 5 }) : false;

    expect(String(aOutcome)).toMatch(/A failed/); // A failed late, as set up
    expect({ bProven: b, markOfE1OnM: markPresent, e2FreedM: e2Released, xBoundTo5WhileMHoldsIt: xGot5 }).toEqual({
      bProven: true,
      markOfE1OnM: true,
      e2FreedM: false,
      xBoundTo5WhileMHoldsIt: false,
    });
  });
});
