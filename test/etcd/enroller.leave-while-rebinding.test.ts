/**
 * A member record retired while its name's new enrollment has a bind in flight (found by a review, 2026-12-05).
 * The earlier fix forgot the old record only once the new enrollment had bound an address (its `address` is set
 * after the bind answers); while the bind was in flight, retire() still left the name: EtcdAddressStore.leave
 * forgot the token the bind had taken, the bind then committed its mark, the watch showed a mark on a name not
 * served, and it was deleted as a stray. m was listed at its address with no mark, and another enroller freed it.
 * Now an enrollment past its M_START owns the name (MemberRegistryHost.enrolling is SessionTable.serving).
 *
 * Same set-up as enroller.leave-while-reenrolling.test.ts, except that the old record's lease ends while the new
 * enrollment's bind transaction is held in transit (a slow etcd: up to maxStoreWaitMs = 1 s is "normal").
 */
import { afterEach, expect, it } from 'vitest';
import { OpCode } from '../../src/index.js';
import { describeEtcd, uniquePrefix } from '../support/etcd.js';
import {
  freedElsewhere,
  gate,
  hmacComplete,
  hmacEnrollerOnEtcd,
  hmacStart,
  otherEnroller,
  putsKey,
  tappedClient,
} from '../support/etcd-races.js';
import { cleanup, stopReply, until } from '../support/helpers.js';

const undo: Array<() => unknown> = [];
afterEach(async () => {
  while (undo.length > 0) await undo.pop()?.();
  await cleanup();
});

describeEtcd('Enroller on etcd: a member record retired while its re-enrollment bind is in flight', () => {
  it('the old record whose lease ends while the new bind is unanswered leaves the new enrollment its mark', async () => {
    const prefix = uniquePrefix('review2-rebind');
    const nameKey = `${prefix}names/m`;
    const markKey = `${prefix}members/m/bootstrap`;
    const tap = tappedClient();
    undo.push(() => tap.client.close());
    const { enroller, net, store, clock, gone } = await hmacEnrollerOnEtcd(prefix, { holdMs: 60_000 }, tap.client);
    const e2 = await otherEnroller(prefix, undo);

    const shim = net.attach('m-shim');
    await hmacComplete(enroller, await hmacStart(shim, 'm', 1));
    const address = enroller.members()[0]?.address as number;

    // 600 ms of silence; m enrols again from the same shim; its bind is held on the wire.
    clock.advance(600);
    const { held, open: deliver } = gate();
    let bindSeen = false;
    tap.hooks.before = (req) => {
      if (!putsKey(nameKey)(req)) return undefined;
      bindSeen = true;
      return held;
    };
    const again = await hmacStart(shim, 'm', 10);
    await until(() => bindSeen, 1000, 'the new bind sent');

    // The old record's lease ends while the bind is in flight: retire('gone') -> leave(m) (enrolling(m) is false).
    const leavesBefore = store.stats().leaves;
    clock.advance(500);
    await until(() => store.stats().leaves > leavesBefore, 1000, 'the leave sent').catch(() => undefined);
    await new Promise((r) => setTimeout(r, 50));
    deliver();
    await until(() => again.ofType(OpCode.M_STOP).length > 0, 2000, 'second M_STOP');
    await again.send(stopReply(again));
    await until(() => enroller.members().length === 1, 1000, 'm enrolled again');

    await new Promise((r) => setTimeout(r, 300)); // the watch shows the new mark (and a stray deletion, if any)
    const listed = enroller.members().map((mm) => ({ name: mm.name, address: mm.address }));
    const markAtEnd = (await tap.client.get(markKey).string()) !== null;
    const elsewhere = await freedElsewhere(e2, 'm', address);

    expect(gone).toEqual(['m']); // the old record's lease ended mid-enrollment (the interleaving set up)
    expect({ listed, markOfEnrollerOnM: markAtEnd, e2FreedM: elsewhere.freed, xGotMsAddress: elsewhere.taken }).toEqual({
      listed: [{ name: 'm', address }],
      markOfEnrollerOnM: true,
      e2FreedM: false,
      xGotMsAddress: false,
    });
  });
});
