import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  APPLY_BACKLOG_POLL_MS,
  ApplyBacklog,
  type ApplyBacklogStats,
  type RaftProgress,
  SMALL_BACKLOG,
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
  /** Answers the reading asked for last. */
  const answer = async (committed: number, applied: number) => {
    pending.shift()?.resolve({ committed, applied });
    await vi.advanceTimersByTimeAsync(0);
  };
  return { backlog, stats, pending, answer };
}

describe('ApplyBacklog: whether etcd applies what it commits in time', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('says nothing before a reading, then judges by the backlog and the rate applied between two readings', async () => {
    const h = harness();
    expect(h.backlog.behind()).toBeUndefined(); // asks for a first reading
    expect(h.pending).toHaveLength(1);
    await h.answer(1_000, 900);
    expect(h.backlog.behind()).toBeUndefined(); // 100 behind, but at what rate? (no second reading yet: none asked within 500 ms)
    expect(h.pending).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1000);
    h.backlog.behind();
    await h.answer(3_000, 2_900); // 2,000 applied in 1 s: 100 behind is 50 ms of work
    expect(h.backlog.behind()).toBe(false);
    await vi.advanceTimersByTimeAsync(1000);
    h.backlog.behind();
    await h.answer(6_000, 3_900); // 1,000 applied in 1 s: 2,100 behind is 2.1 s of work
    expect(h.backlog.behind()).toBe(true);
    expect(h.stats).toEqual({ applyBacklogReadings: 3, applyBacklogMax: 2_100 });
    await vi.advanceTimersByTimeAsync(1000);
    h.backlog.behind();
    await h.answer(6_100, 3_900); // nothing applied in 1 s with entries waiting: behind
    expect(h.backlog.behind()).toBe(true);
    await vi.advanceTimersByTimeAsync(1000);
    h.backlog.behind();
    await h.answer(7_000, 7_000); // caught up
    expect(h.backlog.behind()).toBe(false);
  });

  it(`a backlog of at most ${SMALL_BACKLOG} entries is not "behind", even from a first reading (no rate yet)`, async () => {
    const h = harness();
    h.backlog.behind();
    await h.answer(5_000, 5_000 - SMALL_BACKLOG);
    expect(h.backlog.behind()).toBe(false);
    const other = harness();
    other.backlog.behind();
    await other.answer(5_000, 5_000 - SMALL_BACKLOG - 1);
    expect(other.backlog.behind()).toBeUndefined();
  });

  it(`reads at most once per ${APPLY_BACKLOG_POLL_MS} ms by default`, async () => {
    let reads = 0;
    const backlog = new ApplyBacklog(
      async () => {
        reads++;
        return { committed: 1, applied: 1 };
      },
      { targetMs: 500 },
      { applyBacklogReadings: 0, applyBacklogMax: 0 },
    );
    for (let t = 0; t < 1000; t += 10) {
      backlog.behind();
      await vi.advanceTimersByTimeAsync(10);
    }
    expect(reads).toBe(1000 / APPLY_BACKLOG_POLL_MS);
  });

  it('one reading at a time, at most one per pollMs; a verdict older than twice pollMs is none', async () => {
    const h = harness();
    for (let i = 0; i < 10; i++) h.backlog.behind();
    expect(h.pending).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(2000); // the reading is slow: still one
    h.backlog.behind();
    expect(h.pending).toHaveLength(1);
    await h.answer(10, 10);
    expect(h.backlog.behind()).toBe(false); // (and asks again: the last was asked for 2 s ago)
    expect(h.pending).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1001); // that reading never came: the verdict is too old to count
    expect(h.backlog.behind()).toBeUndefined();
    expect(h.stats.applyBacklogReadings).toBe(2);
  });

  it('no verdict from a failed reading, a read that throws, a member that reports no applied index, or indices that went back (another member)', async () => {
    const h = harness();
    h.backlog.behind();
    await h.answer(100, 100);
    await vi.advanceTimersByTimeAsync(600);
    h.backlog.behind();
    h.pending.shift()?.reject(new Error('etcdserver: request timed out'));
    await vi.advanceTimersByTimeAsync(0);
    expect(h.backlog.behind()).toBeUndefined();
    await vi.advanceTimersByTimeAsync(600);
    h.backlog.behind();
    await h.answer(5_000, 0); // etcd < 3.4 reads 0
    expect(h.backlog.behind()).toBeUndefined();
    await vi.advanceTimersByTimeAsync(600);
    h.backlog.behind();
    await h.answer(5_000, 4_000);
    await vi.advanceTimersByTimeAsync(600);
    h.backlog.behind();
    await h.answer(3_000, 2_000); // another member, further behind in its log: no rate
    expect(h.backlog.behind()).toBeUndefined();
    const stats = { applyBacklogReadings: 0, applyBacklogMax: 0 };
    const throwing = new ApplyBacklog(
      () => {
        throw new Error('the store is closed');
      },
      { targetMs: 500, pollMs: 500 },
      stats,
    );
    expect(throwing.behind()).toBeUndefined();
    await vi.advanceTimersByTimeAsync(0);
    expect(throwing.behind()).toBeUndefined();
  });
});
