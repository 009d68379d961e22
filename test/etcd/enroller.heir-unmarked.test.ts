/**
 * Found by a review (2026-12-06; fixed with it), the scale benchmark's "m16704 holds 85136 at the end, but etcd binds it to nothing":
 * an enrollment completes at e1 with a binding e1 holds NO mark on, so another enroller's hold releases the
 * binding while the member counts itself enrolled (and e1 answers its keepalives).
 *
 * The chain (src/enroller/assignment.ts, src/etcd/served.ts):
 * 1. n's enrollment S1 sends its bind (n -> 1); it is slow.
 * 2. n connects again (a new attempt): S2 replaces S1 (S1 has no address yet: abandoned, its bind decides).
 * 3. S2's M_START sends a bind of its own (the pool's address for n, 1); it fails (etcd overloaded).
 *    #bindFailed -> #orphaned: S2 is set back (no M_START any more), so nothing "serves" n here, and
 *    ledger.leave(n) runs: the store forgets n (ServedNames.forget), S1's bind still in flight.
 * 4. S1's bind commits (names/n = 1 and e1's mark). ServedNames.succeeded does not count it (its token was
 *    forgotten), so n is not served by the store; the watch shows e1's mark and the store deletes it as a stray.
 *    But AddressAssigner.#bind sees S2 as S1's heir and hands it the binding (inherit).
 * 5. n's M_START (retransmitted: the "unavailable" answer was lost) is answered from `keptBinding`: no bind,
 *    so no mark is written; n completes and is listed at e1.
 * Now n is enrolled at e1 and etcd holds no mark on n: the name is idle for every enroller, the first whose hold
 * ends releases names/n and addresses/1 (its compare passes: no marks), and 1 may go to anyone.
 */
import type { IKeyValue } from 'etcd3';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { KEEPALIVE_OBJECT, OpCode } from '../../src/index.js';
import { connectMsg, RawPeer, settle, startMsg, stopReply } from '../support/helpers.js';
import { enrollerOnMiniEtcd, PREFIX, started } from '../support/mini-etcd-enroller.js';
import { deferred } from '../support/scripted-etcd.js';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date', 'performance'] });
});
const undo: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (undo.length > 0) await undo.pop()?.();
  vi.useRealTimers();
});

const marksOf = (sim: { all(): IKeyValue[] }, name: string): string[] =>
  sim
    .all()
    .map((kv) => kv.key.toString())
    .filter((k) => k.startsWith(`${PREFIX}members/${name}/`));

type Scene = Awaited<ReturnType<typeof enrollerOnMiniEtcd>>;

/** e1 on MiniEtcd (pool 1-3, probing from 1) and the member n's shim: n's first bind waits for `gate`; its second throws if `failSecond`. */
async function scene(failSecond: boolean) {
  const gate = deferred<void>();
  const binds = { n: 0 };
  const world = await enrollerOnMiniEtcd(
    { addressPool: { first: 1, last: 3 }, random: () => 0 },
    {
      txn: async (request, s) => {
        const putsN = (request.success ?? []).some((o) => o.request_put?.key?.toString() === `${PREFIX}names/n`);
        const which = putsN ? ++binds.n : 0;
        if (which === 1) await gate.promise; // S1's bind: slow
        if (which === 2 && failSecond) throw new Error('etcdserver: too many requests'); // S2's bind: fails
        return s.txn(request);
      },
    },
  );
  undo.push(async () => {
    await world.e1.stop();
    world.net.close();
  });
  return { ...world, gate, binds, n: new RawPeer(world.net.attach('n-shim')) };
}

/** The watch shows `keys` as etcd holds them now. */
async function watchShows(sim: Scene['sim'], watcher: Scene['watcher'], keys: string[]): Promise<void> {
  for (const key of keys) {
    const kv = sim.kvOf(key);
    if (kv !== undefined) watcher.emit('put', kv);
  }
  await vi.advanceTimersByTimeAsync(0);
  await settle();
}

/** n's M_START (`invokeId`) is answered with address 1, and its M_STOP_R completes it: e1 lists n at 1. */
async function completes(n: RawPeer, e1: Scene['e1'], invokeId: number): Promise<void> {
  await n.send('e1', startMsg(invokeId));
  await vi.advanceTimersByTimeAsync(0);
  await settle();
  expect(started(n)).toMatchObject({ result: 0, address: 1 });
  await n.send('e1', stopReply(n));
  await vi.advanceTimersByTimeAsync(0);
  expect(e1.members().map((m) => [m.name, m.address])).toEqual([['n', 1]]);
}

