/**
 * No leave of a name while a new enrollment of it holds its mark (found by a review, 2026-12-05; fixed in
 * MemberRegistry.retire, which only forgets a record whose name enrols here again with an address bound).
 *
 * How the enroller gets there (hmac-sha256): member m, enrolled from m-shim, stops hearing keepalive answers and
 * enrols again from the same shim address. Nothing of the new enrollment counts as a sign of life of the old
 * member record (enroller.ts: only PDUs opened by the member's own channel call members.seen), so the old record's
 * lease runs out while the new enrollment is under way. The lease check (members.ts #armLease) retires the record
 * ('gone'), and retire() called ledger.leave(m) without asking whether an enrollment of m here holds the name
 * (rebound() asked exactly that; retire() did not). The new enrollment's bind has already written e1's mark on m;
 * the store's leave deleted this enroller's mark on m at the revision it last wrote it: the new enrollment's. The
 * enrollment then completed: m was listed, answered, at its address, and no mark guarded its binding; another
 * enroller freed it and gave the address away.
 *
 * Real etcd for the store; the enroller on a MemoryNetwork with a ManualClock (its member leases only).
 */
import { afterEach, expect, it } from 'vitest';
import { EtcdAddressStore } from '../../src/etcd/index.js';
import { OpCode } from '../../src/index.js';
import type { AddressStoreListener } from '../../src/store/address-store.js';
import { describeEtcd, etcdEndpoint, uniquePrefix } from '../support/etcd.js';
import { cleanup, stopReply, until, withEnroller } from '../support/helpers.js';
import { HmacPeer } from '../support/hmac-peer.js';
import { ManualClock } from '../enroller/manual-clock.js';

const undo: Array<() => unknown> = [];
afterEach(async () => {
  while (undo.length > 0) await undo.pop()?.();
  await cleanup();
});

const KEY = 'correct horse battery staple';
const quiet = (): AddressStoreListener => ({
  bound: () => undefined,
  unbound: () => undefined,
  idle: () => undefined,
  enrollers: () => undefined,
});

describeEtcd('Enroller on etcd: a member record retired while its name enrols again', () => {
  it('an old member record whose lease ends while the same member enrols again leaves the new enrollment its mark', async () => {
    const prefix = uniquePrefix('review-leave');
    const markKey = `${prefix}members/m/bootstrap`;
    const clock = new ManualClock();
    const store = new EtcdAddressStore({ hosts: etcdEndpoint(), prefix, callTimeoutMs: 2000 });
    const { enroller, net } = await withEnroller({
      auth: { mechanism: 'hmac-sha256', key: KEY },
      clock,
      store,
      leaseMs: 1000,
      holdMs: 60_000,
    });
    const e2 = new EtcdAddressStore({ hosts: etcdEndpoint(), prefix, callTimeoutMs: 2000 });
    await e2.open({ name: 'e2', shimAddress: 'e2-shim' }, quiet());
    undo.push(() => e2.close());
    await e2.load();
    const markPresent = async () => (await readKey(markKey)) !== null;
    const gone: string[] = [];
    enroller.on('member:gone', (m) => gone.push(m.name));

    // m enrols from m-shim.
    const shim = net.attach('m-shim');
    const first = new HmacPeer(shim, 'm', KEY);
    await first.connect(1);
    await until(() => first.proof !== undefined, 1000, 'M_CONNECT_R');
    await first.start(2);
    await until(() => first.ofType(OpCode.M_STOP).length > 0, 2000, 'M_STOP');
    await first.send(stopReply(first));
    await until(() => enroller.members().length === 1, 1000, 'm enrolled');
    const address = enroller.members()[0]?.address as number;

    // 600 ms of silence, then m enrols again from the same shim (its own connection timed out): bound again, M_STOP sent.
    clock.advance(600);
    const again = new HmacPeer(shim, 'm', KEY);
    await again.connect(10);
    await until(() => again.proof !== undefined, 1000, 'second M_CONNECT_R');
    await again.start(11);
    await until(() => again.ofType(OpCode.M_STOP).length > 0, 2000, 'second M_STOP');
    const markAfterRebind = await markPresent();

    // The old record's lease ends (1000 ms after its last sign of life) before the M_STOP_R arrives.
    const leavesBefore = store.stats().leaves;
    clock.advance(500);
    await until(() => store.stats().leaves > leavesBefore, 1000, 'the leave sent').catch(() => undefined);
    await new Promise((r) => setTimeout(r, 100));
    await again.send(stopReply(again));
    await until(() => enroller.members().length === 1, 1000, 'm enrolled again');

    await new Promise((r) => setTimeout(r, 200));
    const listed = enroller.members().map((m) => ({ name: m.name, address: m.address }));
    const markAtEnd = await markPresent();
    await until(() => e2.addressOf('m') === address, 1000, 'e2 sees m');
    const e2Released = await e2.release('m');
    const xGot = e2Released ? await e2.bind({ name: 'x', address }) : false;

    expect(markAfterRebind).toBe(true); // the new enrollment's bind marked m
    expect(gone).toEqual(['m']); // the old record's lease ended mid-enrollment (the interleaving set up)
    expect({ listed, markOfEnrollerOnM: markAtEnd, e2FreedM: e2Released, xGotMsAddress: xGot }).toEqual({
      listed: [{ name: 'm', address }],
      markOfEnrollerOnM: true,
      e2FreedM: false,
      xGotMsAddress: false,
    });
  });
});

/** Reads `key` with a client of its own (the stores keep theirs). */
async function readKey(key: string): Promise<string | null> {
  const { Etcd3 } = await import('etcd3');
  const client = new Etcd3({ hosts: etcdEndpoint() });
  try {
    return await client.get(key).string();
  } finally {
    client.close();
  }
}
