/**
 * Answering an M_START: the checks a proven newcomer must pass, its address
 * bound through the store (undone if the store fails), and the reply burst
 * M_START_R, the RIB's M_CREATEs and M_STOP, encoded once and kept for a
 * retransmitted M_START.
 *
 * @module
 */
import type { SecureChannel } from '../auth/channel.js';
import { encodeCdapMessage } from '../cdap/codec.js';
import { createRequest, enrollmentMessage, Result, replyTo, StartReplyInfo } from '../cdap/messages.js';
import { type CdapMessage, type DataTransferConstants, OpCode } from '../cdap/types.js';
import { type Rib, RibNames, type RibObject } from '../rib/rib.js';
import type { Clock } from '../util/clock.js';
import type { Telemetry } from '../util/telemetry.js';
import type { Assignment } from './address-pool.js';
import { countRefusal, type EnrollerEvents, type EnrollerStats } from './events.js';
import type { AddressLedger } from './ledger.js';
import type { Liveness } from './liveness.js';
import type { MemberRegistry } from './members.js';
import type { Outbox } from './outbox.js';
import { inherit, type Session, type SessionTable } from './sessions.js';

/** What a member whose M_START proof fails is told (-6): who refused whom. */
const MEMBER_PROOF_REFUSED = "authentication failed: the enroller refused the member's proof (the keys differ on the two sides)";

/** What an M_START is answered ("unavailable", -4) while the shared store cannot prove bindings current. */
const FENCED_REASON = 'the enroller cannot store addresses now: it lost its lease in the shared store';
const DOUBT_REASON = 'the enroller cannot store addresses now: it is asking the shared store whether its lease is alive';

/** Proposals a shared store may refuse (taken by another enroller) before the member is told to come back. */
const MAX_BIND_TRIES = 8;

/** What a new M_START's bind starts from. */
interface Binding {
  /** The name's address in the pool before it. */
  readonly heldBefore: number | undefined;
  /** The address the session has bound and proven already, not to be stored again. */
  readonly kept: number | undefined;
  /** The name had no address before this member's enrollment: it is freed, not held, if the enrollment never completes. */
  readonly fresh: boolean;
}

/**
 * The address bound already for this member, by this enrollment or the one
 * it replaced (see SessionTable.replace), if that binding is still proven:
 * made under the fence count in force, and still the name's in the pool
 * (`inPool`: a shared store's news may have unbound it since).
 */
function keptBinding({ address, boundUnder }: Session, inPool: number | undefined, ledger: AddressLedger): number | undefined {
  return address !== undefined && address === inPool && ledger.proven(boundUnder) ? address : undefined;
}

/** Whether `current`, the enrollment now in progress from where `replaced` came, is the same member's that can take over its binding: the same name, uncontested, before its own M_START. */
function heir(current: Session, replaced: Session): boolean {
  return current.name === replaced.name && !current.contested && current.startInvokeId === undefined && current.address === undefined;
}

/** An M_START to answer, for the enrollment in progress it belongs to. */
export interface StartRequest {
  /** The M_START. */
  readonly msg: CdapMessage;
  /** Where it came from. */
  readonly from: string;
  /** The channel that opened it (null: unsealed). */
  readonly channel: SecureChannel | null;
  /** Its enrollment. */
  readonly session: Session;
}

/** What a new M_START carries (its EnrollmentInfo, decoded). */
export interface StartInfo {
  /** The address the member asks for (0: any). */
  readonly requested: number;
  /** The member's proof (HMAC-SHA256). */
  readonly proof: Uint8Array | undefined;
}

/** The parts an {@link AddressAssigner} works with. */
export interface AssignerParts {
  /** Where addresses are proposed, bound and held. */
  readonly ledger: AddressLedger;
  /** The enrollments in progress. */
  readonly sessions: SessionTable;
  /** The members (a full DIF refuses newcomers). */
  readonly members: MemberRegistry;
  /** Who else holds a contested name. */
  readonly liveness: Liveness;
  /** Where the answers go. */
  readonly outbox: Outbox;
  /** Where refusals are told. */
  readonly telemetry: Telemetry<EnrollerEvents>;
  /** Where refusals are counted. */
  readonly stats: EnrollerStats;
  /** The RIB synced to members. */
  readonly rib: Rib;
  /** When the burst was sent. */
  readonly clock: Clock;
}

