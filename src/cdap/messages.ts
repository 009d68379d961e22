/**
 * The messages of the enrollment exchange (docs/PROTOCOL.md), built in one
 * place so that the member, the enroller and the tests agree on them.
 *
 * @module
 */
import { encodeByInvokeId, encodeCdapMessage, encodeEnrollmentInfo } from './codec.js';
import { type CdapMessage, type DataTransferConstants, type EnrollmentInfo, type ObjValue, OpCode } from './types.js';

/** `abs_syntax` of M_CONNECT / M_CONNECT_R. */
export const ABS_SYNTAX = 73;
/** CDAP `version` of M_CONNECT / M_CONNECT_R. */
export const CDAP_VERSION = 1n;

/** Object class and name of the enrollment object (M_START / M_STOP). */
export const ENROLLMENT_OBJECT = {
  /** `obj_class` of the enrollment object. */
  objClass: 'enrollment',
  /** `obj_name` of the enrollment object. */
  objName: '/mgmt/enrollment',
} as const;
/** Object class and name of the keepalive object (M_READ / M_READ_R). */
export const KEEPALIVE_OBJECT = {
  /** `obj_class` of the keepalive object. */
  objClass: 'keepalive',
  /** `obj_name` of the keepalive object. */
  objName: '/mgmt/keepalive',
} as const;

/** Result codes: 0 success, negative failure. */
export const Result = {
  OK: 0,
  /** Refused (rlite's -1 for every failure). */
  FAILED: -1,
  /** Ours: M_START without a CDAP connection (the enroller restarted or forgot it): connect again. */
  NOT_CONNECTED: -2,
  /** Ours: the IPCP name is enrolled, and alive, from another shim address. */
  NAME_IN_USE: -3,
  /** Ours: the enroller cannot serve now (its address store failed); try again later or elsewhere. */
  UNAVAILABLE: -4,
  /** Ours: too many enrollments in progress at the enroller; back off and try again. */
  BUSY: -5,
  /** Ours: authentication failed or was missing, or the IPCP name is not on the allow-list. */
  AUTH_FAILED: -6,
} as const;

/** The end of a "busy" refusal's `result_reason` that says when to ask again. */
const RETRY_HINT = /, try again in (\d{1,9}) ms$/;

/** A "busy" refusal's `result_reason`: why, and in how many ms to ask again (docs/PROTOCOL.md, result codes). */
export function busyReason(why: string, retryInMs: number): string {
  return `busy: ${why}, try again in ${retryInMs} ms`;
}

/** The wait, in ms, that a refusal's `result_reason` asks for (see {@link busyReason}); undefined when it names none. */
export function retryHintOf(reason: string): number | undefined {
  const match = RETRY_HINT.exec(reason);
  return match === null ? undefined : Number(match[1]);
}

/**
 * rlite's default data-transfer constants, sent in M_START_R (an rlite member
 * requires them). rlite's own seq_rollover_thresh is an overflowed `1 << 31`;
 * ours is the intended 2^31.
 */
export const DEFAULT_DT_CONSTANTS: DataTransferConstants = {
  maxPduSize: 65536,
  addressWidth: 4,
  portIdWidth: 2,
  cepIdWidth: 2,
  qosIdWidth: 2,
  seqNumWidth: 4,
  lengthWidth: 2,
  seqRolloverThresh: 2n ** 31n,
  maxPduLifetime: 4000,
  concatenationEnabled: false,
  fragmentationEnabled: false,
  integrityEnabled: false,
  maxRtxTime: 1000,
  maxAckDelay: 200,
  ctrlSeqNumWidth: 4,
};

/** Allocates invoke ids: non-zero, increasing, wrapping within int32. */
export class InvokeIds {
  #next: number;

  constructor(first = 1) {
    this.#next = first;
  }

  next(): number {
    const id = this.#next;
    this.#next = id >= 0x7fffffff ? 1 : id + 1;
    return id;
  }
}

/** The reply to `request` (its op code + 1, same invoke id and object), with a result. */
export function replyTo(request: CdapMessage, result: number = Result.OK, reason?: string): CdapMessage {
  const reply: CdapMessage = { opCode: (request.opCode + 1) as OpCode, invokeId: request.invokeId, result };
  if (reason !== undefined && reason !== '') reply.resultReason = reason;
  if (request.objClass !== undefined && request.objName !== undefined && request.opCode !== OpCode.M_CONNECT) {
    reply.objClass = request.objClass;
    reply.objName = request.objName;
  }
  if (request.opCode === OpCode.M_CONNECT) {
    reply.absSyntax = ABS_SYNTAX;
    reply.version = CDAP_VERSION;
    reply.srcApName = request.destApName;
    reply.destApName = request.srcApName;
  }
  return reply;
}

/** M_CONNECT from `src` (the member's IPCP name) to `dest` (the enroller's or the DIF's name). */
export function connectRequest(invokeId: number, src: string, dest: string): CdapMessage {
  return {
    opCode: OpCode.M_CONNECT,
    absSyntax: ABS_SYNTAX,
    version: CDAP_VERSION,
    invokeId,
    authMech: 0,
    srcApName: src,
    destApName: dest,
  };
}

