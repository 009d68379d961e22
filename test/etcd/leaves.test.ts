/**
 * The etcd store's leaves (src/etcd/leaves.ts): a leave etcd did not answer
 * is tried again, less and less often while etcd keeps failing, in shared
 * transactions, never for a name served again, never deleting a mark written
 * since; and nothing is tried once the store closes.
 */
import type { ITxnRequest } from 'etcd3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EtcdKeys } from '../../src/etcd/keys.js';
import type { TxnResponse } from '../../src/etcd/lease.js';
import { FIRST_LEAVE_RETRY_MS, Leaves, LEAVES_PER_TXN, MAX_LEAVE_RETRY_MS } from '../../src/etcd/leaves.js';
import { ServedNames } from '../../src/etcd/served.js';

const PREFIX = '/p/';

/** Leaves on a scripted etcd: `answer` says what each transaction gets (default: done). */
function leavesOf(answer: (request: ITxnRequest) => 'done' | 'refused' | 'unavailable' = () => 'done') {
  const txns: Array<{ at: number; request: ITxnRequest }> = [];
  const served = new ServedNames();
  let closed = false;
  const leaves = new Leaves({
    keys: new EtcdKeys(PREFIX, () => 'e1'),
    served,
    markAt: (name) => served.written(name) ?? 1, // (every name has a mark of ours, written at 1 unless said)
    closed: () => closed,
    txn: async (_what, request) => {
      txns.push({ at: Date.now(), request });
      const a = answer(request);
      if (a === 'unavailable') throw new Error('unavailable');
      return { succeeded: a === 'done', header: { revision: '9' }, responses: [] } as unknown as TxnResponse;
    },
  });
  return { leaves, txns, served, close: () => (closed = true) };
}

const deleted = (r: ITxnRequest) =>
  (r.success ?? []).map((op) => String(op.request_delete_range?.key).slice(PREFIX.length + 'members/'.length, -3));

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('Leaves', () => {
  it('tries a failed leave again a second later, then twice as long after each failed round, at most 30 s apart; a round that works starts again at a second', async () => {
    let failing = true;
    const { leaves, txns } = leavesOf(() => (failing ? 'unavailable' : 'done'));
    const t0 = Date.now();
    await expect(leaves.leave('m')).rejects.toThrow('unavailable');
    await vi.advanceTimersByTimeAsync(200_000);
    const waits = txns.slice(1).map((t, i) => t.at - (txns[i]?.at ?? t0));
    expect(waits.slice(0, 7)).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
    expect(Math.max(...waits)).toBe(MAX_LEAVE_RETRY_MS);
    failing = false;
    await vi.advanceTimersByTimeAsync(MAX_LEAVE_RETRY_MS);
    const done = txns.length;
    await vi.advanceTimersByTimeAsync(MAX_LEAVE_RETRY_MS * 3);
    expect(txns).toHaveLength(done); // left: nothing more
    failing = true;
    await expect(leaves.leave('n')).rejects.toThrow('unavailable');
    const again = Date.now();
    await vi.advanceTimersByTimeAsync(FIRST_LEAVE_RETRY_MS);
    expect(txns.at(-1)?.at).toBe(again + FIRST_LEAVE_RETRY_MS);
    leaves.stop();
  });

  it(`sends a round's names ${LEAVES_PER_TXN} to a transaction, and not a name served again`, async () => {
    let failing = true;
    const { leaves, txns, served } = leavesOf(() => (failing ? 'unavailable' : 'done'));
    const names = Array.from({ length: 150 }, (_, i) => `m${i}`);
    await Promise.allSettled(names.map((n) => leaves.leave(n)));
    served.take('m7'); // enrolled here again
    failing = false;
    const before = txns.length;
    await vi.advanceTimersByTimeAsync(FIRST_LEAVE_RETRY_MS);
    const round = txns.slice(before).map((t) => deleted(t.request));
    expect(round.map((r) => r.length)).toEqual([63, 64, 22]); // (m7 left out of the first as it is built)
    expect(round.flat().sort()).toEqual(names.filter((n) => n !== 'm7').sort());
  });

  it('a round refused (a mark written again since) deletes the others one by one, and never the one written again', async () => {
    const { leaves, txns, served } = leavesOf((r) => {
      const rewritten = (r.compare ?? []).some((c) => String(c.key).includes('/b/') && c.mod_revision === 5);
      return txns.length <= 3 ? 'unavailable' : rewritten ? 'refused' : 'done';
    });
    served.wrote('b', 5); // (b's mark was written again at 6: the compare at 5 fails)
    await Promise.allSettled(['a', 'b', 'c'].map((n) => leaves.leave(n)));
    await vi.advanceTimersByTimeAsync(FIRST_LEAVE_RETRY_MS);
    const after = txns.slice(3).map((t) => deleted(t.request));
    expect(after).toEqual([['a', 'b', 'c'], ['a'], ['b'], ['c']]);
    expect(served.written('b')).toBe(5); // not deleted: b's mark stays
    await vi.advanceTimersByTimeAsync(MAX_LEAVE_RETRY_MS * 2);
    expect(txns).toHaveLength(7); // a refusal is an answer: nothing is tried again
  });

  it('tries nothing once the store is closed', async () => {
    const { leaves, txns, close } = leavesOf(() => 'unavailable');
    await expect(leaves.leave('m')).rejects.toThrow();
    close();
    leaves.stop();
    await vi.advanceTimersByTimeAsync(MAX_LEAVE_RETRY_MS * 2);
    expect(txns).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(0);
  });
});

