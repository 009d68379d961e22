/**
 * The enroller's pool on a shared store parting from etcd for good: two defects found by a randomized test of
 * random worlds (pool-world.fuzz.test.ts; a review, 2026-12-06; fixed with it), each as its own scene.
 *
 * 1. a watch event older than the enroller's own committed bind evicts its member from the pool.
 *
 * e2 binds x to 2 (rev 11) and moves x to 1 (rev 12); e1, its watch behind, proposes 2 to n and binds it (rev 13,
 * answered before the watch shows rev 11). The watch then delivers names/x=2 (rev 11): the table has never seen
 * names/x, so it tells the pool bound(x, 2), and AddressPool.set drops n, the owner of 2 — although the table saw
 * addresses/2 = n at rev 13. names/x=1 (rev 12) then moves x on, and every event about n or address 2 is older than
 * rev 13, so nothing ever puts n back. The pool has 2 free; etcd binds it to n.
 *
 * 2. another enroller (with another pool) moves a name out of this enroller's pool; AddressPool.set ignores
 * an address outside the pool, so the name keeps its old address here although etcd deleted addresses/<old>. Its
 * hold ends, the release is refused (e2 marks the name), and nothing ever frees the old address in the pool:
 * with a pool of one address, every newcomer is refused "exhausted" while etcd has it free.
 */
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { settle, stopReply } from '../support/helpers.js';
import { enrol, enrollerOnMiniEtcd, PREFIX, started } from '../support/mini-etcd-enroller.js';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date', 'performance'] });
});
afterEach(() => {
  vi.useRealTimers();
});

it('1. a late watch event of another enroller (older than our own bind) drops our member from the pool for good', async () => {
  let pick = 0.4; // the pool of 1-3 probes from 2
  const { sim, store, net, e1, watcher } = await enrollerOnMiniEtcd({ random: () => pick });
  try {
    // e2 binds x to 2, then moves it to 1: e1's watch has shown neither yet.
    const first = sim.write([
      [`${PREFIX}names/x`, '2'],
      [`${PREFIX}addresses/2`, 'x'],
      [`${PREFIX}members/x/e2`, '', 'lease-e2'],
    ]);
    const moved = sim.write(
      [
        [`${PREFIX}names/x`, '1'],
        [`${PREFIX}addresses/1`, 'x'],
      ],
      [`${PREFIX}addresses/2`],
    );

    // n enrols at e1: 2 is free in etcd now, and the bind commits.
    const n = await enrol(net, 'n');
    expect(started(n)).toMatchObject({ result: 0, address: 2 });
    await n.send('e1', stopReply(n));
    await vi.advanceTimersByTimeAsync(0);
    expect(e1.members().map((m) => [m.name, m.address])).toEqual([['n', 2]]);
    expect(e1.stats().bound).toBe(1);

    // The watch catches up: e2's two writes, then e1's own bind.
    for (const p of first.put) watcher.emit('put', p);
    for (const p of moved.put) watcher.emit('put', p);
    for (const d of moved.deleted) watcher.emit('delete', d);
    await settle();

    // etcd: x at 1, n at 2. The pool must bind both.
    expect(store.addressOf('n')).toBe(2);
    expect(store.addressOf('x')).toBe(1);
    expect.soft(e1.stats().bound).toBe(2); // (fails: 1 — n was dropped from the pool by the rev-11 event)

    // What follows from it: a newcomer is proposed 2 (n's in etcd), refused, and told "busy" while 3 is free.
    pick = 0.4;
    const z = await enrol(net, 'z');
    await vi.advanceTimersByTimeAsync(0);
    expect(started(z)).toMatchObject({ result: 0, address: 3 }); // (fails: -5, "busy: 8 addresses were taken")
  } finally {
    await e1.stop();
    net.close();
  }
});

it('2. a name another enroller moved out of this pool keeps its old address here for good', async () => {
  const { sim, store, net, e1, watcher } = await enrollerOnMiniEtcd({ addressPool: { first: 1, last: 1 }, random: () => 0 });
  try {
    const n = await enrol(net, 'n');
    expect(started(n)).toMatchObject({ result: 0, address: 1 });
    await n.send('e1', stopReply(n));
    await vi.advanceTimersByTimeAsync(0);
    expect(e1.members().map((m) => [m.name, m.address])).toEqual([['n', 1]]);

    // n fails over to e2 (pool 5-9), which binds it anew at 5: addresses/1 is deleted.
    const moved = sim.write(
      [
        [`${PREFIX}names/n`, '5'],
        [`${PREFIX}addresses/5`, 'n'],
        [`${PREFIX}members/n/e2`, '', 'lease-e2'],
      ],
      [`${PREFIX}addresses/1`],
    );
    for (const d of moved.deleted) watcher.emit('delete', d);
    for (const p of moved.put) watcher.emit('put', p);
    await settle();
    expect(e1.members()).toEqual([]); // e1 let its record go (rebound)
    await vi.advanceTimersByTimeAsync(5_000); // n's hold ends here; its release is refused (e2 marks n)

    expect(store.addressOf('n')).toBe(5);
    expect(sim.kv.has(`${PREFIX}addresses/1`)).toBe(false); // etcd: 1 is free
    expect.soft(e1.stats().bound).toBe(0); // (fails: 1 — the pool still has n at 1)

    const y = await enrol(net, 'y');
    expect(started(y)).toMatchObject({ result: 0, address: 1 }); // (fails: "address pool 1-1 is exhausted")
  } finally {
    await e1.stop();
    net.close();
  }
});
