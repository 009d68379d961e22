import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { zeroEtcdStats } from '../../src/etcd/options.js';
import { TXN_WINDOW_FLOOR, TxnNotSentError, TxnWindow, type TxnWindowStats } from '../../src/etcd/txn-window.js';

/** A transaction the test answers by hand. */
interface Txn {
  readonly id: number;
  sent: boolean;
  readonly answer: (ok: boolean) => void;
  readonly result: Promise<string>;
}

const zero = (): TxnWindowStats => zeroEtcdStats(); // (the store's counters carry the window's)

function harness(max: number, targetMs = 250, behind?: () => boolean | undefined) {
  const stats = zero();
  const window = new TxnWindow({ max, targetMs, ...(behind === undefined ? {} : { behind }) }, stats);
  const sendOrder: number[] = [];
  let inFlightAtEtcd = 0;
  let peak = 0;
  /** Places taken at etcd when each transaction was sent, before it. */
  const takenAtSend: number[] = [];
  let placesAtEtcd = 0;
  const txn = (id: number, waitMs = 2000, weight = 1): Txn => {
    let answer: (ok: boolean) => void = () => {
      throw new Error(`transaction ${id} answered before it was sent`);
    };
    const t = { id, sent: false, answer: (ok: boolean) => answer(ok) } as { -readonly [K in keyof Txn]: Txn[K] };
    t.result = window.run(
      () =>
        new Promise<string>((resolve, reject) => {
          t.sent = true;
          sendOrder.push(id);
          takenAtSend.push(placesAtEtcd);
          inFlightAtEtcd++;
          placesAtEtcd += weight;
          peak = Math.max(peak, inFlightAtEtcd);
          answer = (ok) => {
            inFlightAtEtcd--;
            placesAtEtcd -= weight;
            if (ok) resolve(`answer ${id}`);
            else reject(new Error(`etcdserver: too many requests (${id})`));
          };
        }),
      waitMs,
      () => weight,
    );
    t.result.catch(() => undefined); // (each test awaits what it expects)
    return t;
  };
  return { window, stats, txn, sendOrder, takenAtSend, peak: () => peak };
}

