/**
 * The proof that the enroller's etcd lease is alive, and the keepalives that
 * keep it so.
 *
 * A keepalive etcd answers alive proves the lease until the TTL after that
 * keepalive was sent (never after it was answered). One goes every third of
 * the TTL while they are answered. One not answered alive within
 * {@link askEveryMs} (it failed, or a member that accepts calls and answers
 * none holds it) is followed then by another, and so on until one is: each
 * is a call of its own, which a store with several `hosts` sends to another
 * member than the one holding the one before ({@link MemberKeepalives}), so
 * a member that holds calls cannot let the lease expire while the others
 * would renew it. (With a keepalive every third of the TTL and no more, each
 * to a member picked at random, three in a row sent to the one member of
 * three that held them did; likely what expired the leases of 3 enrollers of
 * 10 at 100,000 members while an etcd member caught up after a restart.) A
 * store given its `client`
 * sends them through the lease's own `keepaliveOnce`, to the member that
 * client picks.
 *
 * When the proof runs out, nothing is vouched for, and the doubt begins:
 * etcd is asked at once and then every {@link askEveryMs} (the same
 * keepalives, each awaited until the doubt's end, each to a member picked as
 * above). One answered alive ends the doubt (the lease never
 * expired: etcd never brings one back), and the proof runs from that
 * question's send time. None answered within one TTL (or `callTimeoutMs`,
 * if longer; a later answer proves nothing current): the keeper is told the
 * lease lapsed.
 *
 * @module
 */
import type { Lease } from 'etcd3';
import type { Clock, TimerHandle } from '../util/clock.js';
import type { EtcdStoreStats, ResolvedEtcdStoreOptions } from './options.js';

/** How long a keepalive may go unanswered before another is sent (and how often the doubt asks): a sixth of the TTL, at most 1 s. */
export function askEveryMs(ttlMs: number): number {
  return Math.max(1, Math.min(1000, Math.floor(ttlMs / 6)));
}

/** What etcd answered a keepalive: the lease's remaining TTL in seconds, '0' once it expired. */
export interface KeepaliveAnswer {
  TTL: string;
}

/** What the proof needs of the lease keeper. */
export interface ProofHost {
  /** The store's options (TTL, call timeout). */
  readonly options: ResolvedEtcdStoreOptions;
  /** The store's counters. */
  readonly stats: EtcdStoreStats;
  /** The store's opening: a proof of an earlier one does nothing. */
  epoch(): number;
  /** Whether the store is closed. */
  closed(): boolean;
  /** Sends one keepalive of lease `id`, awaited until `deadline` (wall clock): {@link MemberKeepalives.send}. Without it, or `undefined`, the lease's own `keepaliveOnce`. */
  keepalive?(id: string, deadline: number): Promise<KeepaliveAnswer> | undefined;
}

/** What the proof tells the keeper, and asks it. */
export interface ProofKeeper {
  /** Whether the fence is closed (a renewal under way): no doubt starts, and the deadline is checked again every 100 ms. */
  fenced(): boolean;
  /** No keepalive was answered within the doubt (`unanswered`), or etcd said the lease expired: it may have, or did. */
  lapsed(epoch: number, unanswered: boolean): void;
}

/** The proof of one lease at a time, its keepalives and its doubt. */
export class LeaseProof {
  readonly #host: ProofHost;
  readonly #keeper: ProofKeeper;
  readonly #clock: Clock;
  /** The lease proven, and the opening it belongs to. */
  #lease: Lease | undefined;
  #leaseId = '';
  #epoch = 0;
  /** The send time of the keepalive (or the grant's ask) that proves the lease furthest, on the clock. */
  #provenFrom = Number.NEGATIVE_INFINITY;
  /** Until when (the clock's time) the lease is surely alive at etcd: {@link #provenFrom} plus the TTL. */
  #validUntil = 0;
  /** The same deadline on the wall clock, which (unlike performance.now()) goes on while the host is suspended. */
  #validUntilWall = 0;
  /** When the latest keepalive was sent (the grant's ask before the first). */
  #lastSent = 0;
  #beatTimer: TimerHandle | undefined;
  #fenceTimer: TimerHandle | undefined;
  /** While the proof ran out and etcd is being asked whether the lease is alive: the doubt's bound, and its end. */
  #doubtTimer: TimerHandle | undefined;
  #doubtEnd = 0;

