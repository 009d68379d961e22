/**
 * The lease's proof and its keepalives, alone (no etcd, fake timers): the
 * cadence (a third of the TTL while answered, a sixth of it while not), the
 * doubt's questions as the same keepalives, and a property over every
 * pattern of held and answered keepalives a member that holds calls can
 * make. The keeper around it is in lease.test.ts; a real paused etcd member
 * in faults.paused-member.test.ts.
 */
import { EventEmitter } from 'node:events';
import type { Etcd3, Lease } from 'etcd3';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MemberKeepalives } from '../../src/etcd/keepalives.js';
import { askEveryMs, type KeepaliveAnswer, LeaseProof } from '../../src/etcd/lease-proof.js';
import { type EtcdStoreStats, type ResolvedEtcdStoreOptions, zeroEtcdStats } from '../../src/etcd/options.js';
import { systemClock } from '../../src/util/clock.js';

const TTL_MS = 2000;
const BEAT_MS = Math.floor(TTL_MS / 3);
const ASK_MS = askEveryMs(TTL_MS);

/** What one keepalive does: answered alive after `ms`, failed at once, or held (never answered: the member holds it). */
type Answer = { alive: number } | 'failed' | 'held';

/** A lease whose keepalives answer as `answers` says, in order (held once the list is empty); each send time recorded. */
class PlannedLease {
  readonly sent: number[] = [];
  constructor(readonly answers: Answer[]) {}
  keepaliveOnce(): Promise<{ TTL: string }> {
    this.sent.push(performance.now());
    const answer = this.answers.shift() ?? 'held';
    if (answer === 'held') return new Promise(() => {});
    if (answer === 'failed') return Promise.reject(new Error('etcd member out of reach'));
    const alive = { TTL: String(TTL_MS / 1000) };
    return answer.alive === 0 ? Promise.resolve(alive) : new Promise((resolve) => setTimeout(() => resolve(alive), answer.alive));
  }
}

interface Proving {
  proof: LeaseProof;
  lease: PlannedLease;
  stats: EtcdStoreStats;
  lapses: number;
  /** For each lapse, whether the doubt went unanswered (else etcd said the lease expired). */
  unanswered: boolean[];
}

