/**
 * Whether an M_CONNECT is admitted: a list of guards, each refusing what it
 * must or passing the request on, then the credentials, then the guards that
 * need them.
 *
 * @module
 */
import type { ConnectVerdict, EnrollerAuth } from '../auth/auth.js';
import { encodeCdapMessage } from '../cdap/codec.js';
import { busyReason, InvokeIds, Result, replyTo } from '../cdap/messages.js';
import type { CdapMessage } from '../cdap/types.js';
import type { Clock } from '../util/clock.js';
import type { Telemetry } from '../util/telemetry.js';
import { countRefusal, type EnrollerEvents, type EnrollerStats } from './events.js';
import type { AddressLedger } from './ledger.js';
import type { Liveness } from './liveness.js';
import type { Outbox } from './outbox.js';
import { GivenSlots } from './given-slots.js';
import type { Session, SessionTable } from './sessions.js';

/** An M_CONNECT being judged. */
export interface ConnectRequest {
  /** The M_CONNECT. */
  readonly msg: CdapMessage;
  /** The IPCP name it asks for (`src_ap_name`, or ''). */
  readonly name: string;
  /** The shim address it came from. */
  readonly from: string;
  /** The enrollment in progress from there, if any. */
  readonly existing: Session | undefined;
}

/** The credentials of an M_CONNECT, accepted. */
export type AcceptedCredentials = Extract<ConnectVerdict, { ok: true }>;

/** An M_CONNECT whose credentials were accepted. */
export interface CredentialedRequest extends ConnectRequest {
  /** What the credentials gave: the reply's proof, and with HMAC-SHA256 the member's check and the channel. */
  readonly verdict: AcceptedCredentials;
  /** Another holds the name and the newcomer has a proof still to give: the name is contested at M_START. */
  readonly contested: boolean;
}

/** Why an M_CONNECT is refused (counted by its result: see {@link countRefusal}). */
export interface Refusal {
  /** Why, in words: the reply's `result_reason`. */
  readonly reason: string;
  /** The reply's result code. */
  readonly result: number;
}

/** One check: a refusal, or nothing (the request passes). */
export type Guard<R extends ConnectRequest = ConnectRequest> = (request: R) => Refusal | undefined;

/**
 * A member names the DIF or this IPCP; one that knows neither names the
 * enroller's shim address (`isShimAddress`: the advertised one, or the
 * address the member sent to).
 */
export function destinationGuard(ipcpName: string, difName: string, isShimAddress: (name: string) => boolean): Guard {
  return ({ msg }) =>
    msg.destApName === ipcpName || msg.destApName === difName || (msg.destApName !== undefined && isShimAddress(msg.destApName))
      ? undefined
      : { reason: `unknown destination "${msg.destApName}": this is "${ipcpName}" of DIF "${difName}"`, result: Result.FAILED };
}

/** Only the names of the allow-list, if there is one, may enrol. */
export function allowListGuard(allowed: ReadonlySet<string> | undefined): Guard {
  return ({ name }) =>
    allowed === undefined || allowed.has(name)
      ? undefined
      : { reason: `IPCP name "${name}" is not allowed to enrol`, result: Result.AUTH_FAILED };
}

/**
 * A new enrollment beyond `maxPending` in progress (candidates included) is
 * answered "busy", with the ms after which to ask again (`retryIn`, called
 * once per refusal: see `ReturnSlots`). One from an address with an
 * enrollment in progress replaces it, and is let in; with HMAC-SHA256 it
 * does not (it waits beside it as a candidate until it proves itself), so it
 * counts as a new one: a keyless M_CONNECT from every such address would
 * otherwise double what is in progress.
 */
export function capacityGuard(inProgress: () => number, maxPending: number, retryIn: (request: ConnectRequest) => number): Guard {
  return (request) => {
    const pending = inProgress();
    // (one that replaces an enrollment in progress adds none: not one refused for good, which counts for none)
    const replaces = request.existing !== undefined && request.existing.channel === null && request.existing.refused !== true;
    if (replaces || pending < maxPending) return undefined;
    const retryInMs = retryIn(request);
    return { reason: busyReason(`${pending} enrollments in progress`, retryInMs), result: Result.BUSY };
  };
}

/**
 * A new enrollment is answered "busy" while a bind started now would wait
 * longer than `maxWaitMs` for the address store (see `StorePace`): admitted,
 * it would queue behind binds the store completes too slowly, and its
 * member would give up and ask again before its address was stored, the
 * work done for it lost. Told "busy" and when to ask again (`retryIn`, as
 * {@link capacityGuard}), it comes back when the queue is shorter. The same
 * member asking again is let in: it keeps what was bound for it.
 */
