/**
 * The etcd store's binds in batches (src/etcd/binds.ts), against a scripted
 * send: a bind that finds a place goes alone and unchanged; binds that wait
 * share one transaction, each as a nested one, and each gets its own answer;
 * no transaction writes a key twice; a batch is capped in binds and bytes;
 * whatever goes wrong, every bind is answered.
 */
import type { IRequestOp, ITxnRequest } from 'etcd3';
import { describe, expect, it, vi } from 'vitest';
import { BIND_BYTES_PER_TXN, BINDS_PER_TXN, BindBatcher, bindRequest, placesOf } from '../../src/etcd/binds.js';
import { EtcdKeys } from '../../src/etcd/keys.js';
import type { TxnResponse } from '../../src/etcd/lease.js';
import { zeroEtcdStats } from '../../src/etcd/options.js';
import { TxnNotSentError, TxnWindow } from '../../src/etcd/txn-window.js';
import { ManualClock } from '../enroller/manual-clock.js';

const keys = new EtcdKeys('/rina/d/', () => 'e1');

/** A bind's own transaction, as the store makes it (`previous`: the address the name holds now, if any). */
function request(name: string, address: number, previous?: number): ITxnRequest {
  const held = previous === undefined ? undefined : { value: String(previous), createRevision: 5, modRevision: 5 };
  return bindRequest(keys, { address: () => undefined }, { name, address }, { held, holder: undefined }, '77');
}

/** A response to `req`: succeeded as `ok` says, at revision `revision`. */
const answer = (ok: boolean, revision = 9): TxnResponse =>
  ({ header: { revision: String(revision) }, succeeded: ok, responses: [] }) as unknown as TxnResponse;

/** An answer to `req` as etcd gives it with every bind bound: nested answers for a batch. */
const bound = (req: ITxnRequest): TxnResponse =>
  req.success?.[0]?.request_txn === undefined
    ? answer(true)
    : ({
        header: { revision: '9' },
        succeeded: true,
        responses: (req.success ?? []).map(() => ({ response_txn: { succeeded: true, responses: [] } })),
      } as unknown as TxnResponse);

/**
 * A window of `places` transactions in flight: the batcher's send, which
 * calls `request()` at once while there is a place, else when one is freed
 * (`free()`); each transaction sent is answered by `answerOf`.
 */
function window(places: number, answerOf: (req: ITxnRequest) => Promise<TxnResponse> | TxnResponse) {
  const sent: ITxnRequest[] = [];
  const waiting: Array<() => void> = [];
  let inFlight = 0;
  const send = async (req: () => ITxnRequest): Promise<TxnResponse> => {
    if (inFlight < places) inFlight++;
    else await new Promise<void>((r) => waiting.push(r));
    const r = req();
    sent.push(r);
    try {
      return await answerOf(r);
    } finally {
      inFlight--;
    }
  };
  const free = (): void => {
    const next = waiting.shift();
    if (next === undefined) return;
    inFlight++;
    next();
  };
  return { send, sent, free };
}

/** Every key a request puts or deletes, nested ones included. */
function written(ops: readonly IRequestOp[] | undefined, into: string[] = []): string[] {
  for (const op of ops ?? []) {
    const key = op.request_put?.key ?? op.request_delete_range?.key;
    if (key !== undefined) into.push(key.toString());
    written(op.request_txn?.success, into);
    written(op.request_txn?.failure, into);
  }
  return into;
}

const settle = () => new Promise((r) => setTimeout(r, 0));
/**
 * Each bind asked for in a turn of its own (the batcher's default gathers a turn's binds: see the tests of that
 * below): these tests are of the batches that form while the window is full.
 */
const eachInItsOwnTurn = (fn: () => void): void => fn();

/** How many binds a transaction sent carries: 1 alone, else its nested transactions. */
const bindsIn = (req: ITxnRequest): number => (req.success?.[0]?.request_txn === undefined ? 1 : (req.success ?? []).length);