/** What M_START_R tells, besides the address. */
export interface AssignerSettings {
  /** The DIF's name. */
  readonly difName: string;
  /** The data-transfer constants. */
  readonly dtConstants: DataTransferConstants;
  /** Members at most. */
  readonly maxMembers: number;
  /** The enrollers members may fail over to, now. */
  readonly alternates: () => string[];
}

/** Answers M_STARTs: admits, assigns, binds, and sends the burst. */
export class AddressAssigner {
  readonly #p: AssignerParts;
  readonly #settings: AssignerSettings;
  /** M_START_R's EnrollmentInfo: the DT constants and the DIF name encoded once. */
  readonly #info: StartReplyInfo;

  constructor(parts: AssignerParts, settings: AssignerSettings) {
    this.#p = parts;
    this.#settings = settings;
    this.#info = new StartReplyInfo(settings.difName, settings.dtConstants);
  }

  /**
   * Answers a new M_START of `request.session`: refused, or its address bound
   * and the burst sent. One at a time: an M_START with another invoke id that
   * comes while one is answered (an older attempt's, late in the network) is
   * dropped, and its retransmission is answered once this answer is out. Two
   * binds of one enrollment would each act on the other's result (a failed
   * one's undo would free the address the other told the member).
   */
  async answer(request: StartRequest, info: StartInfo): Promise<void> {
    const { session } = request;
    if (session.answering === true) return;
    session.answering = true;
    try {
      await this.#answer(request, info);
    } finally {
      session.answering = false;
    }
  }

  async #answer(request: StartRequest, info: StartInfo): Promise<void> {
    if (!this.#admit(request, info.proof)) return;
    const { msg, session } = request;
    const { ledger } = this.#p;
    const heldBefore = ledger.addressOf(session.name);
    const kept = keptBinding(session, heldBefore, ledger);
    session.fences = ledger.fences;
    session.startInvokeId = msg.invokeId ?? 0;
    session.burst = undefined;
    const binding = { heldBefore, kept, fresh: heldBefore === undefined || session.newBinding === true };
    const assignment = await this.#bind(request, info.requested, binding);
    if (assignment === undefined) return;
    if (!assignment.ok) {
      this.#refusedForGood(request, Result.FAILED, assignment.reason);
      return;
    }
    this.#took(session, assignment.address, binding.fresh);
    let objects: RibObject[];
    try {
      objects = await this.#p.rib.list();
    } catch (err) {
      this.#setBack(request, Result.FAILED, `enroller RIB failure: ${(err as Error).message}`, false);
      return;
    }
    this.#sendBurst(request, assignment.address, objects);
  }

  /** A retransmitted M_START: the same answer, the same address (unless the binding is no longer proven). */
  repeat(request: StartRequest): void {
    const { session } = request;
    const { ledger } = this.#p;
    if (!ledger.proven(session.fences)) {
      if (ledger.awaitsProof(session.fences)) return; // the lease may be alive: the member asks again
      // Bound under a lease that lapsed since: it must not complete on that binding.
      this.#unavailable(request);
      return;
    }
    if (session.burst === undefined) return;
    this.#p.sessions.unsampled(session);
    for (const pdu of session.burst) this.#p.outbox.sendBytes(request.from, pdu, session.channel);
  }

