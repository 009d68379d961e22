/**
 * The etcd store's lease keeper: grants the enroller's lease and registers
 * the enroller under it, has it proven alive and kept so ({@link LeaseProof}:
 * the keepalives, the deadline, the doubt), keeps the fence, and grants a
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
import { type KeepaliveAnswer, LeaseProof } from './lease-proof.js';
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
  /** Sends one keepalive (see {@link ProofHost.keepalive}); without it, or `undefined`, the lease's own. */
  keepalive?(id: string, deadline: number): Promise<KeepaliveAnswer> | undefined;
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
  /** Whether the lease is alive at etcd, and the keepalives that keep it so. */
  readonly #proof: LeaseProof;
  /** The lease lapsed and no new one is granted yet: nothing this enroller says about bindings is proven current. */
  #fenced = false;
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
    const keeper = { fenced: () => this.#fenced, lapsed: (epoch: number, unanswered: boolean) => this.#lapse(epoch, unanswered) };
    this.#proof = new LeaseProof(host, keeper, clock);
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
    return this.#proof.doubting && !this.#fenced;
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
    this.#proof.start(lease, id, epoch, askedAt, askedWall);
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
    return this.#proof.check(); // (not proven: a deadline passed before its timer ran, a paused or busy process; the doubt begins)
  }

  /** The store closes: the fence and the lease go; the lease is returned for {@link revoke}. */
  detach(): Lease | undefined {
    const lease = this.#lease;
    this.#lease = undefined;
    this.#leaseId = undefined;
    this.#proof.stop();
    this.#fenced = false;
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

  /**
   * The lease may have expired at etcd (no keepalive answered within its TTL, nor a question of the doubt since:
   * `unanswered`), or did: this enroller can no longer prove any binding current. Tell the enroller, forget what was
   * served, and grant a new lease.
   */
  #lapse(epoch: number, unanswered = false): void {
    // Fenced already: a renewal is under way (its new lease lost while it registers). It goes on, and the new
    // lease's deadline, still checked, fences again once it is registered if that lease is gone.
    if (epoch !== this.#host.epoch() || this.#host.closed() || this.#fenced) return;
    this.#proof.stop();
    this.#host.stats.leaseLapses++;
    if (unanswered) this.#host.stats.leaseLapsesUnanswered++;
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

  #drop(): void {
    this.#proof.stop();
    this.#lease?.release();
    this.#lease = undefined;
    this.#leaseId = undefined;
  }
}
