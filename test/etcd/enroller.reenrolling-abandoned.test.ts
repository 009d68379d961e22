/**
 * The other side of MemberRegistry.retire's rule (an old record is only forgotten while its name enrols here again
 * past M_START): when that re-enrollment is then abandoned, its end gives the binding back. Its mark is left, and
 * once the hold ends the binding is released. Written by a review (2026-12-05) that found nothing wrong here.
 */
import { afterEach, expect, it } from 'vitest';
import { OpCode } from '../../src/index.js';
import { describeEtcd, uniquePrefix } from '../support/etcd.js';
import { hmacComplete, hmacEnrollerOnEtcd, hmacStart, readKey } from '../support/etcd-races.js';
import { cleanup, until } from '../support/helpers.js';

const undo: Array<() => unknown> = [];
afterEach(async () => {
  while (undo.length > 0) await undo.pop()?.();
  await cleanup();
});

describeEtcd('Enroller on etcd: a retire skipped for a re-enrollment that is then abandoned', () => {
  it('the abandoned re-enrollment leaves the mark and, after the hold, frees the binding', async () => {
    const prefix = uniquePrefix('review2-abandon');
    const markKey = `${prefix}members/m/bootstrap`;
    const nameKey = `${prefix}names/m`;
    const { enroller, net, store, clock, gone } = await hmacEnrollerOnEtcd(prefix, { holdMs: 3000, pendingTimeoutMs: 2000 });
    const released: string[] = [];
    enroller.on('address:released', (b) => released.push(b.name));

    const shim = net.attach('m-shim');
    await hmacComplete(enroller, await hmacStart(shim, 'm', 1));

    clock.advance(600);
    const again = await hmacStart(shim, 'm', 10);
    await until(() => again.ofType(OpCode.M_STOP).length > 0, 2000, 'second M_STOP');
    const leavesBefore = store.stats().leaves;
    clock.advance(500); // the old record's lease ends: retire skips leave+hold (enrolling)
    await new Promise((r) => setTimeout(r, 50));
    const leavesAtRetire = store.stats().leaves - leavesBefore;

    // m never answers M_STOP: the enrollment is abandoned after pendingTimeoutMs.
    for (let i = 0; i < 10; i++) clock.advance(250);
    await until(() => store.stats().leaves > leavesBefore, 1000, 'the leave of the abandoned enrollment').catch(() => undefined);
    await new Promise((r) => setTimeout(r, 200));
    const markAfterAbandon = await readKey(markKey);
    for (let i = 0; i < 40; i++) clock.advance(250); // the hold (3 s + its turn) ends
    await until(() => released.length > 0, 2000, 'address released').catch(() => undefined);
    await new Promise((r) => setTimeout(r, 200));
    expect(gone).toEqual(['m']);
    expect({
      leavesAtRetire,
      members: enroller.members().length,
      pending: enroller.stats().pending,
      markAfterAbandon,
      released,
      nameKey: await readKey(nameKey),
      bound: enroller.stats().bound,
    }).toEqual({ leavesAtRetire: 0, members: 0, pending: 0, markAfterAbandon: null, released: ['m'], nameKey: null, bound: 0 });
  });
});