  /** The checks of a new M_START; false when it was refused (and answered). */
  #admit(request: StartRequest, proof: Uint8Array | undefined): boolean {
    const { msg, from, channel, session } = request;
    const { outbox, members, ledger } = this.#p;
    if (session.checkProof !== undefined && !session.checkProof(proof)) {
      outbox.reply(from, msg, Result.AUTH_FAILED, MEMBER_PROOF_REFUSED, channel);
      this.#p.sessions.abandon(from, session);
      this.#rejected(request, Result.AUTH_FAILED, MEMBER_PROOF_REFUSED);
      return false;
    }
    if (!members.has(session.name) && members.size >= this.#settings.maxMembers) {
      this.#refusedForGood(request, Result.FAILED, `the DIF is full: ${this.#settings.maxMembers} members`);
      return false;
    }
    if (!ledger.vouching()) {
      this.#fenced(request);
      return false;
    }
    if (!session.contested) return true;
    // Proven now: the newcomer contests the name (a busy answer keeps the session; it asks again).
    const claim = this.#p.liveness.claim(session.name, from);
    if (claim === undefined) {
      this.#p.sessions.won(session);
      return true;
    }
    if (claim.result !== Result.BUSY) {
      this.#refusedForGood(request, claim.result, claim.reason);
      return false;
    }
    outbox.reply(from, msg, claim.result, claim.reason, channel);
    this.#rejected(request, claim.result, claim.reason);
    return false;
  }

  /** `session` has `address` now, bound under its fence count (`fresh`: the name had none before it): the name is back, its hold ends here. */
  #took(session: Session, address: number, fresh: boolean): void {
    session.address = address;
    session.boundUnder = session.fences;
    session.newBinding = fresh;
    // An abandoned session holds it again, at least for what was left.
    const heldUntil = this.#p.ledger.endHold(session.name);
    if (heldUntil !== undefined) session.heldUntil = Math.max(session.heldUntil ?? 0, heldUntil);
  }

  /**
   * Proposes an address and binds it through the store before anyone hears
   * of it: a crash from here on loses an address nobody was told, never one
   * somebody holds. A shared store may refuse because another enroller took
   * the name or the address first: it has told the pool what it found, and
   * the pool proposes again. An address the session has bound already
   * (`kept`) is not stored again. The assignment made, or undefined when the
   * M_START was answered otherwise (or its enrollment ended meanwhile).
   */
  async #bind(request: StartRequest, requested: number, { heldBefore, kept, fresh }: Binding): Promise<Assignment | undefined> {
    const { from, session } = request;
    const { ledger, sessions } = this.#p;
    let assignment = ledger.assign(session.name, requested);
    if (assignment.ok && assignment.address === kept) return assignment;
    for (let tries = 1; assignment.ok; tries++) {
      const binding = { name: session.name, address: assignment.address };
      let stored: unknown;
      const flight = { left: false };
      session.binding = true;
      try {
        stored = await ledger.bind(binding, flight);
      } catch (err) {
        // (unless a newer enrollment of the name is past its M_START: what the pool has for it is that one's now)
        const newer = sessions.holding(session.name);
        if (newer === undefined || newer === session || !sessions.serving(session.name)) ledger.undo(binding, heldBefore);
        this.#setBack(request, Result.UNAVAILABLE, `the enroller cannot store addresses now: ${(err as Error).message}`, true);
        this.#bindFailed(session.name, heldBefore);
        return undefined;
      } finally {
        session.binding = false;
      }
      const current = sessions.get(from);
      if (current !== session) {
        // Refused, for an enrollment ended or replaced meanwhile: the name goes as an abandoned enrollment's would (a
        // record's it took the place of; or a binding the refusal showed, which nothing else would hold).
        if (stored === false) {
          this.#bindFailed(session.name, heldBefore);
          return undefined;
        }
        if (current !== undefined && heir(current, session)) {
          // The same member asked again meanwhile: its new enrollment takes the binding over (see SessionTable.replace).
          this.#took(session, assignment.address, fresh);
          inherit(current, session);
          // Left here while the bind was in flight (see BindFlights): a shared store counted it for nothing and deletes
          // its mark as a stray. Not kept then: the heir's M_START binds again, and marks it.
          if (flight.left) current.boundUnder = undefined;
        } else {
          // Replaced by another, or stopped: whatever was bound for it is let go like an abandoned enrollment's.
          this.#orphaned(session.name, heldBefore, assignment.address);
        }
        return undefined;
      }
      if (stored !== false) {
        if (ledger.proven(session.fences)) return assignment;
        // The lease lapsed while the bind was in flight: the binding is not proven.
        session.address = assignment.address;
        session.newBinding = fresh;
        this.#unavailable(request);
        return undefined;
      }
      if (tries === MAX_BIND_TRIES) {
        this.#setBack(request, Result.BUSY, `busy: ${tries} addresses were taken by other enrollers meanwhile, try again`, false);
        this.#bindFailed(session.name, heldBefore);
        return undefined;
      }
      assignment = ledger.assign(session.name, requested);
    }
    return assignment;
  }

  /** Sends M_START_R (with `address`), the RIB's objects and M_STOP, and keeps them for a repeated M_START. */
  #sendBurst(request: StartRequest, address: number, ribObjects: readonly RibObject[]): void {
    const { from, session } = request;
    if (this.#p.sessions.get(from) !== session) return; // replaced or stopped meanwhile
    if (!this.#p.ledger.proven(session.fences)) {
      this.#unavailable(request);
      return;
    }
    const info = this.#info.encode(address, this.#settings.alternates());
    const startReply = enrollmentMessage(OpCode.M_START_R, session.startInvokeId as number, info, Result.OK);
    const creates: CdapMessage[] = [];
    for (const o of ribObjects) if (!o.name.startsWith(RibNames.localPrefix)) creates.push(createRequest(session.ids.next(), o));
    session.stopInvokeId = session.ids.next();
    const stop = enrollmentMessage(OpCode.M_STOP, session.stopInvokeId, { startEarly: true, ribObjectCount: creates.length });
    try {
      session.burst = [startReply, ...creates, stop].map(encodeCdapMessage);
    } catch (err) {
      this.#setBack(request, Result.FAILED, `cannot encode the RIB: ${(err as Error).message}`, false);
      return;
    }
    this.#p.sessions.burstSent(session);
    session.told = true;
    for (const pdu of session.burst) this.#p.outbox.sendBytes(from, pdu, session.channel);
  }

  /** The M_START is refused for good: the refusal is its answer, a repeat of it gets the same (neither counted nor told again). */
  #refusedForGood(request: StartRequest, result: number, reason: string): void {
    const { msg, session } = request;
    const reply = encodeCdapMessage(replyTo(msg, result, reason));
    session.startInvokeId = msg.invokeId ?? 0;
    session.burst = [reply];
    this.#p.outbox.sendBytes(request.from, reply, session.channel);
    this.#rejected(request, result, reason);
  }

  /** The M_START could not be answered now: it is refused, and a repeat of it is answered anew. */
  #setBack(request: StartRequest, result: number, reason: string, tell: boolean): void {
    request.session.startInvokeId = undefined;
    this.#p.outbox.reply(request.from, request.msg, result, reason, request.channel);
    if (tell) this.#rejected(request, result, reason);
  }

  /**
   * The bind of an enrollment failed or was refused, and it is no longer past
   * M_START: the name's earlier binding (`heldBefore`) is let go as an
   * abandoned enrollment's would be, held (a member record retired meanwhile
   * left it to this enrollment), unless a member or another enrollment holds
   * the name here. With no earlier binding, a binding the pool has learned
   * for the name since (another enroller's, or this one's own bind committed
   * with its answer lost) is held the same way, never freed from here at
   * once (its marks may be gone for a lapse): before, nothing held it, and
   * the pool kept it for good while etcd bound it unmarked.
   */
  #bindFailed(name: string, heldBefore: number | undefined): void {
    if (heldBefore !== undefined || this.#p.ledger.addressOf(name) !== undefined) this.#orphaned(name, heldBefore);
  }

  /**
   * A binding made for an enrollment replaced or stopped meanwhile is let go like an abandoned enrollment's. One it
   * made anew (`bound`), still the pool's for the name, is freed at once; anything else the pool has for the name
   * by now (another enroller's newer binding, whose marks a lease lapse may have taken) is held like any other.
   */
  #orphaned(name: string, heldBefore: number | undefined, bound?: number): void {
    const { ledger, members, sessions } = this.#p;
    if (members.has(name) || sessions.serving(name)) return;
    if (heldBefore === undefined && bound !== undefined && ledger.addressOf(name) === bound) {
      ledger.free(name);
      return;
    }
    ledger.leave(name);
    if (!ledger.holding(name)) ledger.hold(name);
  }

  /** Answers an M_START "unavailable": the shared store cannot prove a binding now. */
  #fenced({ from, msg, session }: StartRequest): void {
    const reason = this.#p.ledger.doubting && !this.#p.ledger.fenced ? DOUBT_REASON : FENCED_REASON;
    this.#p.outbox.reply(from, msg, Result.UNAVAILABLE, reason, session.channel);
    this.#rejected({ from, msg, session, channel: session.channel }, Result.UNAVAILABLE, reason);
  }

  /** As {@link #fenced}, and the enrollment is let go (its address was bound under a lease that lapsed). */
  #unavailable(request: StartRequest): void {
    this.#fenced(request);
    this.#p.sessions.abandon(request.from, request.session);
  }

  /**
   * A refusal answered: counted (see `countRefusal`) and told. One final for the member (not "busy" or "unavailable",
   * which it retries) ends the enrollment's place among those in progress.
   */
  #rejected({ from, session }: StartRequest, result: number, reason: string): void {
    countRefusal(this.#p.stats, result);
    if (result !== Result.BUSY && result !== Result.UNAVAILABLE) this.#p.sessions.refused(session, true);
    this.#p.telemetry.emit('enrollment:rejected', { shimAddress: from, name: session.name, reason, result });
  }
}
