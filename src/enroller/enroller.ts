/**
 * The enroller (bootstrap) side: admits members, assigns their addresses,
 * syncs its RIB to them and answers keepalives.
 *
 * The class is a facade: it starts and stops, admits PDUs, and hands each
 * to the handler of its op code. Its parts do the work: the address ledger
 * (store, pool, holds, fence), the session table, the member registry, the
 * liveness probes, the admission guards, the address assigner, the channel
 * opener and the outbox.
 *
 * @module
 */
import { NodeCompatibleEmitter } from '../util/node-emitter.js';
import type { SecureChannel } from '../auth/channel.js';
import { decodeCdapMessage, decodeEnrollmentInfo } from '../cdap/codec.js';
import { isEnrollmentObject, KEEPALIVE_OBJECT, Result } from '../cdap/messages.js';
import { type CdapMessage, type EnrollmentInfo, isReply, OpCode } from '../cdap/types.js';
import { libraryError, RibError, StoreError } from '../errors.js';
import { RibNames } from '../rib/rib.js';
import type { Opened } from './channels.js';
import type { EnrollerEvents, EnrollerStats, MemberInfo } from './events.js';
import { type MemberRecord, memberInfo } from './members.js';
import { type EnrollerOptions, type EnrollerSettings, resolveEnrollerOptions } from './options.js';
import { answerKeepalive } from './keepalive.js';
import { farewellsOf } from './outbox.js';
import { assembleParts, type EnrollerParts } from './parts.js';
import { logReleasing, logSkipped, logStarted, subscribe } from './started.js';

/** What a handler of one op code is given: the message, its sender, how it was opened, and the member there (if any). */
type Handler = (msg: CdapMessage, from: string, opened: Opened, member: MemberRecord | undefined) => void;

/**
 * With HMAC-SHA256 a PDU acts only on what its channel belongs to: the
 * enrollment's steps on the enrollment, a keepalive on the member (or on the
 * enrollment it completes). One withheld under an older channel and
 * delivered late cannot touch a newer enrollment.
 */
const enrollmentStep = ({ via }: Opened): boolean => via === 'plain' || via === 'session';

/**
 * The bootstrap IPCP's enrollment service. It runs the exchange of
 * docs/PROTOCOL.md for any number of members at once; every retransmitted
 * request is answered idempotently.
 */
export class Enroller extends NodeCompatibleEmitter<EnrollerEvents> {
  readonly #settings: EnrollerSettings;
  readonly #p: EnrollerParts;
  /** The dispatch table: the handler of each op code the enroller answers (others: "not supported", replies: nothing). */
  readonly #handlers: ReadonlyMap<OpCode, Handler>;
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
    this.#handlers = new Map<OpCode, Handler>([
      [OpCode.M_CONNECT, (msg, from) => this.#p.connects.answer(msg, from)],
      [
        OpCode.M_START,
        (msg, from, opened) => {
          if (enrollmentStep(opened)) this.#startSafely(msg, from, opened.channel);
        },
      ],
      [
        OpCode.M_STOP_R,
        (msg, from, opened) => {
          if (enrollmentStep(opened)) this.#onStopReply(msg, from, opened.channel);
        },
      ],
      [OpCode.M_READ, (msg, from, opened, member) => this.#onRead(msg, from, opened, member)],
      [OpCode.M_RELEASE, (msg, from, opened) => this.#onRelease(msg, from, opened.channel)],
    ]);
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
   * no answer awaited, the sends bounded by 1 s. Those members fail over to
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
      for (const member of await this.#p.outbox.sendFarewells(leaving)) this.#p.members.dismiss(member);
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

  /** Enrollments in progress (CONNECT received, STOP_R not yet). */
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
    try {
      const handler = this.#handlers.get(msg.opCode);
      if (handler !== undefined) handler(msg, from, opened, member);
      // Replies (M_CREATE_R for the RIB sync, ...) need no answer.
      else if (!isReply(msg.opCode))
        this.#p.outbox.reply(from, msg, Result.FAILED, 'operation not supported by the enroller', opened.channel);
    } catch {
      // Nothing a peer sends may stop the enroller: a handler that fails
      // simply does not answer, and the peer retransmits or gives up.
    }
  }

  /** Answers an M_START; any failure of a part (a RIB that breaks its contract, ...) is answered "enroller failure". */
  #startSafely(msg: CdapMessage, from: string, channel: SecureChannel | null): void {
    this.#onStart(msg, from, channel).catch(() => this.#p.outbox.reply(from, msg, Result.FAILED, 'enroller failure', channel));
  }

