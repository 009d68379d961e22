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
import { OpCode } from '../../src/index.js';
import { describeEtcd, uniquePrefix } from '../support/etcd.js';
import { freedElsewhere, hmacComplete, hmacEnrollerOnEtcd, hmacStart, otherEnroller, readKey } from '../support/etcd-races.js';
import { cleanup, stopReply, until } from '../support/helpers.js';

const undo: Array<() => unknown> = [];
afterEach(async () => {
  while (undo.length > 0) await undo.pop()?.();
  await cleanup();
});

describeEtcd('Enroller on etcd: a member record retired while its name enrols again', () => {
  it('an old member record whose lease ends while the same member enrols again leaves the new enrollment its mark', async () => {
    const prefix = uniquePrefix('review-leave');
    const markKey = `${prefix}members/m/bootstrap`;
    const { enroller, net, store, clock, gone } = await hmacEnrollerOnEtcd(prefix, { holdMs: 60_000 });
    const e2 = await otherEnroller(prefix, undo);
    const markPresent = async () => (await readKey(markKey)) !== null;

    // m enrols from m-shim.
    const shim = net.attach('m-shim');
    await hmacComplete(enroller, await hmacStart(shim, 'm', 1));
    const address = enroller.members()[0]?.address as number;

    // 600 ms of silence, then m enrols again from the same shim (its own connection timed out): bound again, M_STOP sent.
    clock.advance(600);
    const again = await hmacStart(shim, 'm', 10);
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
    const elsewhere = await freedElsewhere(e2, 'm', address);

    expect(markAfterRebind).toBe(true); // the new enrollment's bind marked m
    expect(gone).toEqual(['m']); // the old record's lease ended mid-enrollment (the interleaving set up)
    expect({ listed, markOfEnrollerOnM: markAtEnd, e2FreedM: elsewhere.freed, xGotMsAddress: elsewhere.taken }).toEqual({
      listed: [{ name: 'm', address }],
      markOfEnrollerOnM: true,
      e2FreedM: false,
      xGotMsAddress: false,
    });
  });
});
