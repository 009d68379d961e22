/**
 * Found by a review (2026-12-05; fixed with it): a renewal whose revocation of the lost lease fails (not "requested lease not found").
 * LeaseKeeper.grant now awaits that revocation before renewed() and unfencing; a failure fails the renewal, which
 * #renew retries with backoff after #drop(), which only release()s the lease just granted (keepalives stop; etcd
 * keeps it for its TTL). What this checks: the enroller is unfenced once a revocation goes through (no livelock
 * with etcd healthy), the registration ends under the final lease, and no lease granted by a failed attempt is
 * left alive at etcd.
 */
import type { Lease } from 'etcd3';
import { afterEach, expect, it } from 'vitest';
import { describeEtcd, uniquePrefix } from '../support/etcd.js';
import { tappedStore } from '../support/etcd-races.js';
import { until } from '../support/helpers.js';

const undo: Array<() => unknown> = [];
afterEach(async () => {
  while (undo.length > 0) await undo.pop()?.();
});

describeEtcd('EtcdAddressStore: a renewal whose revocation of the lost lease fails', () => {
  it('is retried until it goes through, and leaves no granted lease behind', async () => {
    const prefix = uniquePrefix('review3-revoke');
    const { tap, fenced } = await tappedStore(prefix, undo);

    // Every revocation fails three times (etcd slow to answer it), then works.
    const FAILS = 3;
    let failed = 0;
    const revoke = tap.client.leaseClient.leaseRevoke.bind(tap.client.leaseClient);
    tap.client.leaseClient.leaseRevoke = ((req: never, opts?: never) => {
      if (failed < FAILS) {
        failed++;
        return Promise.reject(new Error('etcdserver: request timed out'));
      }
      return revoke(req, opts);
    }) as typeof tap.client.leaseClient.leaseRevoke;

    const first = tap.leases[0] as Lease;
    const firstId = await first.grant();
    first.emit('lost', new Error('lease expired'));
    await until(() => fenced.at(-1) === false, 5000, 'unfenced after the renewal');

    const ids = await Promise.all(tap.leases.map((l) => l.grant().catch(() => undefined)));
    const current = ids.at(-1) as string;
    const lives = await Promise.all(
      ids.map((id) => (id === undefined ? undefined : tap.client.leaseClient.leaseTimeToLive({ ID: id, keys: true }))),
    );
    const ttls = lives.map((l) => (l === undefined ? -1 : Number(l.TTL)));
    // (what the failed attempts' leases hold: nothing once the next attempt registered under its own)
    const keysOfOthers = lives.filter((_, i) => ids[i] !== current && ids[i] !== firstId).map((l) => l?.keys?.length ?? 0);
    const registration = await tap.client.get(`${prefix}enrollers/e1`).exec();
    const registeredUnder = String(registration.kvs[0]?.lease);

    const aliveOthers = ids.filter((id, i) => id !== current && id !== firstId && (ttls[i] ?? -1) > 0);
    expect({ failed, fences: fenced, attempts: ids.length - 1, registeredUnder, keysOfOthers }).toEqual({
      keysOfOthers: [0, 0, 0],
      failed: FAILS,
      fences: [true, false],
      attempts: FAILS + 1,
      registeredUnder: current,
    });
    // The leases granted by the three failed attempts: revoked, or at least not left to run out their TTL.
    expect(aliveOthers).toEqual([]);
  });
});
