/**
 * The enroller (bootstrap) side: admits members, assigns their addresses,
 * syncs its RIB to them and answers keepalives.
 *
 * The class is a facade: it starts and stops, admits PDUs, and hands each
 * to the handler of its op code (exchange.ts). Its parts do the work: the
 * address ledger (store, pool, holds, fence), the session table, the member
 * registry, the liveness probes, the admission guards, the address
 * assigner, the channel opener and the outbox.
 *
 * @module
 */
import { NodeCompatibleEmitter } from '../util/node-emitter.js';
import { decodeCdapMessage } from '../cdap/codec.js';
import { type CdapMessage, isReply } from '../cdap/types.js';
import { libraryError, RibError, StoreError } from '../errors.js';
import { RibNames } from '../rib/rib.js';
import type { Opened } from './channels.js';
import type { EnrollerEvents, EnrollerStats, MemberInfo } from './events.js';
import { memberInfo } from './members.js';
import { type EnrollerOptions, type EnrollerSettings, resolveEnrollerOptions } from './options.js';
import { farewellsOf } from './outbox.js';
import { assembleParts, type EnrollerParts } from './parts.js';
import { enrollmentStep, Exchange } from './exchange.js';
import { logReleasing, logSkipped, logStarted, subscribe } from './started.js';

/**
 * The bootstrap IPCP's enrollment service. It runs the exchange of
 * docs/PROTOCOL.md for any number of members at once; every retransmitted
 * request is answered idempotently.
 */
export class Enroller extends NodeCompatibleEmitter<EnrollerEvents> {
  readonly #settings: EnrollerSettings;
  readonly #p: EnrollerParts;
  /** The answers to each step of the exchange, by op code. */
  readonly #exchange: Exchange;
  #unsubscribe: (() => void) | undefined;
  /** Bumped by start() and stop(), so a start() overtaken by a stop() does not subscribe. */
  #generation = 0;
  /** A stop() still telling its members goodbye and closing the store: start() waits for it. */
  #stopping: Promise<void> | undefined;
  /** start() calls in progress. */
  #starts = 0;

  /** Throws `ConfigError` naming each invalid option. */
  constructor(options: EnrollerOptions) {
    super();
    this.#settings = resolveEnrollerOptions(options);
    this.#p = assembleParts(this.#settings, this, () => this.running);
    this.#exchange = new Exchange(this.#p);
  }

  /** The enroller's IPCP name. */
  get ipcpName(): string {
    return this.#settings.ipcpName;
  }

  /** The DIF's name. */
  get difName(): string {
    return this.#settings.difName;
  }

  /** True between {@link start} and {@link stop}. */
  get running(): boolean {
    return this.#unsubscribe !== undefined;
  }

  /**
   * Whether the enroller serves now: running, and (with a shared store) able
   * to prove the bindings it vouches for, its lease alive. `reason` says why
   * not. What a health check (`/healthz` of `rina-enroll --metrics-listen`) reports.
   */
  health(): {
    /** True while the enroller serves. */
    readonly ok: boolean;
    /** Why it does not, when it does not. */
    readonly reason?: string;
  } {
    if (!this.running) return { ok: false, reason: 'not running (stopped, or not started yet)' };
    if (this.#p.ledger.fenced || this.#p.ledger.doubted()) {
      return { ok: false, reason: 'the shared address store cannot prove bindings current (its lease is lost or cannot be renewed)' };
    }
    return { ok: true };
  }

  /**
   * Writes the DIF's name into the RIB (`/dif/config/name`, so it is synced), opens the address store and starts
   * answering on the shim. Calling it twice is harmless. Rejects with `RibError`, `StoreError` or `ShimError` when
   * that part fails (its own error as the `cause`; one of the library's, such as a store's `MissingDependencyError`,
   * as it is), leaving the store closed; resolves, not serving, when a `stop()` overtakes it.
   */
  async start(): Promise<void> {
    if (this.running) return;
    this.#starts++;
    try {
      await this.#start();
    } finally {
      this.#starts--;
    }
  }