/** M_START / M_STOP / M_START_R of the enrollment object, carrying an EnrollmentInfo (or its encoding). */
export function enrollmentMessage(opCode: OpCode, invokeId: number, info: EnrollmentInfo | Uint8Array, result?: number): CdapMessage {
  const byteval = info instanceof Uint8Array ? info : encodeEnrollmentInfo(info);
  const msg: CdapMessage = { opCode, invokeId, ...ENROLLMENT_OBJECT, objValue: { byteval } };
  if (result !== undefined) msg.result = result;
  return msg;
}

/**
 * The EnrollmentInfo of an enroller's M_START_R, encoded in pieces: the
 * address (field 1) for each member, the DT constants and the DIF name
 * (fields 4 and 16) once, the alternates (field 18) when they change. The
 * pieces, in field order, are byte for byte the encoding of the whole (a
 * protobuf message is the concatenation of its fields' records), so each
 * member costs the encoding of one varint instead of the DT constants'
 * fourteen fields.
 */
export class StartReplyInfo {
  readonly #fixed: Uint8Array;
  /** The alternates last told, and their encoding (a cache: recomputing it gives the same bytes). */
  #alternates: readonly string[];
  #alternatesBytes: Uint8Array;

  constructor(difName: string, dtConstants: DataTransferConstants) {
    this.#fixed = encodeEnrollmentInfo({ dtConstants, difName });
    [this.#alternates, this.#alternatesBytes] = StartReplyInfo.#encodeAlternates([]);
  }

  static #encodeAlternates(alternates: readonly string[]): [readonly string[], Uint8Array] {
    return [[...alternates], encodeEnrollmentInfo({ alternates: [...alternates] })]; // none: no bytes
  }

  /** The encoded EnrollmentInfo telling `address`, the DIF, its DT constants and `alternates`. */
  encode(address: number, alternates: readonly string[]): Uint8Array {
    if (!sameStrings(alternates, this.#alternates)) {
      [this.#alternates, this.#alternatesBytes] = StartReplyInfo.#encodeAlternates(alternates);
    }
    const head = encodeEnrollmentInfo({ address });
    const out = new Uint8Array(head.length + this.#fixed.length + this.#alternatesBytes.length);
    out.set(head, 0);
    out.set(this.#fixed, head.length);
    out.set(this.#alternatesBytes, head.length + this.#fixed.length);
    return out;
  }
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** M_CREATE of one object (a `RibObject`: its name, class and value). */
export function createRequest(
  invokeId: number,
  object: { readonly name: string; readonly class: string; readonly value: ObjValue },
): CdapMessage {
  return { opCode: OpCode.M_CREATE, invokeId, objClass: object.class, objName: object.name, objValue: object.value };
}

/** M_READ of the keepalive object. */
export function keepaliveRequest(invokeId: number): CdapMessage {
  return { opCode: OpCode.M_READ, invokeId, ...KEEPALIVE_OBJECT };
}

let keepaliveBytes: ((invokeId: number) => Uint8Array | undefined) | undefined;
let keepaliveAnswerBytes: ((invokeId: number) => Uint8Array | undefined) | undefined;

/**
 * {@link keepaliveRequest}, encoded: a member sends one every heartbeat, so
 * it is encoded once per process (at the first) and the invoke id spliced in.
 */
export function encodeKeepaliveRequest(invokeId: number): Uint8Array {
  keepaliveBytes ??= encodeByInvokeId({ opCode: OpCode.M_READ, ...KEEPALIVE_OBJECT });
  return keepaliveBytes(invokeId) ?? encodeCdapMessage(keepaliveRequest(invokeId));
}

/**
 * The OK answer to `request`, a keepalive M_READ, encoded: as
 * `encodeCdapMessage(replyTo(request))`, from bytes encoded once per
 * process when the request names the keepalive object as members do.
 * Throws `ProtocolError` as that encode would.
 */
export function encodeKeepaliveAnswer(request: CdapMessage): Uint8Array {
  const { invokeId } = request;
  const { objClass, objName } = KEEPALIVE_OBJECT;
  if (request.opCode === OpCode.M_READ && request.objClass === objClass && request.objName === objName && invokeId !== undefined) {
    keepaliveAnswerBytes ??= encodeByInvokeId({ opCode: OpCode.M_READ_R, result: Result.OK, ...KEEPALIVE_OBJECT });
    const bytes = keepaliveAnswerBytes(invokeId);
    if (bytes !== undefined) return bytes;
  }
  return encodeCdapMessage(replyTo(request));
}

/** True when `msg` is about the enrollment object. */
export function isEnrollmentObject(msg: CdapMessage): boolean {
  return msg.objClass === ENROLLMENT_OBJECT.objClass && msg.objName === ENROLLMENT_OBJECT.objName;
}

/**
 * At most this many alternates (EnrollmentInfo field 18) go in one M_START_R,
 * and a member keeps at most this many of one enroller's list: a DIF has a
 * few enrollers, and a list of thousands would cost a member time to learn
 * and, in recovery, an attempt each.
 */
export const MAX_ALTERNATES = 64;
