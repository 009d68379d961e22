/**
 * The member's answers to what an enroller asks of it: RIB updates,
 * keepalives (its own enroller's, and the liveness probes of enrollers it
 * left), a repeated M_STOP, M_RELEASE, and a failure for a malformed request.
 *
 * @module
 */
import type { SecureChannel } from '../auth/channel.js';
import { decodeCdapMessage } from '../cdap/codec.js';
import { isEnrollmentObject, KEEPALIVE_OBJECT, Result, replyTo } from '../cdap/messages.js';
import { type CdapMessage, isReply, OpCode } from '../cdap/types.js';
import { ProtocolError, RibError } from '../errors.js';
import { type Rib, syncedNameProblem } from '../rib/rib.js';

/** What the responder needs from the manager. */
export interface ResponderInit {
  readonly rib: Rib;
  /** Sends a reply through `channel` (the one that opened the request); a failed send is a lost datagram. */
  send(to: string, msg: CdapMessage, channel: SecureChannel | undefined): void;
  /** The enroller released the member. */
  released(): void;
}

/** Whether `msg` is a keepalive M_READ (an enroller's keepalive or liveness probe). */
function isKeepaliveRequest(msg: CdapMessage): boolean {
  return msg.opCode === OpCode.M_READ && msg.objClass === KEEPALIVE_OBJECT.objClass && msg.invokeId !== undefined && msg.invokeId !== 0;
}

/** Answers a keepalive M_READ from a known enroller that is not the current one; anything else from it is ignored. */
export function answerProbe(init: ResponderInit, pdu: Uint8Array, from: string, channel: SecureChannel | undefined): void {
  let msg: CdapMessage;
  try {
    msg = decodeCdapMessage(pdu);
  } catch {
    return;
  }
  answerKeepalive(init, msg, from, channel);
}

/** Answers `msg` if it is a keepalive M_READ: the member is alive, whatever its state. */
export function answerKeepalive(init: ResponderInit, msg: CdapMessage, from: string, channel: SecureChannel | undefined): void {
  if (isKeepaliveRequest(msg)) init.send(from, replyTo(msg), channel);
}

/** A malformed request that names its operation and invoke id gets a failure answer. */
export function answerMalformed(init: ResponderInit, err: unknown, from: string, channel: SecureChannel | undefined): void {
  if (err instanceof ProtocolError && err.opCode !== undefined && !isReply(err.opCode as OpCode) && err.invokeId) {
    init.send(from, replyTo({ opCode: err.opCode as OpCode, invokeId: err.invokeId }, Result.FAILED, err.message), channel);
  }
}

/** Answers what the bootstrap asks of an enrolled member: RIB updates, keepalives, a repeated M_STOP, M_RELEASE. */
export async function serve(init: ResponderInit, msg: CdapMessage, from: string, channel: SecureChannel | undefined): Promise<void> {
  switch (msg.opCode) {
    case OpCode.M_STOP:
      // Our M_STOP_R was lost: the enroller asks again.
      init.send(from, isEnrollmentObject(msg) ? replyTo(msg) : replyTo(msg, Result.FAILED, 'unknown object'), channel);
      return;
    case OpCode.M_READ:
      init.send(from, msg.objClass === KEEPALIVE_OBJECT.objClass ? replyTo(msg) : replyTo(msg, Result.FAILED, 'not readable'), channel);
      return;
    case OpCode.M_CREATE:
    case OpCode.M_WRITE:
    case OpCode.M_DELETE:
      await update(init, msg, from, channel);
      return;
    case OpCode.M_RELEASE:
      init.send(from, replyTo(msg), channel);
      init.released();
      return;
    default:
      if (!isReply(msg.opCode)) init.send(from, replyTo(msg, Result.FAILED, 'operation not supported by the member'), channel);
  }
}

/** Applies an M_CREATE, M_WRITE or M_DELETE to the RIB and answers it. */
async function update(init: ResponderInit, msg: CdapMessage, from: string, channel: SecureChannel | undefined): Promise<void> {
  const { objName, objClass, objValue } = msg;
  try {
    const problem = syncedNameProblem(objName); // (the member's own state, under /mgmt/, is not the enroller's to change)
    if (problem !== undefined || objName === undefined) throw new RibError(problem ?? 'no object name');
    if (msg.opCode === OpCode.M_DELETE) await init.rib.delete(objName);
    else if (objClass === undefined || objValue === undefined) throw new RibError('a RIB object needs a class and a value');
    else await init.rib.write({ name: objName, class: objClass, value: objValue });
    init.send(from, replyTo(msg), channel);
  } catch (err) {
    init.send(from, replyTo(msg, Result.FAILED, (err as Error).message), channel);
  }
}