export function storeGuard(storeWaitMs: () => number, maxWaitMs: number, retryIn: (request: ConnectRequest) => number): Guard {
  return (request) => {
    if (request.existing?.name === request.name) return undefined;
    const waitMs = storeWaitMs();
    if (waitMs <= maxWaitMs) return undefined;
    const retryInMs = retryIn(request);
    const why = `the address store is slow (a bind now would wait about ${Math.round(waitMs)} ms)`;
    return { reason: busyReason(why, retryInMs), result: Result.BUSY };
  };
}

/**
 * The name must be the newcomer's: its live rivals refuse it (see
 * `Liveness.claim`). Nothing is done to them for a newcomer that has not
 * proven itself yet: a contested name is claimed at M_START.
 */
export function nameGuard(
  claim: (name: string, from: string) => { result: number; reason: string } | undefined,
): Guard<CredentialedRequest> {
  return ({ name, from, contested }) => {
    if (contested) return undefined;
    const refused = claim(name, from);
    if (refused === undefined) return undefined;
    return refused;
  };
}

/** The first refusal of `guards` for `request`, or undefined when every guard passes it. */
export function firstRefusal<R extends ConnectRequest>(guards: ReadonlyArray<Guard<R>>, request: R): Refusal | undefined {
  for (const guard of guards) {
    const refusal = guard(request);
    if (refusal !== undefined) return refusal;
  }
  return undefined;
}

/** What the admission needs besides its guards. */
export interface AdmissionSteps {
  /** Checked before the credentials. */
  readonly before: ReadonlyArray<Guard>;
  /** Judges the credentials (once: with HMAC-SHA256 it draws a nonce). */
  readonly credentials: (msg: CdapMessage) => ConnectVerdict;
  /** Whether another holds the name (from another shim address). */
  readonly rivalled: (name: string, from: string) => boolean;
  /** Checked after the credentials. */
  readonly after: ReadonlyArray<Guard<CredentialedRequest>>;
}

/**
 * Judges an M_CONNECT: the guards before the credentials, the credentials
 * (refused with AUTH_FAILED), then the guards after. The admitted request,
 * or the refusal.
 */
export function admit(request: ConnectRequest, steps: AdmissionSteps): CredentialedRequest | Refusal {
  const early = firstRefusal(steps.before, request);
  if (early !== undefined) return early;
  const verdict = steps.credentials(request.msg);
  if (!verdict.ok) return { reason: verdict.reason, result: Result.AUTH_FAILED };
  const contested = verdict.checkProof !== undefined && steps.rivalled(request.name, request.from);
  const { msg, name, from, existing } = request;
  const credentialed: CredentialedRequest = { msg, name, from, existing, verdict, contested };
  return firstRefusal(steps.after, credentialed) ?? credentialed;
}

/** The parts a {@link ConnectAnswerer} works with. */
export interface ConnectParts {
  /** The enrollments in progress, where an admitted one goes. */
  readonly sessions: SessionTable;
  /** Who else holds a name. */
  readonly liveness: Liveness;
  /** The fence count a new enrollment starts under. */
  readonly ledger: AddressLedger;
  /** Where the answers go. */
  readonly outbox: Outbox;
  /** Where refusals are told. */
  readonly telemetry: Telemetry<EnrollerEvents>;
  /** Where refusals are counted. */
  readonly stats: EnrollerStats;
  /** The credentials' judge. */
  readonly auth: EnrollerAuth;
  /** The time a new enrollment starts at. */
  readonly clock: Clock;
}

/** What admission checks against. */
export interface ConnectSettings {
  /** The enroller's IPCP name. */
  readonly ipcpName: string;
  /** The DIF's name. */
  readonly difName: string;
  /** Whether a member that names this shim address means this enroller. */
  readonly isShimAddress: (name: string) => boolean;
  /** The allow-list of IPCP names, if any. */
  readonly allowedNames?: readonly string[] | undefined;
  /** Enrollments in progress at most. */
  readonly maxPendingEnrollments: number;
  /** The longest a new enrollment's bind may be expected to wait for the store. */
  readonly maxStoreWaitMs: number;
  /** First retransmission interval of a new enrollment's M_STOP. */
  readonly retransmitMs: number;
}

/** Whether `session` is the enrollment that the M_CONNECT `msg` (for `name`) repeats. */
function repeats(session: Session | undefined, msg: CdapMessage, name: string): session is Session {
  return session !== undefined && session.connectInvokeId === msg.invokeId && session.name === name;
}