  constructor(host: ProofHost, keeper: ProofKeeper, clock: Clock) {
    this.#host = host;
    this.#keeper = keeper;
    this.#clock = clock;
  }

  /** Whether the proof ran out and etcd is being asked whether the lease is alive. */
  get doubting(): boolean {
    return this.#doubtTimer !== undefined;
  }

  /** Proves `lease` (its id `id`), of the store's opening `epoch`, from its grant asked at `askedAt` (`askedWall` on the wall clock), and keeps it alive. */
  start(lease: Lease, id: string, epoch: number, askedAt: number, askedWall: number): void {
    this.stop();
    this.#lease = lease;
    this.#leaseId = id;
    this.#epoch = epoch;
    this.#lastSent = askedAt;
    this.#extend(lease, askedAt, askedWall);
    this.#tick(); // (a grant answered late: the first keepalive goes at once)
  }

  /** Stops proving: no keepalive, check or doubt is left, and nothing is proven. */
  stop(): void {
    this.#lease = undefined;
    for (const timer of [this.#beatTimer, this.#fenceTimer, this.#doubtTimer]) this.#clock.clearTimeout(timer);
    this.#beatTimer = this.#fenceTimer = this.#doubtTimer = undefined;
    this.#provenFrom = Number.NEGATIVE_INFINITY;
    this.#validUntil = this.#validUntilWall = 0;
  }

  /** Whether the lease is surely alive at etcd now: proven on the clock and on the wall clock. */
  proven(): boolean {
    return this.#clock.now() < this.#validUntil && Date.now() < this.#validUntilWall;
  }

  /** Whether the lease is proven now; if not (a deadline passed before its timer ran: a paused or busy process), the doubt begins. */
  check(): boolean {
    if (this.proven()) return true;
    this.#doubt();
    return false;
  }

  #ttlMs(): number {
    return this.#host.options.leaseTtlSecs * 1000;
  }

  #current(lease: Lease, epoch: number): boolean {
    return this.#lease === lease && epoch === this.#epoch && epoch === this.#host.epoch();
  }

  /**
   * The keepalives: the next goes a third of the TTL after the latest one if etcd answered that one (or a later
   * one) alive, {@link askEveryMs} after it if not.
   */
  #tick = (): void => {
    const lease = this.#lease;
    if (lease === undefined || !this.#current(lease, this.#epoch)) return;
    const ttlMs = this.#ttlMs();
    const answered = this.#provenFrom >= this.#lastSent;
    const due = this.#lastSent + (answered ? Math.max(1, Math.floor(ttlMs / 3)) : askEveryMs(ttlMs));
    const now = this.#clock.now();
    if (now < due) {
      this.#arm(due - now);
      return;
    }
    if (!answered && this.#doubtTimer === undefined) this.#host.stats.leaseKeepalivesEarly++;
    this.#send(lease, now);
  };

  #arm(ms: number): void {
    this.#clock.clearTimeout(this.#beatTimer);
    this.#beatTimer = this.#clock.setTimeout(this.#tick, ms);
  }

