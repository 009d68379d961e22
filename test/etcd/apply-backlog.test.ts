import type { Etcd3 } from 'etcd3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  APPLY_BACKLOG_POLL_MS,
  ApplyBacklog,
  type ApplyBacklogStats,
  type RaftProgress,
  raftProgress,
  SLOWEST_APPLY_PER_SEC,
  VERDICT_LIFE_POLLS,
} from '../../src/etcd/apply-backlog.js';

/** An ApplyBacklog whose readings the test answers by hand, judging against a 500 ms target, one reading per 500 ms. */
function harness() {
  const stats: ApplyBacklogStats = { applyBacklogReadings: 0, applyBacklogMax: 0 };
  const pending: { resolve: (p: RaftProgress) => void; reject: (e: Error) => void }[] = [];
  const backlog = new ApplyBacklog(
    () => new Promise<RaftProgress>((resolve, reject) => pending.push({ resolve, reject })),
    { targetMs: 500, pollMs: 500 },
    stats,
  );
  /** Answers the reading asked for first, as `member`. */
  const answer = async (committed: number, applied: number, member = 'a') => {
    pending.shift()?.resolve({ member, committed: BigInt(committed), applied: BigInt(applied) });
    await vi.advanceTimersByTimeAsync(0);
  };
  /** A second later, asks for a reading and answers it at once. */
  const next = async (committed: number, applied: number, member = 'a') => {
    await vi.advanceTimersByTimeAsync(1000);
    backlog.behind();
    await answer(committed, applied, member);
  };
  return { backlog, stats, pending, answer, next };
}

/** 105: what etcd applies in half of the 500 ms target at the slowest rate measured. */
const SMALL = (SLOWEST_APPLY_PER_SEC * 500) / 2000;