/**
 * Leaves over a small model of etcd's marks (a compare on the mod revision;
 * an absent key has revision 0), and the store's bind as it touches them.
 * Found by a review: a round chose its names once, at its start, and read
 * the revisions again for each later transaction, so a name bound again
 * meanwhile had its fresh mark deleted while this enroller served it.
 */
function world() {
  const keys = new EtcdKeys(PREFIX, () => 'e1');
  const marks = new Map<string, number>();
  let revision = 100;
  const served = new ServedNames();
  let failing = true;
  let during: (() => void) | undefined; // what commits while the next transaction is in flight
  const leaves = new Leaves({
    keys,
    served,
    markAt: (name) => served.written(name),
    closed: () => false,
    txn: async (_what, request: ITxnRequest) => {
      await Promise.resolve();
      const d = during;
      during = undefined;
      d?.();
      if (failing) throw new Error('deadline exceeded');
      const ok = (request.compare ?? []).every((c) => (marks.get(String(c.key)) ?? 0) === Number(c.mod_revision));
      revision++;
      if (ok) for (const op of request.success ?? []) marks.delete(String(op.request_delete_range?.key));
      return { succeeded: ok, header: { revision: String(revision) }, responses: [] } as unknown as TxnResponse;
    },
  });
  /** What EtcdAddressStore.bind does for `name`: served at once, the mark written, its revision kept. */
  const bind = (name: string) => {
    served.take(name);
    revision++;
    marks.set(keys.mark(name), revision);
    served.wrote(name, revision);
  };
  /** What EtcdAddressStore.leave does: not served, then the leave. */
  const leave = (name: string) => {
    served.forget(name);
    return leaves.leave(name);
  };
  return { keys, marks, served, bind, leave, heal: () => (failing = false), during: (f: () => void) => (during = f) };
}

describe('Leaves and a new enrollment of the same name', () => {
  it('a name bound again while an earlier transaction of the round is in flight keeps its fresh mark', async () => {
    const w = world();
    const names = Array.from({ length: 70 }, (_, i) => `m${i}`);
    for (const n of names) w.bind(n);
    await Promise.allSettled(names.map((n) => w.leave(n))); // etcd overloaded: every leave times out
    w.heal();
    w.during(() => w.bind('m65')); // the round sends m0..m63 first; meanwhile m65 enrols here again
    await vi.advanceTimersByTimeAsync(FIRST_LEAVE_RETRY_MS);
    expect(w.marks.has(w.keys.mark('m65'))).toBe(true); // the served member's mark
    expect([...w.marks.keys()]).toEqual([w.keys.mark('m65')]); // the others' marks deleted
  });

  it("a refused round's one-by-one deletes keep the fresh mark of a name bound again meanwhile", async () => {
    const w = world();
    for (const n of ['a', 'b']) w.bind(n);
    await Promise.allSettled(['a', 'b'].map((n) => w.leave(n)));
    w.marks.delete(w.keys.mark('b')); // b's leave timed out at the client but committed: the round's compare on it fails
    w.heal();
    w.during(() => w.bind('a')); // while the round [a, b] is in flight, a enrols here again
    await vi.advanceTimersByTimeAsync(FIRST_LEAVE_RETRY_MS);
    expect(w.marks.has(w.keys.mark('a'))).toBe(true);
  });

  it('a store closed and opened again while a round is in flight tries none of the earlier opening’s leaves', async () => {
    let closed = false;
    const txns: ITxnRequest[] = [];
    let timeOut: (() => void) | undefined;
    const leaves = new Leaves({
      keys: new EtcdKeys(PREFIX, () => 'e1'),
      served: new ServedNames(),
      markAt: () => 1,
      closed: () => closed,
      txn: (_what, request) => {
        txns.push(request);
        if (txns.length === 1) return Promise.reject(new Error('deadline exceeded'));
        return new Promise<TxnResponse>((_, reject) => {
          timeOut = () => reject(new Error('deadline exceeded'));
        });
      },
    });
    await expect(leaves.leave('old')).rejects.toThrow();
    await vi.advanceTimersByTimeAsync(FIRST_LEAVE_RETRY_MS); // the round's transaction is in flight
    expect(txns).toHaveLength(2);
    closed = true; // EtcdAddressStore.close(): its lease's revocation deletes every mark
    leaves.stop();
    closed = false; // ... and open() again
    timeOut?.(); // the earlier round's transaction times out now
    await vi.advanceTimersByTimeAsync(MAX_LEAVE_RETRY_MS * 4);
    expect(txns).toHaveLength(2);
    expect(vi.getTimerCount()).toBe(0);
  });
});
