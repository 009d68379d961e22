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

const PREFIX = '/p/';

/** Leaves on a scripted etcd: `answer` says what each transaction gets (default: done). */
function leavesOf(answer: (request: ITxnRequest) => 'done' | 'refused' | 'unavailable' = () => 'done') {
  const txns: Array<{ at: number; request: ITxnRequest }> = [];
  const served = new Set<string>();
  const markRevision = new Map<string, number>();
  let closed = false;
  const leaves = new Leaves({
    keys: new EtcdKeys(PREFIX, () => 'e1'),
    served,
    markRevision,
    closed: () => closed,
    txn: async (_what, request) => {
      txns.push({ at: Date.now(), request });
      const a = answer(request);
      if (a === 'unavailable') throw new Error('unavailable');
      return { succeeded: a === 'done', header: { revision: '9' }, responses: [] } as unknown as TxnResponse;
    },
  });
  return { leaves, txns, served, markRevision, close: () => (closed = true) };
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
    served.add('m7'); // enrolled here again
    failing = false;
    const before = txns.length;
    await vi.advanceTimersByTimeAsync(FIRST_LEAVE_RETRY_MS);
    const round = txns.slice(before).map((t) => deleted(t.request));
    expect(round.map((r) => r.length)).toEqual([64, 64, 21]);
    expect(round.flat().sort()).toEqual(names.filter((n) => n !== 'm7').sort());
  });

  it('a round refused (a mark written again since) deletes the others one by one, and never the one written again', async () => {
    const { leaves, txns, markRevision } = leavesOf((r) => {
      const rewritten = (r.compare ?? []).some((c) => String(c.key).includes('/b/') && c.mod_revision === 5);
      return txns.length <= 3 ? 'unavailable' : rewritten ? 'refused' : 'done';
    });
    markRevision.set('b', 5); // (b's mark was written again at 6: the compare at 5 fails)
    await Promise.allSettled(['a', 'b', 'c'].map((n) => leaves.leave(n)));
    await vi.advanceTimersByTimeAsync(FIRST_LEAVE_RETRY_MS);
    const after = txns.slice(3).map((t) => deleted(t.request));
    expect(after).toEqual([['a', 'b', 'c'], ['a'], ['b'], ['c']]);
    expect(markRevision.get('b')).toBe(5); // not deleted: b's mark stays
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
