/**
 * Whether etcd is behind in applying what it committed: the one cause of a
 * slow answer that the window of transactions in flight must yield to.
 *
 * etcd renews a lease only once its leader has applied every entry
 * committed before the renewal, and gives up after one second; a backlog of
 * entries to apply is what expired every enroller's lease at once at
 * 100,000 members (src/etcd/txn-window.ts). An answer is also late when the
 * machine is short of CPU, or the enroller's own event loop is, while etcd
 * keeps up: halving the window then only slows the enrollments down (in the
 * 100,000-member runs the windows sat at their floor, cut some 150 times
 * each, while etcd applied what it committed). etcd's Status answer says
 * which it is: the responding member's committed and applied raft indices.
 * Every member applies the same entries, so the one the client reaches
 * stands for the cluster (a follower's backlog is no smaller than what the
 * machine or the disk impose on the leader).
 *
 * No timer: a reading is asked for only when a slow answer wants to know,
 * at most one at a time and one per `pollMs`.
 *
 * @module
 */
import type { Etcd3 } from 'etcd3';
import { type Clock, systemClock } from '../util/clock.js';

/** A member's raft progress, from etcd's Status. */
export interface RaftProgress {
  /** The raft index it committed (`raftIndex`). */
  readonly committed: number;
  /** The raft index it applied (`raftAppliedIndex`). */
  readonly applied: number;
}

/** How the backlog is read and judged. */
export interface ApplyBacklogOptions {
  /** A backlog that takes longer than this to apply, in ms, at the rate etcd applies, is "behind". */
  readonly targetMs: number;
  /** At most one reading per this many ms; a verdict older than twice this is no verdict. Default {@link APPLY_BACKLOG_POLL_MS}. */
  readonly pollMs?: number;
}

/** The readings' counters (the store's stats carry them). */
export interface ApplyBacklogStats {
  /** Status readings of etcd's raft progress asked for. */
  applyBacklogReadings: number;
  /** The largest backlog read (entries committed and not yet applied). */
  applyBacklogMax: number;
}

/** `client`'s Status: the raft progress of the member it reaches. */
export async function raftProgress(client: Etcd3, options: { deadline: number }): Promise<RaftProgress> {
  const status = await client.maintenance.status(options);
  return { committed: Number(status.raftIndex), applied: Number(status.raftAppliedIndex) };
}

/**
 * At most one reading per this many ms, by default: four a second per
 * enroller while its answers are slow, a small load for etcd (the Status
 * call reads two counters); a verdict lives twice as long.
 */
export const APPLY_BACKLOG_POLL_MS = 250;

/**
 * A backlog this small is not "behind" even before two readings give a
 * rate: at the slowest rate etcd applied in these benchmarks (some 420
 * entries a second, docs/SCALING.md item 8), 150 ms of work.
 */
export const SMALL_BACKLOG = 64;

/** Two readings further apart than this give no rate (the first is too old to say how fast etcd applies now). */
const MAX_RATE_SPAN_MS = 10_000;

interface Reading extends RaftProgress {
  readonly at: number;
}

/** etcd's apply backlog, read on demand. */
export class ApplyBacklog {
  readonly #read: () => Promise<RaftProgress>;
  readonly #targetMs: number;
  readonly #pollMs: number;
  readonly #stats: ApplyBacklogStats;
  readonly #clock: Clock;
  #last: Reading | undefined;
  /** The last verdict and when it was reached; undefined while none. */
  #verdict: { behind: boolean; at: number } | undefined;
  #asked = Number.NEGATIVE_INFINITY;
  #reading = false;

  constructor(read: () => Promise<RaftProgress>, options: ApplyBacklogOptions, stats: ApplyBacklogStats, clock: Clock = systemClock) {
    this.#read = read;
    this.#targetMs = options.targetMs;
    this.#pollMs = options.pollMs ?? APPLY_BACKLOG_POLL_MS;
    this.#stats = stats;
    this.#clock = clock;
  }

  /**
   * Whether etcd is behind now: `true`, `false`, or `undefined` when no
   * recent reading says (none yet, the last one failed, or it is older than
   * twice `pollMs`). Asks for a new reading if the last was asked for over
   * `pollMs` ago.
   */
  behind(): boolean | undefined {
    const now = this.#clock.now();
    if (!this.#reading && now - this.#asked >= this.#pollMs) void this.#ask(now);
    const verdict = this.#verdict;
    return verdict !== undefined && now - verdict.at <= 2 * this.#pollMs ? verdict.behind : undefined;
  }

  async #ask(now: number): Promise<void> {
    this.#asked = now;
    this.#reading = true;
    this.#stats.applyBacklogReadings++;
    try {
      const progress = await this.#read();
      this.#judge({ ...progress, at: this.#clock.now() });
    } catch {
      this.#verdict = undefined; // etcd did not say: no verdict (the window cuts, as without one)
    } finally {
      this.#reading = false;
    }
  }

  /** A new reading: behind when its backlog takes longer than `targetMs` at the rate applied since the last one. */
  #judge(reading: Reading): void {
    const last = this.#last;
    this.#last = reading;
    const backlog = reading.committed - reading.applied;
    if (!Number.isFinite(backlog) || (reading.applied === 0 && reading.committed > 0)) {
      this.#verdict = undefined; // a member too old to report its applied index (etcd < 3.4: it reads 0): no verdict
      return;
    }
    this.#stats.applyBacklogMax = Math.max(this.#stats.applyBacklogMax, backlog);
    if (backlog <= SMALL_BACKLOG) {
      this.#verdict = { behind: false, at: reading.at };
      return;
    }
    const span = last === undefined ? Number.NaN : reading.at - last.at;
    const applied = last === undefined ? Number.NaN : reading.applied - last.applied;
    // No rate to judge by (a first reading, an old one, another member's numbers): no verdict.
    if (!(span > 0 && span <= MAX_RATE_SPAN_MS && applied >= 0)) {
      this.#verdict = undefined;
      return;
    }
    this.#verdict = { behind: applied === 0 || (backlog * span) / applied > this.#targetMs, at: reading.at };
  }
}
