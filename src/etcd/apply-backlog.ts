/**
 * Whether etcd is behind in applying what it committed: the one cause of a
 * slow answer that the window of transactions in flight must yield to.
 *
 * etcd renews a lease only once its leader has applied every entry
 * committed before the renewal, and gives up after one second; a backlog of
 * entries to apply is what expired every enroller's lease at once at
 * 100,000 members (src/etcd/txn-window.ts). An answer is also late when the
 * machine is short of CPU, or the enroller's own event loop is, while etcd
 * keeps up: halving the window then only slows the enrollments down.
 * etcd's Status answer says which it is: the responding member's committed
 * and applied raft indices.
 *
 * The client picks a cluster member per call, so readings come from the
 * members in turn. Each member is judged by its own readings (a rate from
 * two readings of different members means nothing: they apply at different
 * points of the log), and etcd is behind if any member read lately is: a
 * follower learns of commits after the leader, so its backlog may read
 * smaller than the leader's, which is the one lease renewals wait for.
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
  /** The member that answered (`header.member_id`). */
  readonly member: string;
  /** The raft index it committed (`raftIndex`; a uint64). */
  readonly committed: bigint;
  /** The raft index it applied (`raftAppliedIndex`; 0 from etcd < 3.4, which does not report it). */
  readonly applied: bigint;
}

/** How the backlog is read and judged. */
export interface ApplyBacklogOptions {
  /** A backlog that takes longer than this to apply, in ms, at the rate etcd applies, is "behind". */
  readonly targetMs: number;
  /** At most one reading per this many ms; a verdict older than {@link VERDICT_LIFE_POLLS} times this is no verdict. Default {@link APPLY_BACKLOG_POLL_MS}. */
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
  const uint64 = (s: string | undefined): bigint => (s !== undefined && /^[0-9]{1,20}$/.test(s) ? BigInt(s) : 0n);
  return { member: String(status.header?.member_id ?? ''), committed: uint64(status.raftIndex), applied: uint64(status.raftAppliedIndex) };
}

/**
 * At most one reading per this many ms, by default: four a second per
 * enroller while its answers are slow, a small load for etcd (the Status
 * call reads two counters).
 */
export const APPLY_BACKLOG_POLL_MS = 250;

/**
 * How many `pollMs` a member's verdict lives, unless a later reading of it
 * replaces it (2 s by default; it was 2, 500 ms). A process short of CPU
 * reads its answers late, the Status answers too, and a verdict that died
 * after 500 ms, while the next reading took longer, left slow answers with
 * no verdict, which cuts the window whether etcd keeps up or not (at
 * 100,000 members on two cores, graceful stops that did not converge had
 * each enroller's window cut 47-75 times; docs/SCALING.md, item 19).
 * Readings are asked for every `pollMs` while
 * answers are slow, and any member read as behind makes etcd behind, so a
 * longer life keeps a verdict only while no newer one came.
 */
export const VERDICT_LIFE_POLLS = 8;

/**
 * The slowest rate, in entries a second, at which etcd applied in these
 * benchmarks (docs/SCALING.md, item 8). Before a member's second reading
 * gives its rate, a backlog it would apply within half of `targetMs` even
 * at this rate is not "behind" (105 entries at the default 500 ms), and a
 * larger one is.
 */
export const SLOWEST_APPLY_PER_SEC = 420;

/** Two readings of a member further apart than this give no rate (the first is too old to say how fast it applies now). */
const MAX_RATE_SPAN_MS = 10_000;

interface Reading {
  readonly applied: bigint;
  /** When it was asked for: the earliest the member can have answered. */
  readonly askedAt: number;
}

interface Verdict {
  readonly behind: boolean;
  readonly at: number;
}

/** etcd's apply backlog, read on demand. */
export class ApplyBacklog {
  readonly #read: () => Promise<RaftProgress>;
  readonly #targetMs: number;
  readonly #pollMs: number;
  readonly #stats: ApplyBacklogStats;
  readonly #clock: Clock;
  /** Each member's last reading and last verdict (a cluster has a handful of members). */
  readonly #readings = new Map<string, Reading>();
  readonly #verdicts = new Map<string, Verdict>();
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
   * Whether etcd is behind now: `true` if any member read within
   * {@link VERDICT_LIFE_POLLS} times `pollMs` was, `false` if some were and none was behind,
   * `undefined` when no recent reading says (none yet, failed, too old, or
   * from etcd < 3.4, which does not report its applied index). Asks for a
   * new reading if the last was asked for over `pollMs` ago.
   */
  behind(): boolean | undefined {
    const now = this.#clock.now();
    if (!this.#reading && now - this.#asked >= this.#pollMs) void this.#ask(now);
    const life = VERDICT_LIFE_POLLS * this.#pollMs;
    let verdict: boolean | undefined;
    for (const [member, { behind, at }] of this.#verdicts) {
      if (now - at > life) this.#verdicts.delete(member);
      else if (behind) return true;
      else verdict = false;
    }
    return verdict;
  }

  async #ask(now: number): Promise<void> {
    this.#asked = now;
    this.#reading = true;
    this.#stats.applyBacklogReadings++;
    try {
      this.#judge(await this.#read(), now);
    } catch {
      // etcd did not say: no verdict from this reading (the window cuts, as without one, once the others age)
    } finally {
      this.#reading = false;
    }
  }

  /**
   * A member's reading, asked for at `askedAt`: behind when its backlog
   * takes longer than `targetMs` at the rate it applied since its last
   * reading. That rate is taken over the longest span the two answers can
   * be apart (from the last one's asking to this one's answer), so that
   * answers read late by a busy process make it err low, towards "behind".
   */
  #judge({ member, committed, applied }: RaftProgress, askedAt: number): void {
    const at = this.#clock.now();
    const last = this.#readings.get(member);
    this.#readings.set(member, { applied, askedAt });
    if (applied === 0n) return; // etcd < 3.4 does not report its applied index: no verdict
    const backlog = Number(committed - applied);
    this.#stats.applyBacklogMax = Math.max(this.#stats.applyBacklogMax, backlog);
    let behind: boolean;
    const span = last === undefined ? Number.NaN : at - last.askedAt;
    if (backlog <= 0) {
      behind = false;
    } else if (last !== undefined && applied >= last.applied && span > 0 && span <= MAX_RATE_SPAN_MS) {
      const rate = Number(applied - last.applied) / span; // entries a ms
      behind = rate === 0 || backlog / rate > this.#targetMs;
    } else {
      // No rate yet (or none to trust): little enough even at the slowest rate measured is not behind; more counts as behind.
      behind = backlog > (SLOWEST_APPLY_PER_SEC * this.#targetMs) / 2000;
    }
    this.#verdicts.set(member, { behind, at });
  }
}
