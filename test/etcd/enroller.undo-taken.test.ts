/**
 * Found by a review (2026-12-06; fixed with it): a bind retry that throws while fenced undoes the pool to the name's address from BEFORE the M_START
 * (`heldBefore`), although the store told the pool meanwhile that the address is another enroller's (x). The pool
 * loses x's binding for good (the table has it, so no later watch event or failed read tells the pool again):
 * once n's hold ends the address looks free, and every newcomer this enroller proposes it to is refused by etcd
 * eight times over ("busy"), with the other address of the pool free the whole time.
 */
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { decodeEnrollmentInfo, OpCode } from '../../src/index.js';
import { connectMsg, RawPeer, settle, startMsg, stopReply } from '../support/helpers.js';
import { enrollerOnMiniEtcd, PREFIX } from '../support/mini-etcd-enroller.js';
import { deferred } from '../support/scripted-etcd.js';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date', 'performance'] });
});
afterEach(() => {
  vi.useRealTimers();
});

it('a fenced bind retry gives n back the address x took meanwhile: the pool forgets x, and newcomers are refused "busy" for ever', async () => {
  let bindGate: Promise<void> | undefined;
  const { etcd, sim, store, net, e1, watcher } = await enrollerOnMiniEtcd(
    { addressPool: { first: 1, last: 2 }, random: () => 0 },
    {
      leaseTtlSecs: 10,
      // n was bound to 1 by an enroller gone since (no mark): e1 holds it.
      before: (s) =>
        s.write([
          [`${PREFIX}names/n`, '1'],
          [`${PREFIX}addresses/1`, 'n'],
        ]),
      txn: async (request, s) => {
        const putsN = (request.success ?? []).some((o) => o.request_put?.key?.toString() === `${PREFIX}names/n`);
        if (putsN && bindGate !== undefined) {
          const gate = bindGate;
          bindGate = undefined;
          await gate;
        }
        return s.txn(request);
      },
    },
  );

  // n enrols again: its bind of 1 (its address before) is sent, and waits.
  const gate = deferred<void>();
  bindGate = gate.promise;
  const n = new RawPeer(net.attach('n-shim'));
  await n.send('e1', connectMsg(1, 'n', 'e1'));
  await vi.advanceTimersByTimeAsync(0);
  await n.send('e1', startMsg(2));
  await vi.advanceTimersByTimeAsync(0);

  // Meanwhile e2 (its own hold of n over) releases n and binds 1 to x; e1's watch shows it at once.
  const released = sim.write([], [`${PREFIX}names/n`, `${PREFIX}addresses/1`]);
  const bound = sim.write([
    [`${PREFIX}addresses/1`, 'x'],
    [`${PREFIX}names/x`, '1'],
    [`${PREFIX}members/x/e2`, '', 'lease-e2'],
  ]);
  for (const d of released.deleted) watcher.emit('delete', d);
  for (const p of bound.put) watcher.emit('put', p);
  await settle();
  expect(e1.stats()).toMatchObject({ bound: 1 }); // x at 1, as etcd has it

  // e1's lease lapses while its bind is in flight (the renewal's grant waits).
  const grant = deferred<void>();
  etcd.grants.push(grant.promise);
  etcd.leases[0]?.emit('lost');
  await settle();

  // The bind is refused (1 is x's); the retry proposes 2, and its bind throws: fenced.
  gate.resolve();
  await vi.advanceTimersByTimeAsync(0);
  expect(n.ofType(OpCode.M_START_R).map((m) => m.result)).toEqual([-4]); // unavailable
  expect(store.addressOf('x')).toBe(1); // the store's table: x at 1

  // The renewal ends; e1 serves again.
  grant.resolve();
  await vi.advanceTimersByTimeAsync(50);
  expect(e1.health().ok).toBe(true);
  // What e1's pool says: x holds 1 (etcd binds it so; nothing here changed it).
  expect(e1.stats().bound).toBe(1); // x at 1 only (before the fix: n at 1 too, x gone from the pool)
  await vi.advanceTimersByTimeAsync(2_000); // n's hold ends

  // A newcomer: 2 is free; it must be enrolled.
  const y = new RawPeer(net.attach('y-shim'));
  await y.send('e1', connectMsg(1, 'y', 'e1'));
  await vi.advanceTimersByTimeAsync(0);
  await y.send('e1', startMsg(2));
  await vi.advanceTimersByTimeAsync(0);
  const reply = y.ofType(OpCode.M_START_R).at(-1);
  expect(reply?.result, reply?.resultReason).toBe(0);
  const info = decodeEnrollmentInfo(reply?.objValue?.byteval ?? new Uint8Array());
  expect(info.address).toBe(2);
  await y.send('e1', stopReply(y));
  await vi.advanceTimersByTimeAsync(0);
  expect(e1.members().map((m) => [m.name, m.address])).toEqual([['y', 2]]);

  await e1.stop();
  net.close();
});