it('an heir completes on a bind whose mark the store deleted as stray: n enrolled at e1, no mark in etcd, releasable by anyone', async () => {
  const { sim, e1, watcher, gate, binds, n } = await scene(true);

  // 1. S1: connect and start; its bind waits.
  await n.send('e1', connectMsg(1, 'n', 'e1'));
  await vi.advanceTimersByTimeAsync(0);
  await n.send('e1', startMsg(2));
  await vi.advanceTimersByTimeAsync(0);
  expect(binds.n).toBe(1);

  // 2. A new attempt of n: S2 replaces S1.
  await n.send('e1', connectMsg(3, 'n', 'e1'));
  await vi.advanceTimersByTimeAsync(0);
  // 3. S2's M_START: its bind fails; n is answered "unavailable" (a datagram the real network may lose).
  await n.send('e1', startMsg(4));
  await vi.advanceTimersByTimeAsync(0);
  expect(binds.n).toBe(2);
  expect(started(n).result).toBe(-4);

  // 4. S1's bind commits; the watch shows what it wrote (the mark too).
  const before = sim.revision;
  gate.resolve();
  await vi.advanceTimersByTimeAsync(0);
  await settle();
  expect(sim.revision).toBe(before + 1);
  expect(marksOf(sim, 'n')).toEqual([`${PREFIX}members/n/e1`]);
  await watchShows(sim, watcher, [`${PREFIX}names/n`, `${PREFIX}addresses/1`, `${PREFIX}members/n/e1`]);
  // The store took e1's own fresh mark for a stray (n not served by the store) and deleted it.
  expect(marksOf(sim, 'n')).toEqual([]);

  // 5. n's M_START again (retransmitted): answered with address 1 (before the fix: at once, from keptBinding, no bind).
  await completes(n, e1, 4);

  // e1 vouches for n: its keepalive is answered as enrolled.
  n.clear();
  await n.send('e1', { opCode: OpCode.M_READ, invokeId: 9, ...KEEPALIVE_OBJECT });
  await vi.advanceTimersByTimeAsync(0);
  expect(n.ofType(OpCode.M_READ_R).at(-1)?.result).toBe(0);

  // etcd binds n to 1 ...
  expect(sim.kvOf(`${PREFIX}names/n`)?.value.toString()).toBe('1');
  // ... and an enroller serving a member must hold a mark on its name (else any hold releases it). Before the fix: none.
  expect({ bindsOfN: binds.n, marks: marksOf(sim, 'n') }).toEqual({ bindsOfN: 3, marks: [`${PREFIX}members/n/e1`] });
});

it('what the missing mark costs: another enroller (e2) whose hold of n ends releases it while n is enrolled at e1', async () => {
  const { sim, e1, watcher, gate, n } = await scene(true);
  await n.send('e1', connectMsg(1, 'n', 'e1'));
  await vi.advanceTimersByTimeAsync(0);
  await n.send('e1', startMsg(2));
  await vi.advanceTimersByTimeAsync(0);
  await n.send('e1', connectMsg(3, 'n', 'e1'));
  await vi.advanceTimersByTimeAsync(0);
  await n.send('e1', startMsg(4));
  await vi.advanceTimersByTimeAsync(0);
  gate.resolve();
  await vi.advanceTimersByTimeAsync(0);
  await settle();
  await watchShows(sim, watcher, [`${PREFIX}names/n`, `${PREFIX}addresses/1`, `${PREFIX}members/n/e1`]);
  await n.send('e1', startMsg(4));
  await vi.advanceTimersByTimeAsync(0);
  await n.send('e1', stopReply(n));
  await vi.advanceTimersByTimeAsync(0);
  expect(e1.members().map((m) => [m.name, m.address])).toEqual([['n', 1]]);

  // e2's hold of n ends (it saw n idle): its release, as EtcdAddressStore.release sends it (no marks but possibly its own).
  const nameKv = sim.kvOf(`${PREFIX}names/n`);
  const marks = `${PREFIX}members/n/`;
  const mine = `${marks}e2`;
  const end = Buffer.from(marks);
  end[end.length - 1] = (end[end.length - 1] ?? 0) + 1;
  const res = await sim.txn({
    compare: [
      { key: Buffer.from(`${PREFIX}names/n`), target: 'Mod', result: 'Equal', mod_revision: String(nameKv?.mod_revision) },
      { key: Buffer.from(marks), range_end: Buffer.from(mine), target: 'Create', result: 'Equal', create_revision: 0 },
      { key: Buffer.from(`${mine}\0`), range_end: end, target: 'Create', result: 'Equal', create_revision: 0 },
    ],
    success: [
      { request_delete_range: { key: Buffer.from(`${PREFIX}names/n`) } },
      { request_delete_range: { key: Buffer.from(`${PREFIX}addresses/1`) } },
      { request_delete_range: { key: Buffer.from(mine) } },
    ],
    failure: [],
  });
  // n is enrolled at e1 (and counts itself so): its binding must survive any other enroller's release. Before the fix: released.
  expect(res.succeeded).toBe(false);
  expect(sim.kvOf(`${PREFIX}names/n`)?.value.toString()).toBe('1');
});

it('no etcd error needed: a slow bind, and n connecting twice meanwhile, give the same unmarked enrollment', async () => {
  // The second replacement abandons S2 (no address, not binding) while the pool holds S1's proposed address for n:
  // SessionEndings.giveBack leaves n (ledger.leave) though S1's bind is in flight, and S3 is S1's heir.
  const { sim, e1, watcher, gate, binds, n } = await scene(false);
  await n.send('e1', connectMsg(1, 'n', 'e1')); // S1
  await vi.advanceTimersByTimeAsync(0);
  await n.send('e1', startMsg(2)); // S1's bind: slow
  await vi.advanceTimersByTimeAsync(0);
  await n.send('e1', connectMsg(3, 'n', 'e1')); // S2 replaces S1
  await vi.advanceTimersByTimeAsync(0);
  await n.send('e1', connectMsg(5, 'n', 'e1')); // S3 replaces S2 (before S2's M_START)
  await vi.advanceTimersByTimeAsync(0);
  gate.resolve(); // S1's bind commits: S3 is its heir
  await vi.advanceTimersByTimeAsync(0);
  await settle();
  await watchShows(sim, watcher, [`${PREFIX}names/n`, `${PREFIX}addresses/1`, `${PREFIX}members/n/e1`]);
  await completes(n, e1, 6); // S3's M_START: before the fix kept, no bind
  expect(sim.kvOf(`${PREFIX}names/n`)?.value.toString()).toBe('1');
  // Before the fix: no mark on n (one bind only, its mark deleted as a stray), though e1 serves it.
  expect({ bindsOfN: binds.n, marks: marksOf(sim, 'n') }).toEqual({ bindsOfN: 2, marks: [`${PREFIX}members/n/e1`] });
});