/** The most slots an enroller remembers (see `GivenSlots`): a few MB. */
const MAX_KEPT_SLOTS = 65_536;

/** Answers M_CONNECT: a repeated one as before, a new one admitted (a new enrollment) or refused. */
export class ConnectAnswerer {
  readonly #p: ConnectParts;
  readonly #ipcpName: string;
  readonly #retransmitMs: number;
  readonly #steps: AdmissionSteps;
  readonly #given: GivenSlots;

  constructor(parts: ConnectParts, settings: ConnectSettings) {
    this.#p = parts;
    this.#given = new GivenSlots(Math.min(MAX_KEPT_SLOTS, 16 * settings.maxPendingEnrollments));
    this.#ipcpName = settings.ipcpName;
    this.#retransmitMs = settings.retransmitMs;
    const { liveness, sessions, auth, ledger } = parts;
    const retryIn = (request: ConnectRequest): number => this.#slotFor(request);
    this.#steps = {
      before: [
        destinationGuard(settings.ipcpName, settings.difName, settings.isShimAddress),
        allowListGuard(settings.allowedNames === undefined ? undefined : new Set(settings.allowedNames)),
      ],
      credentials: (msg) => auth.connect(msg),
      rivalled: (name, from) => liveness.rivalsOf(name, from).length > 0,
      after: [
        capacityGuard(() => sessions.inProgress, settings.maxPendingEnrollments, retryIn),
        storeGuard(() => ledger.storeWaitMs(), settings.maxStoreWaitMs, retryIn),
        nameGuard((n, f) => liveness.claim(n, f)),
      ],
    };
  }

  /** Answers the M_CONNECT `msg` from `from`. The answers go unsealed: the member has no channel yet (M_CONNECT_R carries the enroller's proof). */
  answer(msg: CdapMessage, from: string): void {
    const { sessions, outbox } = this.#p;
    const name = msg.srcApName ?? '';
    const existing = sessions.get(from);
    const candidate = repeats(existing, msg, name) ? existing : sessions.candidate(from);
    const repeated = repeats(candidate, msg, name) ? candidate : undefined;
    if (repeated !== undefined) {
      sessions.unsampled(repeated);
      outbox.sendBytes(from, repeated.connectReply, null);
      return;
    }
    const admitted = admit({ msg, name, from, existing }, this.#steps);
    if (!('verdict' in admitted)) {
      this.#refuse(msg, from, name, admitted);
      return;
    }
    const session = this.#newSession(admitted);
    if (existing !== undefined && session.channel !== null) {
      // Unproven, it does not end the enrollment in progress here (see SessionTable's candidates).
      sessions.setCandidate(from, session);
    } else {
      sessions.replace(from, session);
    }
    outbox.sendBytes(from, session.connectReply, null);
  }

  /** Forgets the slots given (the enroller stops). */
  clear(): void {
    this.#given.clear();
  }

  /**
   * The slot of a member refused "busy" now, in ms: the time left to the one
   * already given to this M_CONNECT (a retransmission), else a new one.
   */
  #slotFor({ from, msg }: ConnectRequest): number {
    const now = this.#p.clock.now();
    const left = this.#given.left(from, msg.invokeId, now);
    if (left !== undefined) return left;
    const ms = this.#p.sessions.retryInMs();
    if (msg.invokeId !== undefined) this.#given.keep(from, msg.invokeId, now + ms);
    return ms;
  }

  #refuse(msg: CdapMessage, from: string, name: string, refusal: Refusal): void {
    countRefusal(this.#p.stats, refusal.result);
    const { reason, result } = refusal;
    this.#p.outbox.reply(from, msg, result, reason, null);
    this.#p.telemetry.emit('enrollment:rejected', { shimAddress: from, name, reason, result });
  }

  /** The enrollment an admitted M_CONNECT starts. */
  #newSession({ msg, name, from, verdict, contested }: CredentialedRequest): Session {
    // Our own IPCP name answers, whatever name the member used: the HMAC proofs are bound to it.
    const connectReply = encodeCdapMessage({
      ...replyTo(msg, Result.OK),
      srcApName: this.#ipcpName,
      authMech: verdict.authMech,
      authValue: verdict.authValue,
    });
    const t = this.#p.clock.now();
    return {
      name,
      contested,
      fences: this.#p.ledger.fences,
      shimAddress: from,
      lastSeenAt: t,
      connectInvokeId: msg.invokeId ?? 0,
      connectReply,
      ids: new InvokeIds(2),
      createdAt: t,
      lastSentAt: t,
      retransmitMs: this.#retransmitMs,
      checkProof: verdict.checkProof,
      channel: verdict.channel ?? null,
    };
  }
}