describe('BindBatcher', () => {
  it('sends a bind that finds a place at once, alone, as its own transaction', async () => {
    const w = window(2, () => answer(true));
    const batcher = new BindBatcher(w.send, 60_000, () => Date.now(), eachInItsOwnTurn);
    const req = request('a', 1);
    const res = await batcher.txn(req, '77');
    expect(w.sent).toEqual([req]);
    expect(res.succeeded).toBe(true);
  });

  it('sends the binds that wait as one transaction of nested ones, each answered by its own', async () => {
    let release = (): void => undefined;
    const held = new Promise<void>((r) => {
      release = r;
    });
    const w = window(1, async (req) => {
      if (req.success?.[0]?.request_txn === undefined) {
        await held; // the first, alone: it holds the only place
        return answer(true, 10);
      }
      // The batch: the odd binds refused, the even ones bound.
      const responses = (req.success ?? []).map((_op, i) => ({
        response_txn: { succeeded: i % 2 === 0, responses: [{ response_range: { kvs: [], count: String(i) } }] },
      }));
      return { header: { revision: '11' }, succeeded: true, responses } as unknown as TxnResponse;
    });
    const batcher = new BindBatcher(w.send, 60_000, () => Date.now(), eachInItsOwnTurn);
    const first = batcher.txn(request('first', 1), '77');
    const reqs = Array.from({ length: 5 }, (_, i) => request(`m${i}`, 100 + i));
    const waiting = reqs.map((r) => batcher.txn(r, '77'));
    await settle();
    expect(w.sent).toHaveLength(1); // the others wait for the place
    release();
    await first;
    w.free();
    const results = await Promise.all(waiting);
    expect(w.sent).toHaveLength(2);
    const batch = w.sent[1] as ITxnRequest;
    expect(batch.compare).toEqual([]);
    expect(batch.success?.map((op) => op.request_txn)).toEqual(reqs);
    expect(results.map((r) => r.succeeded)).toEqual([true, false, true, false, true]);
    expect(results.map((r) => r.header.revision)).toEqual(['11', '11', '11', '11', '11']);
    expect(results[3]?.responses[0]?.response_range?.count).toBe('3');
  });

  it('never writes a key twice in one transaction: a bind that would starts the next batch', async () => {
    const w = window(1, bound);
    const batcher = new BindBatcher(w.send, 60_000, () => Date.now(), eachInItsOwnTurn);
    const all = [
      batcher.txn(request('first', 1), '77'), // alone, holding the place
      batcher.txn(request('a', 10), '77'), // waits: a batch
      batcher.txn(request('b', 11, 10), '77'), // deletes addresses/10 (b held it), which a writes: a new batch
      batcher.txn(request('a', 12), '77'), // joins b's: nothing of it is written there
      batcher.txn(request('c', 13), '77'),
    ];
    for (let i = 0; i < 3; i++) {
      await settle();
      w.free();
    }
    await Promise.all(all);
    const sizes = w.sent.map(bindsIn);
    expect(sizes).toEqual([1, 1, 3]);
    for (const req of w.sent) {
      const keysOf = written(req.success);
      expect(new Set(keysOf).size).toBe(keysOf.length);
    }
    expect(written(w.sent[2]?.success)).toContain('/rina/d/addresses/10'); // (b's nested delete: the overlap was real)
  });

  it(`holds at most ${BINDS_PER_TXN} binds and about ${BIND_BYTES_PER_TXN} bytes in one transaction`, async () => {
    const w = window(1, bound);
    const batcher = new BindBatcher(w.send, 60_000, () => Date.now(), eachInItsOwnTurn);
    const first = batcher.txn(request('first', 1), '77');
    const many = Array.from({ length: BINDS_PER_TXN + 3 }, (_, i) => batcher.txn(request(`m${i}`, 100 + i), '77'));
    const long = 'x'.repeat(30 * 1024); // a bind of this name weighs ~150 KiB: three fit in a batch, not four
    const large = Array.from({ length: 4 }, (_, i) => batcher.txn(request(`${long}${i}`, 500 + i), '77'));
    for (let i = 0; i < 6; i++) {
      await settle();
      w.free();
    }
    await Promise.all([first, ...many, ...large]);
    const sizes = w.sent.map(bindsIn);
    expect(sizes).toEqual([1, BINDS_PER_TXN, 6, 1]); // the last 3 short ones with 3 long ones; the 4th long one apart
  });

  it('rejects every bind of a batch etcd failed, and sends none of them again', async () => {
    const w = window(1, async (req) => {
      if (req.success?.[0]?.request_txn !== undefined) throw new Error('etcdserver: request timed out');
      return answer(true);
    });
    const batcher = new BindBatcher(w.send, 60_000, () => Date.now(), eachInItsOwnTurn);
    const first = batcher.txn(request('first', 1), '77');
    const waiting = [batcher.txn(request('a', 10), '77'), batcher.txn(request('b', 11), '77')];
    await settle();
    w.free();
    await first;
    const outcomes = await Promise.allSettled(waiting);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    expect(String((outcomes[0] as PromiseRejectedResult).reason)).toMatch(/timed out/);
    expect(w.sent).toHaveLength(2);
  });

  it('sends each bind of a batch alone when etcd refuses the batch for its size (lower limits than the defaults)', async () => {
    const w = window(1, async (req) => {
      if (req.success?.[0]?.request_txn !== undefined) throw new Error('etcdserver: too many operations in txn request');
      return answer(req.success?.[0]?.request_put?.key?.toString().endsWith('/b') !== true);
    });
    const batcher = new BindBatcher(w.send, 60_000, () => Date.now(), eachInItsOwnTurn);
    const first = batcher.txn(request('first', 1), '77');
    const waiting = [batcher.txn(request('a', 10), '77'), batcher.txn(request('b', 11), '77')];
    for (let i = 0; i < 4; i++) {
      await settle();
      w.free();
    }
    await first;
    const results = await Promise.all(waiting);
    expect(results.map((r) => r.succeeded)).toEqual([true, false]);
    expect(w.sent).toHaveLength(4); // first, the refused batch, a, b
  });

  it('rejects the binds whose wait for a place failed, and the next bind starts a new batch', async () => {
    let fail = true;
    const sent: ITxnRequest[] = [];
    const batcher = new BindBatcher(
      async (req) => {
        if (fail) throw new Error('etcd: no leader');
        sent.push(req());
        return answer(true);
      },
      60_000,
      () => Date.now(),
      eachInItsOwnTurn,
    );
    const outcomes = await Promise.allSettled([batcher.txn(request('a', 10), '77'), batcher.txn(request('b', 11), '77')]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    fail = false;
    const res = await batcher.txn(request('c', 12), '77');
    expect(res.succeeded).toBe(true);
    expect(sent).toEqual([request('c', 12)]);
  });

  it('never puts binds under two leases in one batch; a batch refused for its lease fails as each bind alone would', async () => {
    const w = window(1, (req) => {
      const batch = req.success?.[0]?.request_txn !== undefined;
      if (batch || req.success?.some((op) => op.request_put?.lease === 'L2')) throw new Error('etcdserver: requested lease not found');
      return answer(true);
    });
    const batcher = new BindBatcher(w.send, 60_000, () => Date.now(), eachInItsOwnTurn);
    const under = (name: string, address: number, lease: string) =>
      batcher.txn(bindRequest(keys, { address: () => undefined }, { name, address }, { held: undefined, holder: undefined }, lease), lease);
    const all = [under('first', 1, 'L1'), under('a', 10, 'L1'), under('b', 11, 'L2'), under('c', 12, 'L2')]; // b: not with a
    const settled = Promise.allSettled(all);
    for (let i = 0; i < 4; i++) {
      await settle();
      w.free();
    }
    const outcomes = await settled;
    expect(outcomes.map((o) => (o.status === 'fulfilled' ? o.value.succeeded : String(o.reason)))).toEqual([
      true,
      true,
      'Error: etcdserver: requested lease not found',
      'Error: etcdserver: requested lease not found',
    ]);
    // first; a alone (its batch had one bind); the batch of b and c, refused whole and not sent again.
    const sizes = w.sent.map(bindsIn);
    expect(sizes).toEqual([1, 1, 2]);
  });

  it("lets a bind that joined a batch wait its own time when the batch's wait runs out", async () => {
    const clock = new ManualClock();
    const window = new TxnWindow({ max: 1, targetMs: 10_000 }, zeroEtcdStats(), clock);
    let releaseFirst = (): void => undefined;
    const firstHeld = new Promise<TxnResponse>((r) => {
      releaseFirst = () => r(answer(true));
    });
    const sent: ITxnRequest[] = [];
    const batcher = new BindBatcher(
      (req, waitMs) =>
        window.run(() => {
          const r = req();
          sent.push(r);
          return sent.length === 1 ? firstHeld : Promise.resolve(answer(true));
        }, waitMs),
      300,
      () => clock.now(),
      eachInItsOwnTurn,
    );
    const first = batcher.txn(request('first', 1), '77');
    const a = batcher.txn(request('a', 10), '77'); // waits from t=0: until 300
    clock.advance(250);
    const c = batcher.txn(request('c', 12), '77'); // joins a's batch at t=250: may wait until 550
    const outcomeA = a.then(
      () => 'sent',
      (err: unknown) => (err instanceof TxnNotSentError ? 'not sent' : String(err)),
    );
    clock.advance(60); // t=310: a's wait ran out
    await settle();
    expect(await outcomeA).toBe('not sent');
    clock.advance(90); // t=400: the first is answered, and the place goes to c
    releaseFirst();
    await first;
    expect((await c).succeeded).toBe(true);
    expect(sent.map((r) => r.success?.[0]?.request_put?.key?.toString())).toEqual(['/rina/d/names/first', '/rina/d/names/c']);
  });

  it("never lets a bind put back after its batch's wait ran out join a batch that would wait longer than it may", async () => {
    const clock = new ManualClock();
    const window = new TxnWindow({ max: 1, targetMs: 10_000 }, zeroEtcdStats(), clock);
    const batcher = new BindBatcher(
      (req, waitMs) =>
        window.run(() => {
          req();
          return new Promise<TxnResponse>(() => undefined); // the first holds the place for ever
        }, waitMs),
      300,
      () => clock.now(),
      eachInItsOwnTurn,
    );
    void batcher.txn(request('first', 1), '77');
    const outcomes: Record<string, string> = {};
    const track = (name: string, p: Promise<TxnResponse>) =>
      p.then(
        () => {
          outcomes[name] = 'sent';
        },
        (err: unknown) => {
          outcomes[name] = err instanceof TxnNotSentError ? 'not sent' : String(err);
        },
      );
    track('a', batcher.txn(request('a', 10), '77')); // batch A: may wait until 1300
    clock.advance(250);
    track('c', batcher.txn(request('c', 12), '77')); // joins A: may wait until 1550
    clock.advance(10);
    track('d', batcher.txn(request('a', 13), '77')); // a's keys: batch D, may wait until 1560
    clock.advance(45); // 1305: A's wait ran out; a gives up, and c waits on, not in D
    await settle();
    expect(outcomes).toEqual({ a: 'not sent' });
    clock.advance(250); // 1555: c's own time is up, d's not
    await settle();
    expect(outcomes).toEqual({ a: 'not sent', c: 'not sent' });
    clock.advance(10);
    await settle();
    expect(outcomes).toEqual({ a: 'not sent', c: 'not sent', d: 'not sent' });
  });

  it('keeps later batches smaller once etcd refused one for its size, each of the refused batch answered alone', async () => {
    const limit = 2; // binds per transaction this etcd takes
    const w = window(1, (req) => {
      if (bindsIn(req) > limit) throw new Error('etcdserver: too many operations in txn request');
      return bound(req);
    });
    const batcher = new BindBatcher(w.send, 60_000, () => Date.now(), eachInItsOwnTurn);
    const drain = async (all: Array<Promise<TxnResponse>>) => {
      for (let i = 0; i < 12; i++) {
        await settle();
        w.free();
      }
      return Promise.all(all);
    };
    const sizes = () => w.sent.map(bindsIn);
    await drain([batcher.txn(request('first', 1), '77'), ...[0, 1, 2, 3].map((i) => batcher.txn(request(`m${i}`, 10 + i), '77'))]);
    expect(sizes()).toEqual([1, 4, 1, 1, 1, 1]); // refused, then each alone
    w.sent.length = 0;
    await drain([batcher.txn(request('second', 2), '77'), ...[4, 5, 6, 7].map((i) => batcher.txn(request(`m${i}`, 10 + i), '77'))]);
    expect(sizes()).toEqual([1, 2, 2]); // at most half the refused batch since
  });
});

describe('BindBatcher: the binds of one event-loop turn', () => {
  const nested = (req: ITxnRequest): ITxnRequest[] => (req.success ?? []).map((op) => op.request_txn as ITxnRequest);

  it('sends the binds asked for in one turn as one transaction once the turn is done, with places free', async () => {
    const w = window(8, bound);
    const batcher = new BindBatcher(w.send, 60_000, () => Date.now());
    const reqs = Array.from({ length: 5 }, (_, i) => request(`m${i}`, 100 + i));
    const answers = reqs.map((r) => batcher.txn(r, '77'));
    expect(w.sent).toHaveLength(0); // (not within the turn)
    const results = await Promise.all(answers);
    expect(w.sent).toHaveLength(1);
    expect(nested(w.sent[0] as ITxnRequest)).toEqual(reqs);
    expect(results.every((r) => r.succeeded)).toBe(true);
  });

  it('sends a bind with none beside it in its turn alone, as its own transaction; binds of two turns go apart', async () => {
    const w = window(8, bound);
    const batcher = new BindBatcher(w.send, 60_000, () => Date.now());
    const a = request('a', 1);
    await batcher.txn(a, '77');
    const b = request('b', 2);
    const c = request('c', 3);
    const first = batcher.txn(b, '77');
    await new Promise((r) => setImmediate(r)); // the turn ends: b goes
    const second = batcher.txn(c, '77');
    await Promise.all([first, second]);
    expect(w.sent).toEqual([a, b, c]);
  });

  it("goes at the turn's end under fake timers that replace the global setImmediate too (the user's tests)", async () => {
    vi.useFakeTimers(); // (vitest's default fakes setImmediate as well)
    try {
      const w = window(8, bound);
      const batcher = new BindBatcher(w.send, 60_000, () => 0);
      const res = await batcher.txn(request('a', 1), '77'); // (held by the fake clock, it would never be answered)
      expect(res.succeeded).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });

  it('answers every bind of a batch whose send throws with its error', async () => {
    const batcher = new BindBatcher(
      () => {
        throw new Error('cannot send');
      },
      60_000,
      () => Date.now(),
    );
    const outcomes = await Promise.allSettled([batcher.txn(request('a', 1), '77'), batcher.txn(request('b', 2), '77')]);
    expect(outcomes.map((o) => (o.status === 'rejected' ? String(o.reason.message) : o.status))).toEqual(['cannot send', 'cannot send']);
  });

  it("flush() sends the turn's binds at once, so a transaction asked for after them goes after them", async () => {
    const w = window(8, bound);
    const batcher = new BindBatcher(w.send, 60_000, () => Date.now());
    const reqs = [request('a', 1), request('b', 2)];
    const binds = reqs.map((r) => batcher.txn(r, '77'));
    batcher.flush();
    const other: ITxnRequest = { compare: [], success: [{ request_delete_range: { key: Buffer.from('x') } }], failure: [] };
    const release = w.send(() => other);
    await Promise.all([...binds, release]);
    expect(w.sent).toHaveLength(2);
    expect(nested(w.sent[0] as ITxnRequest)).toEqual(reqs);
    expect(w.sent[1]).toBe(other);
  });

  it("sends a turn's batch that a bind cannot join before that bind's own", async () => {
    const w = window(8, bound);
    const batcher = new BindBatcher(w.send, 60_000, () => Date.now());
    const binds = [
      batcher.txn(request('a', 10), '77'),
      batcher.txn(request('b', 11), '77'),
      batcher.txn(request('c', 12), '78'), // another lease: a batch of its own, after a and b's
      batcher.txn(request('d', 13), '78'),
    ];
    await Promise.all(binds);
    expect(w.sent.map((r) => nested(r).map((n) => String(n.success?.[0]?.request_put?.key)))).toEqual([
      [keys.name('a'), keys.name('b')],
      [keys.name('c'), keys.name('d')],
    ]);
  });
});

describe('placesOf: what a transaction weighs in the window', () => {
  it('a batch of binds, confirms or leaves takes a place per binding; a bind alone, and any other transaction, one', () => {
    const batch = {
      compare: [],
      success: [request('a', 1), request('b', 2), request('c', 3)].map((r) => ({ request_txn: r })),
      failure: [],
    };
    expect(placesOf('binds', batch)).toBe(3);
    expect(placesOf('binds', request('a', 1, 7))).toBe(1); // (its own compares, and three or four writes: still one bind)
    const mark = (name: string): IRequestOp => ({
      request_put: { key: Buffer.from(keys.mark(name)), value: Buffer.alloc(0), lease: '77' },
    });
    expect(placesOf('confirms', { compare: [], success: ['a', 'b', 'c', 'd'].map(mark), failure: [] })).toBe(4);
    const leave = (name: string): IRequestOp => ({ request_delete_range: { key: Buffer.from(keys.mark(name)) } });
    expect(placesOf('leaves', { compare: [], success: ['a', 'b', 'c'].map(leave), failure: [] })).toBe(3);
    expect(placesOf('releases', { compare: [], success: [mark('a'), mark('b')], failure: [] })).toBe(1);
    expect(placesOf('binds', { compare: [], success: [], failure: [] })).toBe(1); // (never less than one)
  });
});