  /** A keepalive now: awaited for one TTL, or in a doubt until its end (none is sent past that end). */
  #send(lease: Lease, now: number): void {
    this.#arm(askEveryMs(this.#ttlMs()));
    const waitMs = this.#doubtTimer === undefined ? this.#ttlMs() : this.#doubtEnd - now;
    if (waitMs <= 0) return; // (a process that ran late past the doubt's end: its bound settles it; a question now would go out expired)
    this.#lastSent = now;
    const [epoch, sentWall] = [this.#epoch, Date.now()];
    const deadline = sentWall + waitMs;
    const asked = this.#host.keepalive?.(this.#leaseId, deadline) ?? lease.keepaliveOnce({ deadline });
    // A failure proves nothing. (An expired lease answered through the lease's own keepaliveOnce fails it, and the
    // lease tells the keeper with 'lost'.)
    asked.then(
      (res) => {
        const ttl = Number(res.TTL);
        if (!this.#current(lease, epoch) || Number.isNaN(ttl)) return; // (an answer without a TTL proves nothing)
        if (ttl <= 0) return this.#keeper.lapsed(epoch, false);
        this.#extend(lease, now, sentWall);
        if (this.proven()) this.#endDoubt(); // (proven: the doubt, if any, is over)
      },
      () => {},
    );
  }

  /** The lease is proven alive until `sentAt` + TTL (unless proven further already); the deadline is checked then. */
  #extend(lease: Lease, sentAt: number, sentWall: number): void {
    const ttlMs = this.#ttlMs();
    if (sentAt + ttlMs > this.#validUntil) {
      this.#provenFrom = sentAt;
      this.#validUntil = sentAt + ttlMs;
      // On the wall clock too, from the request's own send time: a host suspended between the request and its answer
      // (performance.now() stood still) is not proven for the time it slept. (An older answer moves neither deadline.)
      this.#validUntilWall = Math.min(Date.now() + (this.#validUntil - this.#clock.now()), sentWall + ttlMs);
    }
    const epoch = this.#epoch;
    const arm = (ms: number): void => {
      this.#clock.clearTimeout(this.#fenceTimer);
      this.#fenceTimer = this.#clock.setTimeout(check, ms);
    };
    const check = (): void => {
      this.#fenceTimer = undefined;
      if (!this.#current(lease, epoch) || this.#host.closed()) return;
      const left = this.#validUntil - this.#clock.now();
      // A renewal under way: the new lease's deadline is checked once it is registered.
      if (this.#keeper.fenced()) arm(Math.max(left, 100));
      else if (left > 0) arm(left);
      else this.#doubt();
    };
    arm(this.#validUntil - this.#clock.now()); // (a deadline passed already: a timer of 0 or less runs at once)
  }

  /**
   * The proof ran out: the lease may have expired at etcd, or only its answers be late (a starved process, a slow
   * etcd, a member down or not serving yet). Before the keeper is told, etcd is asked at once, and the keepalives go
   * on (see the module's description); the doubt lasts one TTL, or `callTimeoutMs` if longer.
   */
  #doubt(): void {
    const [lease, epoch] = [this.#lease, this.#epoch];
    if (lease === undefined || !this.#current(lease, epoch) || this.#host.closed() || this.#keeper.fenced()) return;
    if (this.#doubtTimer !== undefined) return;
    this.#host.stats.leaseDoubts++;
    const { callTimeoutMs, leaseTtlSecs } = this.#host.options;
    const waitMs = Math.max(callTimeoutMs, leaseTtlSecs * 1000);
    const settle = (): void => {
      if (this.#doubtTimer !== timer) return; // a doubt ended (or of an earlier lease): not this one's to settle
      this.#endDoubt();
      if (this.#current(lease, epoch) && !this.proven()) this.#keeper.lapsed(epoch, true); // (unless proven meanwhile)
    };
    const timer = this.#clock.setTimeout(settle, waitMs);
    this.#doubtTimer = timer;
    this.#doubtEnd = this.#clock.now() + waitMs;
    this.#send(lease, this.#clock.now());
  }

  #endDoubt(): void {
    this.#clock.clearTimeout(this.#doubtTimer);
    this.#doubtTimer = undefined;
  }
}
