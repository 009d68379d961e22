/**
 * The enroller's answers to the steps of the exchange (docs/PROTOCOL.md):
 * one handler per op code it answers. The Enroller (enroller.ts) admits each PDU
 * first (size, rate, channel, CDAP) and hands it here with the member at
 * its sender's address, if any.
 *
 * @module
 */
import type { SecureChannel } from '../auth/channel.js';
import { decodeEnrollmentInfo } from '../cdap/codec.js';
import { isEnrollmentObject, KEEPALIVE_OBJECT, Result } from '../cdap/messages.js';
import { type CdapMessage, type EnrollmentInfo, isReply, OpCode } from '../cdap/types.js';
import type { Opened } from './channels.js';
import { answerKeepalive } from './keepalive.js';
import type { MemberRecord } from './members.js';
import type { EnrollerParts } from './parts.js';

/** What a handler of one op code is given: the message, its sender, how it was opened, and the member there (if any). */
type Handler = (msg: CdapMessage, from: string, opened: Opened, member: MemberRecord | undefined) => void;

/**
 * With HMAC-SHA256 a PDU acts only on what its channel belongs to: the
 * enrollment's steps on the enrollment, a keepalive on the member (or on the
 * enrollment it completes). One withheld under an older channel and
 * delivered late cannot touch a newer enrollment.
 */
export const enrollmentStep = ({ via }: Opened): boolean => via === 'plain' || via === 'session';

/** The handler of each op code the enroller answers (others: "not supported"; replies: nothing). */
export class Exchange {
  readonly #p: EnrollerParts;
  readonly #handlers: ReadonlyMap<OpCode, Handler>;

  constructor(parts: EnrollerParts) {
    this.#p = parts;
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

  /** Hands an admitted message to the handler of its op code. Nothing a peer sends throws out of it. */
  handle(msg: CdapMessage, from: string, opened: Opened, member: MemberRecord | undefined): void {
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
