/**
 * The etcd store's lease keeper: grants the enroller's lease and registers
 * the enroller under it, keeps it alive (a keepalive every third of its
 * TTL, each on a call of its own, so that every answer is paired with its
 * own request), keeps the fence (the lease is proven alive only until the
 * TTL after the send time of the latest keepalive etcd answered), asks etcd
 * (again every quarter of the doubt, at most each second, for one TTL)
 * whether a lease whose proof ran out is alive all the same, and grants a
 * new lease, with backoff, when it is lost.
 *
 * @module
 */
import type { Etcd3, ITxnRequest, Lease } from 'etcd3';
import { StoreError } from '../errors.js';
import type { StoreOwner } from '../store/address-store.js';
import { exponentialDelay } from '../util/backoff.js';
import { type Clock, systemClock, type TimerHandle } from '../util/clock.js';
import type { EtcdKeys } from './keys.js';
import type { EtcdStoreStats, ResolvedEtcdStoreOptions } from './options.js';

/** An etcd transaction's answer. */
export type TxnResponse = Awaited<ReturnType<Etcd3['kv']['txn']>>;

/** What the lease keeper needs of its store. */
export interface LeaseHost {
  /** The store's keys. */
  readonly keys: EtcdKeys;
  /** The store's options (TTL, call timeout). */
  readonly options: ResolvedEtcdStoreOptions;
  /** The store's counters. */
  readonly stats: EtcdStoreStats;
  /** The client, or a StoreError when the store is not open. */
  client(): Etcd3;
  /** The store's opening: a renewal of an earlier opening gives up. */
  epoch(): number;
  /** Whether the store is closed. */
  closed(): boolean;
  /** The enroller the store serves. */
  owner(): StoreOwner;
  /** One transaction, its failure a StoreError saying `what` failed. */
  txn(what: string, request: ITxnRequest): Promise<TxnResponse>;
  /** A new lease was granted after a lapse: whatever was served under the lost one is not vouched for until the enroller confirms it. */
  renewed(): void;
  /** The fence closed (`true`) or a new lease opened it again (`false`). */
  fenced(fenced: boolean): void;
}

/** The enroller's etcd lease, its registration, and the fence. */
export class LeaseKeeper {
  readonly #host: LeaseHost;
  readonly #clock: Clock;
  #lease: Lease | undefined;
  #leaseId: string | undefined;
  /** The clock's time until which the lease is surely alive at etcd: the send time of the last keepalive answered, plus the TTL. */
  #validUntil = 0;
  /** The same deadline on the wall clock, which (unlike performance.now()) goes on while the host is suspended. */
  #validUntilWall = 0;
  /** The keepalives: one every third of the TTL while there is a lease. */
  #beatTimer: TimerHandle | undefined;
  #fenceTimer: TimerHandle | undefined;
  /** The lease lapsed and no new one is granted yet: nothing this enroller says about bindings is proven current. */
  #fenced = false;
  /** While the lease's proof ran out and etcd is being asked whether it is alive (see {@link #doubt}): the doubt's bound. */
  #doubtTimer: TimerHandle | undefined;
  /** The doubt's next question. */
  #askTimer: TimerHandle | undefined;
  /** The next attempt of a renewal that failed (cleared when the store closes). */
  #renewTimer: TimerHandle | undefined;
  /**
   * Earlier leases that may still be alive at etcd: one lost (its renewal revokes it), one whose revocation at close or
   * after a failed renewal attempt was not answered. Each is revoked before anything is proven under a later lease.
   */
  readonly #unrevoked = new Set<string>();

  constructor(host: LeaseHost, clock: Clock = systemClock) {
    this.#host = host;
    this.#clock = clock;
  }

  /** The lease's id, while there is one. */
  get id(): string | undefined {
    return this.#leaseId;
  }

  /** Whether the fence is closed (the lease lapsed, no new one yet). */
  get fenced(): boolean {
    return this.#fenced;
  }

  /** Whether the lease's proof ran out and etcd is being asked whether it is alive (not fenced yet; nothing is vouched for meanwhile). */
  get doubting(): boolean {
    return this.#doubtTimer !== undefined && !this.#fenced;
  }

  /**
   * The store opens: every earlier lease that may still be alive (one that close() could not revoke, or one lost and
   * not revoked yet) is revoked first, as a renewal revokes the lease it replaces: a confirm still in flight under it
   * could otherwise land after a proof under the new lease and put a mark back under a lease that dies. Then a lease
   * as {@link grant} makes it. One not revoked fails the opening (try again).
   */
  async open(epoch: number): Promise<void> {
    await this.#revokeEarlier();
    await this.grant(epoch);
  }