/** A proof of a lease granted now, its keepalives answering as `answers` says (or sent with `keepalive`, if given). */
function proving(answers: Answer[], keepalive?: (id: string, deadline: number) => Promise<KeepaliveAnswer>): Proving {
  const stats = zeroEtcdStats();
  const host = {
    options: { leaseTtlSecs: TTL_MS / 1000, callTimeoutMs: 500 } as ResolvedEtcdStoreOptions,
    stats,
    epoch: () => 1,
    closed: () => false,
    ...(keepalive === undefined ? {} : { keepalive }),
  };
  const p = { lease: new PlannedLease(answers), stats, lapses: 0, unanswered: [] } as unknown as Proving;
  p.proof = new LeaseProof(
    host,
    {
      fenced: () => false,
      lapsed: (_epoch: number, unanswered: boolean) => {
        p.lapses++;
        p.unanswered.push(unanswered);
        p.proof.stop();
      },
    },
    systemClock,
  );
  p.proof.start(p.lease as unknown as Lease, 'lease-1', 1, performance.now(), Date.now());
  return p;
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('LeaseProof: the keepalives', () => {
  it('answered at once, one goes every third of the TTL and none early', async () => {
    const p = proving(Array.from({ length: 10 }, () => ({ alive: 0 })));
    await vi.advanceTimersByTimeAsync(6 * BEAT_MS);
    expect(p.lease.sent).toEqual([1, 2, 3, 4, 5, 6].map((k) => k * BEAT_MS));
    expect({ early: p.stats.leaseKeepalivesEarly, doubts: p.stats.leaseDoubts, proven: p.proof.proven() }).toEqual({
      early: 0,
      doubts: 0,
      proven: true,
    });
  });

  it('one not answered within a sixth of the TTL (held or failed) is followed then by another; an answer brings back the third', async () => {
    const p = proving(['held', 'failed', { alive: 10 }, { alive: 0 }]);
    await vi.advanceTimersByTimeAsync(BEAT_MS + 2 * ASK_MS + BEAT_MS);
    const t = BEAT_MS + 2 * ASK_MS; // the third keepalive, answered 10 ms later
    expect(p.lease.sent).toEqual([BEAT_MS, BEAT_MS + ASK_MS, t, t + BEAT_MS]);
    expect(p.stats.leaseKeepalivesEarly).toBe(2);
    expect(p.stats.leaseDoubts).toBe(0);
  });

  // Found by the 100,000-member run (2026-12-07), traced: the etcd member killed in the leader phase came back and,
  // while it caught up, held every call sent to it. Keepalives every third of the TTL and no more: three in a row
  // picked that member (1 in 27), and the lease expired at etcd although the two others would have renewed it; it
  // happened to 3 enrollers of 10 within 25 s. Now four in a row held still leave time for a fifth.
  it('four keepalives in a row held by a member that answers nothing: the fifth, answered, keeps the lease proven throughout', async () => {
    const p = proving(['held', 'held', 'held', 'held', { alive: 0 }, { alive: 0 }]);
    for (let ms = 0; ms < 2 * TTL_MS; ms += 50) {
      await vi.advanceTimersByTimeAsync(50);
      expect(p.proof.proven()).toBe(true);
    }
    expect({ doubts: p.stats.leaseDoubts, lapses: p.lapses }).toEqual({ doubts: 0, lapses: 0 });
  });

  it('none answered: a keepalive every sixth of the TTL through the proof and the doubt, each question awaited until the doubt ends; none after the lapse', async () => {
    const p = proving([]);
    await vi.advanceTimersByTimeAsync(TTL_MS);
    expect(p.proof.doubting).toBe(true);
    const doubtAt = performance.now();
    await vi.advanceTimersByTimeAsync(TTL_MS);
    expect(p.lapses).toBe(1);
    // BEAT_MS, then every ASK_MS until the proof runs out (at TTL); the doubt asks at once, then every ASK_MS.
    const beforeDoubt = 1 + Math.floor((TTL_MS - 1 - BEAT_MS) / ASK_MS);
    const inDoubt = 1 + Math.floor((TTL_MS - 1) / ASK_MS);
    expect(p.lease.sent).toHaveLength(beforeDoubt + inDoubt);
    expect(p.lease.sent[beforeDoubt]).toBe(doubtAt);
    expect(p.stats.leaseKeepalivesEarly).toBe(beforeDoubt - 1);
    const sent = p.lease.sent.length;
    await vi.advanceTimersByTimeAsync(3 * TTL_MS);
    expect(p.lease.sent).toHaveLength(sent);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a question answered in the doubt ends it; the keepalives then go every third of the TTL again', async () => {
    const before = 1 + Math.floor((TTL_MS - 1 - BEAT_MS) / ASK_MS);
    const p = proving([...Array.from({ length: before }, () => 'held' as const), 'failed', { alive: 0 }, { alive: 0 }]);
    await vi.advanceTimersByTimeAsync(TTL_MS + ASK_MS);
    expect({ doubting: p.proof.doubting, proven: p.proof.proven() }).toEqual({ doubting: false, proven: true });
    const answeredAt = TTL_MS + ASK_MS;
    await vi.advanceTimersByTimeAsync(BEAT_MS);
    expect(p.lease.sent.slice(-2)).toEqual([answeredAt, answeredAt + BEAT_MS]);
    expect(p.lapses).toBe(0);
  });

  it('stopped, nothing is proven and no timer is left', async () => {
    const p = proving([{ alive: 0 }]);
    await vi.advanceTimersByTimeAsync(BEAT_MS);
    p.proof.stop();
    expect(p.proof.proven()).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('LeaseProof: keepalives sent by the host', () => {
  it("an answer of TTL 0 (etcd: the lease expired) lapses the lease at once, as etcd's answer", async () => {
    const sent: string[] = [];
    const p = proving([], async (id) => {
      sent.push(id);
      return { TTL: '0' };
    });
    await vi.advanceTimersByTimeAsync(BEAT_MS);
    expect({ sent, lapses: p.lapses, unanswered: p.unanswered }).toEqual({ sent: ['lease-1'], lapses: 1, unanswered: [false] });
    expect(p.lease.sent).toEqual([]); // (not through the lease's own keepaliveOnce)
  });

  it('an answer without a readable TTL proves nothing, and lapses nothing', async () => {
    const p = proving([], async () => ({ TTL: 'soon' }));
    await vi.advanceTimersByTimeAsync(TTL_MS - 1);
    expect(p.proof.proven()).toBe(true); // (the grant's proof)
    await vi.advanceTimersByTimeAsync(1);
    expect({ proven: p.proof.proven(), doubting: p.proof.doubting, lapses: p.lapses }).toEqual({
      proven: false,
      doubting: true,
      lapses: 0,
    });
  });

  it('through MemberKeepalives (suspect after half the time to the next): a keepalive sent again goes to another member than the one holding it', async () => {
    /** Members whose keepalives answer at once until the `holdFrom`th (counted from 1), then are held. */
    const member = (holdFrom: number) => {
      const m = { sent: [] as number[], client: undefined as unknown as Etcd3 };
      m.client = {
        leaseClient: {
          leaseKeepAlive: async () => {
            const stream = Object.assign(new EventEmitter(), {
              write: () => {
                m.sent.push(performance.now());
                if (m.sent.length < holdFrom) queueMicrotask(() => stream.emit('data', { TTL: '2' }));
              },
              end: () => {},
            });
            return stream;
          },
        },
        close: () => {},
      } as unknown as Etcd3;
      return m;
    };
    const members = [member(2), member(Number.POSITIVE_INFINITY), member(Number.POSITIVE_INFINITY)];
    const keepalives = new MemberKeepalives(
      members.map((m) => m.client),
      ASK_MS / 2,
      () => performance.now(),
      () => 0,
    );
    const p = proving([], (id, deadline) => keepalives.send(id, deadline));
    await vi.advanceTimersByTimeAsync(2 * BEAT_MS + ASK_MS);
    expect(members.map((m) => m.sent)).toEqual([[BEAT_MS, 2 * BEAT_MS], [2 * BEAT_MS + ASK_MS], []]);
    expect(p.proof.proven()).toBe(true);
  });
});

describe('LeaseProof: a member that holds calls', () => {
  it('whatever the pattern, with at most three keepalives in a row held or failed and the next answered within 300 ms, the lease never doubts', async () => {
    const run = fc.record({
      held: fc.array(fc.constantFrom<Answer>('held', 'failed'), { maxLength: 3 }),
      answeredMs: fc.integer({ min: 0, max: 300 }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(run, { minLength: 60, maxLength: 60 }), async (runs) => {
        vi.clearAllTimers();
        const p = proving(runs.flatMap((r) => [...r.held, { alive: r.answeredMs }]));
        await vi.advanceTimersByTimeAsync(30_000);
        const seen = { doubts: p.stats.leaseDoubts, lapses: p.lapses };
        p.proof.stop();
        expect(seen).toEqual({ doubts: 0, lapses: 0 });
      }),
      { numRuns: 60 },
    );
  });
});

describe('LeaseProof: late answers (found by a second review, 2026-12-07)', () => {
  it('an answer later than the TTL after its keepalive, come in the doubt, neither ends nor prolongs it', async () => {
    const p = proving([{ alive: TTL_MS + 100 }]); // sent at BEAT_MS, answered after the proof ran out; the rest held
    await vi.advanceTimersByTimeAsync(2 * TTL_MS);
    expect({ lapses: p.lapses, doubts: p.stats.leaseDoubts }).toEqual({ lapses: 1, doubts: 1 });
  });
});