  /** Answers an M_START: settles once the address is bound and the burst sent (or the request refused). */
  async #onStart(msg: CdapMessage, from: string, channel: SecureChannel | null): Promise<void> {
    const session = this.#p.sessions.get(from);
    if (!isEnrollmentObject(msg)) {
      this.#p.outbox.reply(from, msg, Result.FAILED, `cannot start ${msg.objName ?? 'that object'}`, channel);
      return;
    }
    if (session === undefined) {
      this.#p.outbox.reply(from, msg, Result.NOT_CONNECTED, 'not connected: send M_CONNECT first', channel);
      return;
    }
    const request = { msg, from, channel, session };
    if (session.startInvokeId === msg.invokeId) {
      this.#p.assigner.repeat(request);
      return;
    }
    let info: EnrollmentInfo;
    try {
      info = decodeEnrollmentInfo(msg.objValue?.byteval ?? new Uint8Array());
    } catch (err) {
      this.#p.outbox.reply(from, msg, Result.FAILED, (err as Error).message, channel);
      return;
    }
    await this.#p.assigner.answer(request, { requested: info.address ?? 0, proof: info.authProof });
  }

  #onStopReply(msg: CdapMessage, from: string, channel: SecureChannel | null): void {
    const session = this.#p.sessions.get(from);
    const ok = (msg.result ?? 0) === 0;
    if (session === undefined && ok && this.#p.members.at(from) === undefined) {
      // It believes it completed an enrollment we no longer hold (forgotten, or taken over by another incarnation of its name).
      this.#p.outbox.sendRelease(from, channel);
      return;
    }
    // (a reply always carries an invoke id: one to an M_STOP not sent yet matches none)
    if (session === undefined || session.stopInvokeId !== msg.invokeId) return;
    // A shared store that moved the name's binding meanwhile (another enroller's doing) leaves its address unproven too.
    const moved = session.address !== undefined && !this.#p.members.holdsAddress(session.name, session.address);
    // What completes is the binding, proven under the fence count it was made under (not a later M_START's failed bind's).
    if (ok && (moved || !this.#p.ledger.proven(session.boundUnder))) {
      if (!moved && this.#p.ledger.awaitsProof(session.boundUnder)) return; // the lease may be alive: M_STOP asks again
      // Its address was bound under a lease that lapsed since, or moved: not proven, so not completed; it enrols again.
      this.#p.outbox.sendRelease(from, channel);
      this.#p.sessions.abandon(from, session);
      return;
    }
    if (ok) this.#p.sessions.complete(from, session);
    else this.#p.sessions.abandon(from, session); // refused: what it bound goes back (held if its member was told it)
    if (ok && session.address !== undefined) this.#p.members.enrol(session.name, session.address, from, session.channel);
  }

  #onRead(msg: CdapMessage, from: string, opened: Opened, known: MemberRecord | undefined): void {
    const { channel } = opened; // (never unsealed: only M_CONNECT gets through unsealed)
    const keepalive = msg.objClass === KEEPALIVE_OBJECT.objClass;
    let member = known;
    const session = this.#p.sessions.get(from);
    if (keepalive && member === undefined && session?.stopInvokeId !== undefined && enrollmentStep(opened)) {
      // Only an enrolled member sends keepalives: one whose M_STOP went out
      // and whose M_STOP_R was lost has completed its enrollment (no round trip to measure).
      this.#p.sessions.unsampled(session);
      this.#onStopReply({ opCode: OpCode.M_STOP_R, invokeId: session.stopInvokeId, result: 0 }, from, channel);
      member = this.#p.members.at(from);
      if (member === undefined && this.#p.sessions.get(from) === session && this.#p.members.waits()) {
        this.#p.stats.keepalivesInDoubt++; // its enrollment waits for the lease to be proven (see #onStopReply): so does it
        return;
      }
    }
    if (keepalive && member !== undefined) {
      answerKeepalive(this.#p, msg, from, member, channel);
    } else {
      const reason = member === undefined ? 'not enrolled' : `cannot read ${msg.objName ?? 'that object'}`;
      this.#p.outbox.reply(from, msg, Result.FAILED, reason, channel);
    }
  }

  #onRelease(msg: CdapMessage, from: string, channel: SecureChannel | null): void {
    const session = this.#p.sessions.get(from);
    if (session !== undefined) this.#p.sessions.abandon(from, session);
    const member = this.#p.members.at(from);
    if (member !== undefined) this.#p.members.retire(member, 'released');
    this.#p.outbox.reply(from, msg, Result.OK, undefined, channel);
  }
}