describe('ApplyBacklog: whether etcd applies what it commits in time', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('says nothing before a reading, then judges by the backlog and the rate applied between two readings of a member', async () => {
    const h = harness();
    expect(h.backlog.behind()).toBeUndefined(); // asks for a first reading
    expect(h.pending).toHaveLength(1);
    await h.answer(1_000, 1_000 - SMALL - 1);
    expect(h.backlog.behind()).toBe(true); // no rate yet, and more than the slowest rate applies in half the target
    expect(h.pending).toHaveLength(0); // (none asked within 500 ms)
    await h.next(3_000, 2_900); // 2,000 applied in 1 s: 100 behind is 50 ms of work
    expect(h.backlog.behind()).toBe(false);
    await h.next(6_000, 3_900); // 1,000 applied in 1 s: 2,100 behind is 2.1 s of work
    expect(h.backlog.behind()).toBe(true);
    expect(h.stats).toEqual({ applyBacklogReadings: 3, applyBacklogMax: 2_100 });
    await h.next(6_100, 3_900); // nothing applied in 1 s with entries waiting
    expect(h.backlog.behind()).toBe(true);
    await h.next(7_000, 7_000); // caught up
    expect(h.backlog.behind()).toBe(false);
  });

  it(`before a rate, at most ${SMALL} entries (half the target at the slowest rate measured) is not behind; with one, the rate judges even a small backlog`, async () => {
    const h = harness();
    h.backlog.behind();
    await h.answer(5_000, 5_000 - SMALL);
    expect(h.backlog.behind()).toBe(false);
    await h.next(5_074, 5_010); // 10 applied in a second: 64 waiting is 6.4 s of work
    expect(h.backlog.behind()).toBe(true);
  });

  it('judges each member by its own readings: no rate across members, and behind if any member read lately is', async () => {
    // (The client picks a member per call. A follower applies at another point of the log than the leader, and learns
    // of commits later: a rate from a follower's reading to the leader's would be no rate at all.)
    const h = harness();
    h.backlog.behind();
    await h.answer(15_010, 15_000, 'follower');
    expect(h.backlog.behind()).toBe(false);
    await vi.advanceTimersByTimeAsync(250);
    expect(h.backlog.behind()).toBe(false); // (asks nothing: 250 ms since the last)
    await vi.advanceTimersByTimeAsync(250);
    h.backlog.behind();
    await h.answer(20_250, 17_250, 'leader'); // 3,000 behind; its first reading, so no rate of its own
    expect(h.backlog.behind()).toBe(true); // not 2,250 "applied" in 500 ms from the follower's reading (a verdict of false)
    await vi.advanceTimersByTimeAsync(3_600); // the follower's verdict is older than VERDICT_LIFE_POLLS pollMs (4 s here): gone; the leader's stays
    expect(h.backlog.behind()).toBe(true);
    await vi.advanceTimersByTimeAsync(500);
    expect(h.backlog.behind()).toBeUndefined(); // every verdict too old
  });

  it('takes the rate over the longest span two answers can be apart: answers read late by a busy process err towards behind', async () => {
    const h = harness();
    h.backlog.behind(); // asked at 0 ...
    await vi.advanceTimersByTimeAsync(1000);
    await h.answer(10_000, 9_000); // ... read at 1 s (a starved event loop)
    h.backlog.behind(); // asked at once
    await vi.advanceTimersByTimeAsync(5);
    await h.answer(11_000, 10_000); // 1,000 applied since the first was asked (1,005 ms), not in 5 ms: 1,000 behind is ~1 s
    expect(h.backlog.behind()).toBe(true);
  });

  it(`one reading at a time, at most one per pollMs (${APPLY_BACKLOG_POLL_MS} ms by default); a verdict older than ${VERDICT_LIFE_POLLS} pollMs is none`, async () => {
    const h = harness();
    for (let i = 0; i < 10; i++) h.backlog.behind();
    expect(h.pending).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(2000); // the reading is slow: still one
    h.backlog.behind();
    expect(h.pending).toHaveLength(1);
    await h.answer(10, 10);
    expect(h.backlog.behind()).toBe(false); // (and asks again: the last was asked for 2 s ago)
    expect(h.pending).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(3_999); // that reading has not come (a process short of CPU reads late): the verdict stands
    expect(h.backlog.behind()).toBe(false);
    await vi.advanceTimersByTimeAsync(2); // it never came: the verdict is too old to count
    expect(h.backlog.behind()).toBeUndefined();
    expect(h.stats.applyBacklogReadings).toBe(2);
    let reads = 0;
    const byDefault = new ApplyBacklog(
      async () => {
        reads++;
        return { member: 'a', committed: 1n, applied: 1n };
      },
      { targetMs: 500 },
      { applyBacklogReadings: 0, applyBacklogMax: 0 },
    );
    for (let t = 0; t < 1000; t += 10) {
      byDefault.behind();
      await vi.advanceTimersByTimeAsync(10);
    }
    expect(reads).toBe(1000 / APPLY_BACKLOG_POLL_MS);
  });

  it('no verdict from a failed reading, a read that throws, or etcd < 3.4 (no applied index)', async () => {
    const h = harness();
    h.backlog.behind();
    h.pending.shift()?.reject(new Error('etcdserver: request timed out'));
    await vi.advanceTimersByTimeAsync(0);
    expect(h.backlog.behind()).toBeUndefined();
    await vi.advanceTimersByTimeAsync(600);
    h.backlog.behind();
    await h.answer(5_000, 0); // etcd < 3.4 reads 0
    expect(h.backlog.behind()).toBeUndefined();
    expect(h.stats.applyBacklogMax).toBe(0);
    const throwing = new ApplyBacklog(
      () => {
        throw new Error('the store is closed');
      },
      { targetMs: 500, pollMs: 500 },
      { applyBacklogReadings: 0, applyBacklogMax: 0 },
    );
    expect(throwing.behind()).toBeUndefined();
    await vi.advanceTimersByTimeAsync(0);
    expect(throwing.behind()).toBeUndefined();
  });

  it("reads a Status's uint64 indices exactly (as bigint), the answering member, and 0 for a missing or malformed index", async () => {
    const client = (status: object) => ({ maintenance: { status: async () => status } }) as unknown as Etcd3;
    const huge = await raftProgress(
      client({ header: { member_id: '11' }, raftIndex: '18446744073709551615', raftAppliedIndex: '18446744073709550616' }),
      { deadline: 0 },
    );
    expect(huge).toEqual({ member: '11', committed: 18446744073709551615n, applied: 18446744073709550616n });
    expect(huge.committed - huge.applied).toBe(999n); // (as numbers, both round to one value: 0)
    expect(await raftProgress(client({ raftIndex: '12', raftAppliedIndex: 'x' }), { deadline: 0 })).toEqual({
      member: '',
      committed: 12n,
      applied: 0n,
    });
  });
});
