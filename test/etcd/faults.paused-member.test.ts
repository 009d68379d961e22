/**
 * One member of a three-member etcd that accepts calls and answers none
 * (paused with SIGSTOP: what a member restarted after a crash does while it
 * catches up, which at 100,000 members took over 20 s). The store must keep
 * its lease and its binds going through the two members that answer.
 */
import { afterEach, expect, it } from 'vitest';
import { EtcdAddressStore } from '../../src/etcd/index.js';
import type { AddressStoreListener } from '../../src/store/address-store.js';
import { describeEtcd, startEtcd } from '../support/etcd.js';

const undo: Array<() => unknown> = [];
afterEach(async () => {
  while (undo.length > 0) await undo.pop()?.();
});

const listener: AddressStoreListener = { bound: () => {}, unbound: () => {}, idle: () => {}, enrollers: () => {} };

describeEtcd('an etcd member that answers nothing', () => {
  // Found by the 100,000-member run (2026-12-07): the etcd member killed in the leader phase came back and, while it
  // caught up, held every call the client sent it (a third of them, picked at random) until its deadline. Binds waited
  // behind them, the window was cut again and again, and a keepalive or the doubt's question sent to it made the lease
  // lapse although the other two members would have renewed it: every enroller fenced itself, again and again.
  it('one of three members paused: binds go on through the two others, at most a few calls wait on the paused one, and the lease holds', async () => {
    const etcd = await startEtcd({ size: 3 });
    undo.push(() => etcd.close());
    const leader = await etcd.leader();
    const paused = etcd.members.find((m) => m !== leader);
    if (paused === undefined) throw new Error('no follower');
    const store = new EtcdAddressStore({ hosts: etcd.endpoints, difName: 'paused.DIF', callTimeoutMs: 500, leaseTtlSecs: 2 });
    await store.open({ name: 'e1', shimAddress: 'e1-shim' }, listener);
    undo.push(() => store.close());
    await store.load();
    // Four more enrollers that only keep their leases (no binds teach their clients that the member answers nothing):
    // a keepalive sent to the paused member is held until its deadline, one TTL.
    const idle = await Promise.all(
      [2, 3, 4, 5].map(async (k) => {
        const s = new EtcdAddressStore({ hosts: etcd.endpoints, difName: 'paused.DIF', callTimeoutMs: 500, leaseTtlSecs: 2 });
        await s.open({ name: `e${k}`, shimAddress: `e${k}-shim` }, listener);
        undo.push(() => s.close());
        return s;
      }),
    );

    paused.pause();
    undo.push(() => paused.resume());
    const started = Date.now();
    let bound = 0;
    let failed = 0;
    // Binds one after another, 300 and for 2.5 lease TTLs at least (and 20 s at most, so that a regression ends by
    // itself): without skipping the paused member, about a third of them would wait the whole 500 ms on it and fail.
    const more = (i: number, ms: number) => (i < 300 || ms < 5000) && ms < 20_000;
    for (let i = 0; more(i, Date.now() - started); i++) {
      try {
        if (await store.bind({ name: `m${i}`, address: i + 1 })) bound++;
      } catch {
        failed++;
      }
    }
    paused.resume();
    const stats = store.stats();
    // Three failures in a row skip the member; after that only one trial call at a time waits on it (250 ms, doubling).
    expect({ failedAtMost12: failed <= 12, lapses: stats.leaseLapses }).toEqual({ failedAtMost12: true, lapses: 0 });
    expect(bound).toBeGreaterThanOrEqual(300 - failed);
    expect(stats.etcdMembersSkipped).toBeGreaterThan(0);
    expect(store.canVouch()).toBe(true);
    // Found by the same run, traced: an enroller's keepalives, one every third of the TTL, went three in a row to the
    // member catching up (picked at random), and its lease expired although the two others would have renewed it.
    // Sent again every sixth of the TTL while unanswered, still at random, one idle store in four lapsed in about a
    // run in four. Now a keepalive goes to a member not holding one (keepalives.ts): none lapsed in ten runs.
    expect(idle.map((s) => ({ lapses: s.stats().leaseLapses, vouches: s.canVouch() }))).toEqual(
      idle.map(() => ({ lapses: 0, vouches: true })),
    );
  }, 40_000);
});