  /** Revokes every lease in {@link #unrevoked}; one etcd no longer has (expired) counts as revoked. */
  async #revokeEarlier(): Promise<void> {
    for (const id of [...this.#unrevoked]) {
      try {
        await this.#revoked(id);
      } catch (err) {
        throw new StoreError(
          `etcd: cannot revoke the earlier lease ${id} of this enroller (${(err as Error).message}); nothing is proven under a new lease until it is`,
          { cause: err },
        );
      }
    }
  }

  /**
   * Grants a lease and registers the enroller under it; renews itself when
   * lost. Nothing is marked under a renewed lease: the enroller confirms
   * through etcd what it keeps.
   */
  async grant(epoch: number, previousLeaseId?: string): Promise<void> {
    const { options } = this.#host;
    // etcd3's own keepalive loop pairs answers with requests by their order on one stream, and an answer that comes
    // on a stream it has replaced is paired with a request of the new one: each keepalive here is a call of its own.
    const lease = this.#host.client().lease(options.leaseTtlSecs, { deadline: Date.now() + options.callTimeoutMs, autoKeepAlive: false });
    lease.on('lost', () => {
      if (this.#lease === lease) this.#lapse(epoch);
    });
    const askedAt = this.#clock.now();
    const askedWall = Date.now();
    // A lease whose grant fails emits 'lost' too; the rejection below reports it.
    const id = await lease.grant();
    if (epoch !== this.#host.epoch()) {
      lease.release();
      return;
    }
    this.#lease = lease;
    this.#leaseId = id;
    this.#extend(epoch, askedAt, askedWall);
    this.#beat(lease, epoch, askedAt);
    await this.#register(lease, id, previousLeaseId);
    if (epoch !== this.#host.epoch()) return; // (stopped meanwhile: a later opening's store is not this renewal's)
    if (previousLeaseId !== undefined) {
      // Revoked before anything is proven under the new lease: a write still in flight under the old one (a confirm
      // sent before the lapse) then fails, or lands before the revocation deletes it, never after a proof under the
      // new lease, where it would put a live mark back under a lease that dies. Not revoked: this renewal fails and
      // is tried again. (Any other earlier lease still listed goes too.)
      await this.#revokeEarlier();
      if (epoch !== this.#host.epoch()) return;
      this.#host.renewed();
    }
    if (this.#fenced) {
      this.#fenced = false;
      this.#host.fenced(false);
    }
  }

  /** Revokes the lease `id` at etcd (one etcd no longer has, expired, counts as revoked), and forgets it. */
  async #revoked(id: string): Promise<void> {
    const deadline = Date.now() + this.#host.options.callTimeoutMs;
    try {
      await this.#host.client().leaseClient.leaseRevoke({ ID: id }, { deadline });
      this.#host.stats.earlierLeasesAlive++;
    } catch (err) {
      if (!String((err as Error | undefined)?.message).includes('requested lease not found')) throw err;
    }
    this.#unrevoked.delete(id);
  }

  /** Keeps `lease` alive: a keepalive (`#keepalive`) every third of the TTL, each awaited for one TTL (a later answer proves nothing current). */
  #beat(lease: Lease, epoch: number, provenFrom: number): void {
    const ttlMs = this.#host.options.leaseTtlSecs * 1000;
    const everyMs = Math.max(1, Math.floor(ttlMs / 3));
    const next = (ms = everyMs): void => {
      this.#beatTimer = this.#clock.setTimeout(beat, ms);
    };
    const beat = (): void => {
      if (this.#lease !== lease || epoch !== this.#host.epoch()) return;
      next();
      void this.#keepalive(lease, epoch, ttlMs);
    };
    this.#clock.clearTimeout(this.#beatTimer);
    next(Math.max(0, provenFrom + everyMs - this.#clock.now())); // (a third of the TTL after the proof's own start: a grant answered late is kept alive at once)
  }

  /**
   * One keepalive of `lease`, awaited for `waitMs`: etcd saying it lives proves it until the TTL after this call's
   * own send time (ending a doubt it proves over). Whether etcd said so; a failure is `false`, and proves nothing (an
   * expired lease is reported by 'lost').
   */
  #keepalive(lease: Lease, epoch: number, waitMs: number): Promise<boolean> {
    const [sentAt, sentWall] = [this.#clock.now(), Date.now()];
    return lease.keepaliveOnce({ deadline: sentWall + waitMs }).then(
      (res) => {
        const alive = Number(res.TTL) > 0;
        if (alive && this.#lease === lease && epoch === this.#host.epoch()) {
          this.#extend(epoch, sentAt, sentWall);
          if (this.#proven()) this.#endDoubt(); // (a question in flight is answered: its answer changes nothing more)
        }
        return alive;
      },
      () => false,
    );
  }

  /** Registers the enroller under `enrollers/`: two live enrollers with one name would share their marks, so the name must be free. */
  async #register(lease: Lease, id: string, previousLeaseId: string | undefined): Promise<void> {
    const { keys, options } = this.#host;
    const owner = this.#host.owner();
    const registration = Buffer.from(keys.enroller(owner.name));
    const registeredAs = Buffer.from(JSON.stringify({ shimAddress: owner.shimAddress }));
    const register = [{ request_put: { key: registration, value: registeredAs, lease: id } }];
    const attempt = (compare: NonNullable<ITxnRequest['compare']>) => this.#host.txn('register', { compare, success: register });
    let registered = await attempt([{ key: registration, target: 'Create', result: 'Equal', create_revision: 0 }]);
    if (!registered.succeeded && previousLeaseId !== undefined) {
      // Our own registration under the lease we lost, which etcd still keeps (a restarted etcd extends leases).
      registered = await attempt([{ key: registration, target: 'Lease', result: 'Equal', lease: previousLeaseId }]);
    }
    if (!registered.succeeded) {
      // Registered at our own shim address: this enroller restarted (one address, one socket), so it takes over
      // at once instead of waiting for the dead process's lease to run out.
      registered = await attempt([{ key: registration, target: 'Value', result: 'Equal', value: registeredAs }]);
    }
    if (!registered.succeeded) {
      lease.release();
      throw new StoreError(
        `an enroller named "${owner.name}" is registered already under ${keys.prefix} at another shim address: give each enroller its own name (or wait up to ${options.leaseTtlSecs} s for a dead one's lease to expire)`,
      );
    }
  }

  /** Whether the lease is surely alive at etcd now (the fence has not closed, and its deadline has not passed). */
  canVouch(): boolean {
    if (this.#host.closed() || this.#fenced || this.#leaseId === undefined) return false;
    if (this.#proven()) return true;
    this.#doubt(this.#host.epoch()); // the deadline passed before the timer ran (a paused or busy process)
    return false;
  }

  #proven(): boolean {
    return this.#clock.now() < this.#validUntil && Date.now() < this.#validUntilWall;
  }

  /** The store closes: the fence and the lease go; the lease is returned for {@link revoke}. */
  detach(): Lease | undefined {
    const lease = this.#lease;
    this.#lease = undefined;
    this.#leaseId = undefined;
    this.#clock.clearTimeout(this.#fenceTimer);
    this.#fenceTimer = undefined;
    this.#clock.clearTimeout(this.#beatTimer);
    this.#beatTimer = undefined;
    this.#fenced = false;
    this.#endDoubt();
    this.#clock.clearTimeout(this.#renewTimer);
    this.#renewTimer = undefined;
    return lease;
  }

  /** Revokes a detached lease (its registration and marks go at once), or lets it go if etcd does not answer; then the next {@link open} revokes it. */
  async revoke(lease: Lease | undefined): Promise<void> {
    if (lease === undefined) return;
    lease.removeAllListeners();
    const id = await lease.grant().catch(() => undefined); // (its id; a lease never granted has none to revoke)
    if (id !== undefined) this.#unrevoked.add(id); // (until etcd takes the revocation)
    try {
      await lease.revoke({ deadline: Date.now() + this.#host.options.callTimeoutMs });
      if (id !== undefined) this.#unrevoked.delete(id);
    } catch {
      lease.release();
    }
  }

  /** The lease is proven alive until `sentAt` + TTL; the fence closes then unless a later keepalive is answered. */
  #extend(epoch: number, sentAt: number, sentWall: number): void {
    const ttlMs = this.#host.options.leaseTtlSecs * 1000;
    if (sentAt + ttlMs > this.#validUntil) {
      this.#validUntil = sentAt + ttlMs;
      // On the wall clock too, from the request's own send time: a host suspended between the request and its answer
      // (performance.now() stood still) is not proven for the time it slept. (An older answer moves neither deadline.)
      this.#validUntilWall = Math.min(Date.now() + (this.#validUntil - this.#clock.now()), sentWall + ttlMs);
    }
    const arm = (ms: number): void => {
      this.#clock.clearTimeout(this.#fenceTimer);
      this.#fenceTimer = this.#clock.setTimeout(check, ms);
    };
    const check = (): void => {
      this.#fenceTimer = undefined;
      if (epoch !== this.#host.epoch() || this.#host.closed()) return;
      const left = this.#validUntil - this.#clock.now();
      // A renewal under way: the new lease's deadline is checked once it is registered.
      if (this.#fenced) arm(Math.max(left, 100));
      else if (left > 0) arm(left);
      else this.#doubt(epoch);
    };
    arm(this.#validUntil - this.#clock.now()); // (a deadline passed already: a timer of 0 or less runs at once)
  }

  /**
   * No keepalive was answered within the TTL: the lease may have expired at etcd, or only its answers be late (a
   * starved process, a slow etcd, a member down or not serving yet). Nothing is vouched for meanwhile, but before
   * fencing, etcd is asked to renew the lease: renewed, it never expired (etcd never brings a lease back), so every
   * mark under it is still there; the deadline runs from that question's send time. Asked again every quarter of the
   * doubt (at most every second), each time of the member the client picks, so that one failing or hanging does not
   * decide. The doubt lasts one TTL (or `callTimeoutMs`, if longer): an answer later than the TTL after its question
   * proves nothing current. etcd saying the lease is gone ends it at once; no answer by then: it lapses ({@link #lapse}).
   */
  #doubt(epoch: number): void {
    const lease = this.#lease;
    if (epoch !== this.#host.epoch() || this.#host.closed() || this.#fenced || this.#doubtTimer !== undefined || lease === undefined)
      return;
    this.#host.stats.leaseDoubts++;
    const { callTimeoutMs, leaseTtlSecs } = this.#host.options;
    const waitMs = Math.max(callTimeoutMs, leaseTtlSecs * 1000);
    const settle = (): void => {
      if (this.#doubtTimer !== timer) return; // a doubt of an earlier lease or opening, or one ended: not this one's to end
      this.#endDoubt();
      if (this.#lease !== lease || epoch !== this.#host.epoch()) return;
      if (!this.#proven()) this.#lapse(epoch, true); // (unless a keepalive of its own proved it meanwhile)
    };
    const timer = this.#clock.setTimeout(settle, waitMs);
    this.#doubtTimer = timer;
    const end = this.#clock.now() + waitMs;
    const everyMs = Math.min(1000, waitMs / 4);
    const ask = (): void => {
      if (this.#doubtTimer !== timer) return; // (ended: proven, lapsed or closed)
      const left = end - this.#clock.now();
      if (left <= 0) return; // (a process that ran late: the bound's timer settles the doubt; a question now would go out expired)
      if (left > everyMs) this.#askTimer = this.#clock.setTimeout(ask, everyMs);
      void this.#keepalive(lease, epoch, left); // (alive: #keepalive proves it, from this question's send time, and ends the doubt)
    };
    ask();
  }

  /**
   * The lease may have expired at etcd (no keepalive answered within its TTL, nor a question of the doubt since:
   * `unanswered`), or did: this enroller can no longer prove any binding current. Tell the enroller, forget what was
   * served, and grant a new lease.
   */
  #lapse(epoch: number, unanswered = false): void {
    // Fenced already: a renewal is under way (its new lease lost while it registers). It goes on, and the new
    // lease's deadline, still checked, fences again once it is registered if that lease is gone.
    if (epoch !== this.#host.epoch() || this.#host.closed() || this.#fenced) return;
    this.#endDoubt();
    this.#host.stats.leaseLapses++;
    if (unanswered) this.#host.stats.leaseLapsesUnanswered++;
    this.#clock.clearTimeout(this.#fenceTimer);
    this.#fenceTimer = undefined;
    this.#fenced = true;
    this.#host.fenced(true);
    this.#renew(epoch);
  }

  /** The lease expired (etcd was out of reach longer than its TTL): grant another, with backoff (100 ms doubling to 2 s), until it works. */
  #renew(epoch: number): void {
    const previousLeaseId = this.#leaseId;
    if (previousLeaseId !== undefined) this.#unrevoked.add(previousLeaseId); // (until revoked, here or at the next open)
    this.#drop();
    let failures = 0;
    const attempt = (): void => {
      if (epoch !== this.#host.epoch()) return;
      this.#host.stats.leaseRenewals++;
      this.grant(epoch, previousLeaseId).catch(() => {
        if (epoch !== this.#host.epoch()) return; // (a renewal of an earlier opening: the lease now is not its own)
        // A lease this attempt was granted goes at etcd too, not at its TTL: attempts failing on the old lease's
        // revocation would otherwise leave one behind each.
        const failed = this.#lease;
        this.#lease = undefined;
        if (this.#leaseId !== undefined) this.#unrevoked.add(this.#leaseId); // (before the next attempt can prove)
        void this.revoke(failed);
        this.#drop();
        this.#renewTimer = this.#clock.setTimeout(attempt, exponentialDelay(++failures, 100, 2000));
      });
    };
    attempt();
  }

  /** Ends a doubt, if any: its questions stop, and their answers, should they come, are then ignored. */
  #endDoubt(): void {
    this.#clock.clearTimeout(this.#doubtTimer);
    this.#doubtTimer = undefined;
    this.#clock.clearTimeout(this.#askTimer);
    this.#askTimer = undefined;
  }

  #drop(): void {
    this.#clock.clearTimeout(this.#beatTimer);
    this.#beatTimer = undefined;
    this.#lease?.release();
    this.#lease = undefined;
    this.#leaseId = undefined;
  }
}