  async #start(): Promise<void> {
    const generation = ++this.#generation;
    const { rib, difName, ipcpName, advertisedAddress, shim, leaseMs, holdMs } = this.#settings;
    await this.#stopping;
    const answered = await this.#p.ledger.answered(); // binds stop() gave up waiting for: the table read below has them
    if (generation !== this.#generation) return; // stop() (or another start()) ran meanwhile: it wins
    if (!answered) throw new StoreError('the address store has not answered binds of the last run within 5 s: try start() again later');
    try {
      await rib.write({ name: RibNames.difName, class: 'dif_config', value: { strval: difName } });
    } catch (err) {
      throw libraryError(err, RibError, `cannot write ${RibNames.difName} into the RIB`);
    }
    if (generation !== this.#generation) return; // stop() (or another start()) ran meanwhile: it wins
    const loaded = await this.#p.ledger.open({ name: ipcpName, shimAddress: advertisedAddress }).catch((err: unknown) => {
      if (generation === this.#generation) throw libraryError(err, StoreError, 'cannot open the address store');
    });
    // stop() (or another start()) ran while the store opened (its failure, then, is no news: the stop closed it): it wins.
    if (loaded === undefined || this.#overtaken(generation)) return await this.#closeIfLast();
    this.#p.ledger.unfence(); // a fresh opening: a fence the last one left (a lapse during stop()'s goodbyes) is void
    logSkipped(loaded.skipped, this.#settings.ipcpName, this.#p.ledger.range, this.#p.telemetry);
    // A store of one enroller says nothing of who is alive. A restored name nobody serves here may belong to a
    // member that spoke to us just before we went down and still counts itself enrolled: it is held for a whole
    // lease and then the hold, as if it went silent now, and released then unless the member comes back.
    const unserved = this.#p.ledger.unserved(loaded, (name) => this.#p.members.has(name));
    try {
      if (this.#p.ledger.shared && this.#p.members.size > 0) {
        // Restarted after a stop(): the members we kept are ours again only if the store still binds them so.
        const proofs = await this.#p.members.prove().catch((err: unknown) => {
          throw libraryError(err, StoreError, "cannot prove the kept members' bindings");
        });
        if (this.#overtaken(generation)) return await this.#closeIfLast();
        this.#p.members.retireUnproven(proofs);
      }
      this.#unsubscribe = subscribe(shim, (pdu, from) => this.#onPdu(pdu, from));
    } catch (err) {
      await this.#closeIfLast(); // a start that fails leaves nothing open: the store's lock or lease is let go
      throw err;
    }
    logStarted(this.#settings, this.#p.ledger, this.#p.telemetry);
    this.#p.members.resumeLeases(); // leases start again from a restart
    this.#p.ledger.resumeHolds(unserved, leaseMs + holdMs);
  }

  /** An overtaken start() closes the store it opened, unless another start() uses it (it runs, or is on its way). */
  async #closeIfLast(): Promise<void> {
    if (this.#starts === 1 && !this.running) await this.#p.ledger.close();
  }

  /** Whether a start() was overtaken by a stop() or another start() (or the enroller serves already). */
  #overtaken(generation: number): boolean {
    return this.running || generation !== this.#generation;
  }

  /**
   * Stops answering and clears every timer and half-finished enrollment,
   * then tells every member it serves, and every member whose enrollment
   * has its address, that it stops: M_RELEASE, sent twice (so that one lost
   * datagram does not leave a member waiting for its connection timeout),
   * `releasePerSecond` members a second (they enrol again elsewhere at
   * once), no answer awaited, the last sends bounded by 1 s. Those members fail over to
   * another enroller at once; the enroller forgets them and holds their
   * addresses (re-armed by a later {@link start}). Members it could not tell
   * (the shim is closed) stay listed, as do the address bindings. The store
   * closes once binds in flight are answered (at most 5 s); nothing is
   * written after: releases wait, held, for the next start. A {@link start}
   * called meanwhile waits for this to finish. The shim is the caller's.
   */
  async stop(): Promise<void> {
    this.#generation++;
    const serving = this.running;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#p.ledger.unfence(); // a later start() opens the store afresh
    // Everything that runs on timers ends now, before anything is awaited.
    const leaving = serving ? farewellsOf(this.#p.members.values(), this.#p.sessions.entries()) : [];
    this.#p.sessions.clear();
    this.#p.connects.clear();
    this.#p.members.pauseLeases();
    this.#p.ledger.pauseHolds();
    this.#p.liveness.clear();
    const previous = this.#stopping;
    const stopping = (async () => {
      await previous;
      logReleasing(leaving.length, this.#settings.ipcpName, this.#p.telemetry); // M_RELEASE, twice, to each
      const told = await this.#p.outbox.sendFarewells(leaving, this.#settings.releasePerSecond);
      for (const member of told) this.#p.members.dismiss(member);
      await this.#p.ledger.close();
    })();
    this.#stopping = stopping;
    try {
      await stopping;
    } finally {
      if (this.#stopping === stopping) this.#stopping = undefined;
    }
  }

  /** The enrolled members, in order of enrollment. */
  members(): MemberInfo[] {
    return [...this.#p.members.values()].map(memberInfo);
  }

  /** Enrollments in progress (M_CONNECT received, M_STOP_R not yet; not one whose M_START was refused for good). */
  get pendingEnrollments(): number {
    return this.#p.sessions.size;
  }

  /** Counters of what the enroller received and refused. */
  stats(): EnrollerStats & {
    /** Enrollments in progress (as {@link pendingEnrollments}). */
    pending: number;
    /** Members enrolled now. */
    members: number;
    /** Shim addresses whose message rate is tracked, at most `maxTrackedPeers`. */
    trackedPeers: number;
    /** Addresses of the pool bound to a name (members, held ones, and with a shared store other enrollers' too). */
    bound: number;
    /** Addresses of the pool bound to nobody. */
    free: number;
  } {
    const { bound, capacity } = this.#p.ledger;
    return {
      ...this.#p.stats,
      pending: this.#p.sessions.size,
      members: this.#p.members.size,
      trackedPeers: this.#p.rate.size,
      bound,
      free: capacity - bound,
    };
  }

  /** `await using enroller = new Enroller(...)` (started later): {@link stop} at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /** Admits a received PDU (size, rate, authentication, CDAP) and hands it to the handler of its op code. */
  #onPdu(received: Uint8Array, from: string): void {
    if (this.#p.probe.take(received)) return; // our own, back through the receive queue (see QueueProbe)
    this.#p.stats.received++;
    if (received.length > this.#settings.maxPduBytes) {
      this.#p.stats.oversize++;
      return;
    }
    if (!this.#p.rate.take(from)) {
      this.#p.stats.rateLimited++;
      return;
    }
    const opened: Opened | undefined =
      this.#p.auth.mechanism === 'hmac-sha256' ? this.#p.channels.open(received, from) : { pdu: received, via: 'plain', channel: null };
    if (opened === undefined) return;
    let msg: CdapMessage;
    try {
      msg = decodeCdapMessage(opened.pdu);
    } catch (err) {
      this.#p.stats.malformed++;
      this.#p.outbox.replyInvalid(err, from, opened.channel, this.#settings.ipcpName);
      return;
    }
    // A request without an invoke id cannot be answered (a reply must carry
    // one), and a retransmission of it could not be told from a new request.
    if (!isReply(msg.opCode) && !msg.invokeId) return;
    // A sign of life only from what the peer proves it sent (with HMAC-SHA256, a PDU opened by that member's or that
    // enrollment's own channel); unsealed, a PDU from a member's address is the member's, not a late M_CONNECT's there.
    const member = this.#p.members.at(from);
    const fromMember = member !== undefined && (opened.via === 'plain' || opened.via === 'member');
    if (fromMember) this.#p.members.seen(member);
    const session = this.#p.sessions.get(from);
    if (session !== undefined && !fromMember && enrollmentStep(opened)) {
      session.lastSeenAt = this.#settings.clock.now();
      if (opened.via === 'session') session.proven = true;
    }
    this.#exchange.handle(msg, from, opened, member);
  }
}