describe('TxnWindow', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sends up to its size at once; the next waits and is sent, in arrival order, as places free', async () => {
    const h = harness(2);
    const txns = [1, 2, 3, 4].map((id) => h.txn(id));
    await vi.advanceTimersByTimeAsync(0);
    expect(h.sendOrder).toEqual([1, 2]);
    expect(h.window.waiting).toBe(2);
    expect(h.stats.txnsWaited).toBe(2);
    txns[1]?.answer(true);
    await vi.advanceTimersByTimeAsync(0);
    expect(h.sendOrder).toEqual([1, 2, 3]);
    txns[0]?.answer(true);
    await vi.advanceTimersByTimeAsync(0);
    expect(h.sendOrder).toEqual([1, 2, 3, 4]);
    txns[2]?.answer(true);
    txns[3]?.answer(true);
    expect(await Promise.all(txns.map((t) => t.result))).toEqual(['answer 1', 'answer 2', 'answer 3', 'answer 4']);
    expect(h.peak()).toBe(2);
  });

  it('a transaction takes a place per binding it carries: batches of 32 fill a window of 64, the next waits for one to be answered', async () => {
    // (What the window bounds is etcd's work to apply: a batch of 32 binds weighs what 32 binds alone would.)
    const h = harness(64, 100);
    const a = h.txn(1, 2000, 32);
    const b = h.txn(2, 2000, 32);
    const c = h.txn(3, 2000, 1);
    await vi.advanceTimersByTimeAsync(0);
    expect(h.sendOrder).toEqual([1, 2]);
    expect(h.window.inFlight).toBe(64);
    expect(h.window.waiting).toBe(1);
    a.answer(true);
    await vi.advanceTimersByTimeAsync(0);
    expect(h.sendOrder).toEqual([1, 2, 3]);
    expect(h.window.inFlight).toBe(33);
    // A batch goes while fewer places than the size are taken: it may overrun the window by its weight less one.
    const d = h.txn(4, 2000, 32);
    await vi.advanceTimersByTimeAsync(0);
    expect(h.window.inFlight).toBe(65);
    for (const t of [b, c, d]) t.answer(true);
    await Promise.all([a, b, c, d].map((t) => t.result));
    expect(h.window.inFlight).toBe(0);
    expect(h.takenAtSend).toEqual([0, 32, 32, 33]);
  });

  it('a quick answer grows the window by its places over the size; a slow batch halves it once, as a slow transaction does', async () => {
    const h = harness(256, 100);
    const slow = h.txn(1, 2000, 32);
    await vi.advanceTimersByTimeAsync(150);
    slow.answer(true);
    await vi.advanceTimersByTimeAsync(0);
    expect(h.window.size).toBe(128);
    expect(h.stats.txnWindowCuts).toBe(1);
    const quick = h.txn(2, 2000, 64);
    await vi.advanceTimersByTimeAsync(10);
    quick.answer(true);
    await vi.advanceTimersByTimeAsync(0);
    expect(h.window.size).toBe(128); // 128 + 64/128 = 128.5
    const again = h.txn(3, 2000, 128);
    await vi.advanceTimersByTimeAsync(10);
    again.answer(true);
    await vi.advanceTimersByTimeAsync(0);
    expect(h.window.size).toBe(129); // 128.5 + 128/128.5 = 129.5 (one transaction of one place would have made 128.51)
  });

  it('takes the weight once the transaction is sent (what a batch carries is settled as it goes), and a weight it cannot use as one place', async () => {
    const h = harness(64, 100);
    let carried = 1;
    const window = h.window;
    const held = window.run(
      () => {
        carried = 32; // (the batch fills up to the moment it goes)
        return new Promise<string>(() => undefined);
      },
      1000,
      () => carried,
    );
    held.catch(() => undefined);
    expect(window.inFlight).toBe(32);
    // NaN, Infinity, a throw: sent and counted all the same, as one place, and given back with the answer.
    const odd = [
      () => Number.NaN,
      () => Number.POSITIVE_INFINITY,
      () => -5,
      (): number => {
        throw new Error('weight');
      },
    ];
    const answers = odd.map((weight, i) => window.run(() => Promise.resolve(`odd ${i}`), 1000, weight));
    expect(window.inFlight).toBe(36);
    expect(await Promise.all(answers)).toEqual(['odd 0', 'odd 1', 'odd 2', 'odd 3']);
    await vi.advanceTimersByTimeAsync(0);
    expect(window.inFlight).toBe(32);
  });

  it('an answer slower than the target halves the window, once for the transactions sent before the cut, never below its floor', async () => {
    const h = harness(256, 100);
    const first = Array.from({ length: 256 }, (_, i) => h.txn(i));
    await vi.advanceTimersByTimeAsync(150);
    for (const t of first) t.answer(true); // all slow: one cut, not 256
    await vi.advanceTimersByTimeAsync(0);
    expect(h.window.size).toBe(128);
    expect(h.stats.txnWindowCuts).toBe(1);
    // Sent after the cut and slow too: halves again, down to the floor (a starved enroller reads its answers late too).
    for (const expected of [64, 32, 16, 8, 8, 8]) {
      const batch = Array.from({ length: h.window.size }, (_, i) => h.txn(100 + i));
      await vi.advanceTimersByTimeAsync(150);
      for (const t of batch) t.answer(true);
      await vi.advanceTimersByTimeAsync(0);
      expect(h.window.size).toBe(expected);
    }
    expect(TXN_WINDOW_FLOOR).toBe(8);
    expect(h.stats.txnWindowCuts).toBe(7); // (at the floor a cut is still counted)
    // A maximum below the floor: never below one, never above the maximum.
    const small = harness(2, 100);
    const slow = small.txn(1);
    await vi.advanceTimersByTimeAsync(150);
    slow.answer(true);
    await vi.advanceTimersByTimeAsync(0);
    expect(small.window.size).toBe(2);
  });

  it('quick answers grow the window back by about one per window of answers, up to its maximum', async () => {
    const h = harness(140, 100);
    const slow = h.txn(1);
    await vi.advanceTimersByTimeAsync(200);
    slow.answer(true);
    await vi.advanceTimersByTimeAsync(0);
    expect(h.window.size).toBe(70);
    const sizes: number[] = [];
    for (let i = 0; i < 300; i++) {
      const t = h.txn(10 + i, 2000, i < 100 ? 1 : 64); // (then batches, to reach the maximum in fewer answers)
      await vi.advanceTimersByTimeAsync(5);
      t.answer(true);
      await vi.advanceTimersByTimeAsync(0);
      sizes.push(h.window.size);
    }
    // +1/size per answer: 70 answers at 70 make 70.99, the 71st 71.00; then up to its maximum and no further.
    expect(sizes[68]).toBe(70);
    expect(sizes[70]).toBe(71);
    expect(sizes.at(-1)).toBe(140);
    expect(Math.max(...sizes)).toBe(140);
  });

  it('a transaction still waiting when its wait runs out fails with TxnNotSentError and is never sent', async () => {
    const h = harness(1);
    const a = h.txn(1, 2000);
    const b = h.txn(2, 500);
    await vi.advanceTimersByTimeAsync(499);
    expect(b.sent).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await expect(b.result).rejects.toThrow(TxnNotSentError);
    await expect(b.result).rejects.toThrow(/no place freed within 500 ms/);
    expect(h.stats.txnsTimedOutWaiting).toBe(1);
    a.answer(true);
    await vi.advanceTimersByTimeAsync(0);
    expect(b.sent).toBe(false);
    expect(h.window.inFlight).toBe(0);
    expect(h.window.waiting).toBe(0);
  });

  it('reject() fails every waiting transaction unsent; those in flight still end with their answers', async () => {
    const h = harness(1);
    const a = h.txn(1);
    const b = h.txn(2);
    const c = h.txn(3);
    await vi.advanceTimersByTimeAsync(0);
    h.window.reject('not sent: the store closed');
    await expect(b.result).rejects.toThrow('not sent: the store closed');
    await expect(c.result).rejects.toThrow(TxnNotSentError);
    a.answer(true);
    expect(await a.result).toBe('answer 1');
    expect(h.sendOrder).toEqual([1]);
    expect(vi.getTimerCount()).toBe(0); // (no wait timer left behind)
  });

  it('a failed transaction frees its place and counts as slow', async () => {
    const h = harness(128, 100);
    const txns = Array.from({ length: 129 }, (_, i) => h.txn(i));
    await vi.advanceTimersByTimeAsync(0);
    expect(h.window.waiting).toBe(1);
    txns[0]?.answer(false); // a quick refusal ("too many requests") is etcd overloaded all the same
    await expect(txns[0]?.result).rejects.toThrow(/too many requests/);
    await vi.advanceTimersByTimeAsync(0);
    expect(h.stats.txnWindowCuts).toBe(1);
    expect(h.window.size).toBe(64);
    for (const t of txns.slice(1, 64)) t.answer(true); // 127 in flight, then 64: still no room under 64
    await vi.advanceTimersByTimeAsync(0);
    expect(txns[128]?.sent).toBe(false);
    txns[64]?.answer(true); // 63 in flight: room
    await vi.advanceTimersByTimeAsync(0);
    expect(txns[128]?.sent).toBe(true);
    for (const t of txns.slice(65)) t.answer(true);
    await Promise.all(txns.slice(1).map((t) => t.result));
  });

  it('a slow answer while etcd says it keeps up with applying does not halve the window; while it is behind, or says nothing, it does', async () => {
    // (A late answer from a machine short of CPU, with etcd applying in time, is no reason to send less.)
    let verdict: boolean | undefined = false;
    let asked = 0;
    const h = harness(256, 100, () => {
      asked++;
      return verdict;
    });
    const slowly = async (id: number, ok = true) => {
      const t = h.txn(id);
      await vi.advanceTimersByTimeAsync(150);
      t.answer(ok);
      await vi.advanceTimersByTimeAsync(0);
    };
    await slowly(1);
    expect(h.window.size).toBe(256);
    expect(h.stats).toMatchObject({ txnWindowCuts: 0, txnsSlowEtcdNotBehind: 1 });
    await slowly(2, false); // a failure ("too many requests", a timeout) halves it whatever etcd's Status said
    expect(h.window.size).toBe(128);
    verdict = undefined; // no reading yet, or a stale one: as without the signal
    await slowly(3);
    expect(h.window.size).toBe(64);
    verdict = true;
    await slowly(4);
    // (Three cuts: a failure, a slow answer with no verdict, a slow answer while etcd was behind.)
    expect(h.stats).toMatchObject({ txnWindowCuts: 3, txnsSlowEtcdNotBehind: 1, txnWindowCutsFailed: 1, txnWindowCutsUnjudged: 1 });
    const quick = h.txn(5);
    await vi.advanceTimersByTimeAsync(50);
    quick.answer(true);
    await vi.advanceTimersByTimeAsync(0);
    expect(asked).toBe(3); // asked for slow answers only (not failures, not quick ones)
  });

  it('under any schedule of arrivals (of any weight), answers, failures and waits: none sent while its maximum is taken, sent in arrival order, each settled once', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.integer({ min: 1, max: 12 }), fc.integer({ min: TXN_WINDOW_FLOOR + 1, max: 160 })), // (below the floor: never cut)
        fc.array(
          fc.oneof(
            fc.record({
              kind: fc.constant('arrive' as const),
              waitMs: fc.integer({ min: 1, max: 400 }),
              weight: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 32 })),
            }),
            fc.record({ kind: fc.constant('answer' as const), pick: fc.nat(), ok: fc.boolean() }),
            fc.record({ kind: fc.constant('time' as const), ms: fc.integer({ min: 1, max: 300 }) }),
          ),
          { maxLength: 60 },
        ),
        async (max, steps) => {
          const h = harness(max, 100);
          const txns: Txn[] = [];
          const settled = new Map<number, 'ok' | 'failed' | 'not sent'>();
          for (const step of steps) {
            if (step.kind === 'arrive') {
              const t = h.txn(txns.length, step.waitMs, step.weight);
              t.result.then(
                () => settled.set(t.id, 'ok'),
                (err) => settled.set(t.id, err instanceof TxnNotSentError ? 'not sent' : 'failed'),
              );
              txns.push(t);
            } else if (step.kind === 'answer') {
              const open = txns.filter((t) => t.sent && !settled.has(t.id));
              const t = open[step.pick % Math.max(1, open.length)];
              t?.answer(step.ok);
            } else {
              await vi.advanceTimersByTimeAsync(step.ms);
            }
            await vi.advanceTimersByTimeAsync(0);
            expect(h.window.inFlight).toBeLessThanOrEqual(max - 1 + 32); // (a batch may overrun by its weight less one)
            expect(h.window.waiting === 0 || h.window.inFlight >= h.window.size).toBe(true); // (nobody waits while a place is free)
          }
          // Drain: answer everything sent, let every wait run out.
          for (let round = 0; round < txns.length + 2; round++) {
            for (const t of txns) if (t.sent && !settled.has(t.id)) t.answer(true);
            await vi.advanceTimersByTimeAsync(500);
          }
          for (const taken of h.takenAtSend) expect(taken).toBeLessThan(max); // (each sent while a place was free)
          expect(h.takenAtSend.length).toBe(txns.filter((t) => t.sent).length);
          expect(settled.size).toBe(txns.length);
          for (const t of txns) expect(settled.get(t.id) === 'not sent').toBe(!t.sent);
          expect([...h.sendOrder]).toEqual([...h.sendOrder].sort((a, b) => a - b));
          expect(h.window.inFlight).toBe(0);
          expect(h.window.waiting).toBe(0);
          expect(vi.getTimerCount()).toBe(0);
        },
      ),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 150), seed: Number(process.env.FUZZ_SEED ?? 1) },
    );
  });
});
