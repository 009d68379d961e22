/**
 * Found by a review (2026-12-05; fixed with it), on a real etcd: a member record retired while its name's re-enrollment is past M_START
 * (only forgotten: the enrollment is to give the binding back), the enrollment then abandoned with its bind in
 * flight (no address yet: giveBack does nothing), and the bind refused because another enroller re-bound m
 * meanwhile. AddressAssigner.#bind returns on `stored === false` without letting the name go: our mark
 * members/m/bootstrap stays under our live lease, so once the other enroller's member leaves, m is marked by an
 * enroller that serves nobody of that name, and no enroller can ever release m (while we live).
 */
import { afterEach, expect, it } from 'vitest';
import { describeEtcd, uniquePrefix } from '../support/etcd.js';
import { gate, hmacComplete, hmacEnrollerOnEtcd, hmacStart, otherEnroller, putsKey, readKey, tappedClient } from '../support/etcd-races.js';
import { cleanup, until } from '../support/helpers.js';

const undo: Array<() => unknown> = [];
afterEach(async () => {
  while (undo.length > 0) await undo.pop()?.();
  await cleanup();
});

describeEtcd('Enroller on etcd: a re-enrollment abandoned with its bind in flight, the bind refused', () => {
  it('lets go of the name the retired record left to it', async () => {
    const prefix = uniquePrefix('review3-refused');
    const nameKey = `${prefix}names/m`;
    const markKey = `${prefix}members/m/bootstrap`;
    const tap = tappedClient();
    undo.push(() => tap.client.close());
    const { enroller, net, clock, gone } = await hmacEnrollerOnEtcd(prefix, { holdMs: 1000, pendingTimeoutMs: 1500 }, tap.client);
    const e2 = await otherEnroller(prefix, undo);

    const shim = net.attach('m-shim');
    await hmacComplete(enroller, await hmacStart(shim, 'm', 1));
    const address = enroller.members()[0]?.address as number;
    await until(() => e2.addressOf('m') === address, 1000, 'e2 sees m');

    // m enrols again; its bind is held on the wire.
    clock.advance(600);
    const { held, open: deliver } = gate();
    let bindSeen = false;
    tap.hooks.before = (req) => {
      if (!putsKey(nameKey)(req)) return undefined;
      bindSeen = true;
      return held;
    };
    await hmacStart(shim, 'm', 10);
    await until(() => bindSeen, 1000, 'the new bind sent');

    clock.advance(500); // the old record's lease ends: only forgotten (the re-enrollment is past M_START)
    for (let i = 0; i < 8; i++) clock.advance(250); // the re-enrollment times out: abandoned, no address yet
    expect({ gone, pending: enroller.stats().pending }).toEqual({ gone: ['m'], pending: 0 });

    // Meanwhile the member failed over: e2 binds m elsewhere. Our held bind is then refused.
    const other = address === 1999 ? 1002 : address + 1;
    expect(await e2.bind({ name: 'm', address: other })).toBe(true);
    deliver();
    await new Promise((r) => setTimeout(r, 200));

    // e2's member leaves; every hold runs out.
    await e2.leave('m');
    for (let i = 0; i < 20; i++) clock.advance(250);
    await new Promise((r) => setTimeout(r, 300));

    const e2Released = await e2.release('m');
    expect({ ourMarkOnM: await readKey(markKey), e2Released, nameKey: await readKey(nameKey) }).toEqual({
      ourMarkOnM: null,
      e2Released: true,
      nameKey: null,
    });
  });
});
