/**
 * Plain TypeScript shapes of the CDAP messages: the schema's names in
 * camelCase, enums as their numeric values, 64-bit integers as `bigint`,
 * bytes as `Uint8Array`, absent fields `undefined`.
 *
 * @module
 */

/** CDAP op codes (`op_code`, field 2). */
export const OpCode = {
  M_CONNECT: 0,
  M_CONNECT_R: 1,
  M_RELEASE: 2,
  M_RELEASE_R: 3,
  M_CREATE: 4,
  M_CREATE_R: 5,
  M_DELETE: 6,
  M_DELETE_R: 7,
  M_READ: 8,
  M_READ_R: 9,
  M_CANCELREAD: 10,
  M_CANCELREAD_R: 11,
  M_WRITE: 12,
  M_WRITE_R: 13,
  M_START: 14,
  M_START_R: 15,
  M_STOP: 16,
  M_STOP_R: 17,
} as const;
/** A CDAP op code value. */
export type OpCode = (typeof OpCode)[keyof typeof OpCode];

/** CDAP flags (`flags`, field 4). */
export const CdapFlags = {
  F_NO_FLAGS: 0,
  F_SYNC: 1,
  F_RD_INCOMPLETE: 2,
} as const;
/** A CDAP flags value. */
export type CdapFlags = (typeof CdapFlags)[keyof typeof CdapFlags];

/** Authentication mechanisms (`auth_mech`, field 17); 100-1000 are for private use. */
export const AuthType = {
  AUTH_NONE: 0,
  AUTH_PASSWD: 1,
  AUTH_SSHRSA: 2,
  AUTH_SSHDSA: 3,
  /** Ours, in the private range: mutual HMAC-SHA256 challenge-response over a pre-shared key. */
  AUTH_HMAC_SHA256: 100,
} as const;
/** An authentication mechanism: one of {@link AuthType} or a private-use value 100-1000. */
export type AuthType = number;

const opCodeNames: readonly string[] = Object.keys(OpCode);

/** `M_START_R` for 15; `op 99` for a value that is not an op code. */
export function opCodeName(op: number): string {
  return opCodeNames[op] ?? `op ${op}`;
}

/** True for the replies (`M_*_R`): the odd op codes. */
export function isReply(op: OpCode): boolean {
  return op % 2 === 1;
}

/**
 * The value of a CDAP object (`ObjValue`): normally exactly one field is set.
 * `floatval` and `doubleval` are declared `fixed32` / `fixed64` in the C/C++
 * stacks' schema and carry integers there, so they are unsigned integers here.
 */
export interface ObjValue {
  intval?: number | undefined;
  sintval?: number | undefined;
  int64val?: bigint | undefined;
  sint64val?: bigint | undefined;
  strval?: string | undefined;
  byteval?: Uint8Array | undefined;
  floatval?: number | undefined;
  doubleval?: bigint | undefined;
  boolval?: boolean | undefined;
}

/** Credentials carried on `M_CONNECT` / `M_CONNECT_R` (`auth_value`, field 18). */
export interface AuthValue {
  authName?: string | undefined;
  authPassword?: string | undefined;
  authOther?: Uint8Array | undefined;
}

/** One CDAP message, as decoded from or encoded to one PDU. */
export interface CdapMessage {
  absSyntax?: number | undefined;
  opCode: OpCode;
  invokeId?: number | undefined;
  flags?: CdapFlags | undefined;
  objClass?: string | undefined;
  objName?: string | undefined;
  objInst?: bigint | undefined;
  objValue?: ObjValue | undefined;
  result?: number | undefined;
  scope?: number | undefined;
  filter?: Uint8Array | undefined;
  authMech?: AuthType | undefined;
  authValue?: AuthValue | undefined;
  destAeInst?: string | undefined;
  destAeName?: string | undefined;
  destApInst?: string | undefined;
  destApName?: string | undefined;
  srcAeInst?: string | undefined;
  srcAeName?: string | undefined;
  srcApInst?: string | undefined;
  srcApName?: string | undefined;
  resultReason?: string | undefined;
  version?: bigint | undefined;
}

/**
 * Data-transfer constants of the DIF (EnrollmentInfo field 4). Opaque to
 * enrollment; an rlite member requires them in `M_START_R`.
 */
export interface DataTransferConstants {
  maxPduSize?: number | undefined;
  addressWidth?: number | undefined;
  portIdWidth?: number | undefined;
  cepIdWidth?: number | undefined;
  qosIdWidth?: number | undefined;
  seqNumWidth?: number | undefined;
  lengthWidth?: number | undefined;
  seqRolloverThresh?: bigint | undefined;
  maxPduLifetime?: number | undefined;
  concatenationEnabled?: boolean | undefined;
  fragmentationEnabled?: boolean | undefined;
  integrityEnabled?: boolean | undefined;
  maxRtxTime?: number | undefined;
  maxAckDelay?: number | undefined;
  rateWidth?: number | undefined;
  frameWidth?: number | undefined;
  ctrlSeqNumWidth?: number | undefined;
}

/**
 * The enrollment payload carried in `obj_value.byteval` of `M_START`,
 * `M_START_R` and `M_STOP`. `address` is a DIF address, a `number`: a wire
 * value above `Number.MAX_SAFE_INTEGER` is rejected, never rounded.
 */
export interface EnrollmentInfo {
  /** Member: requested address (0 = assign one). Enroller: the assigned address. */
  address?: number | undefined;
  /** The DIFs the member can be reached through. */
  lowerDifs?: string[] | undefined;
  startEarly?: boolean | undefined;
  dtConstants?: DataTransferConstants | undefined;
  /** Ours (field 16): the DIF's name, returned to the member. */
  difName?: string | undefined;
  /** Ours (field 17): on `M_STOP`, how many RIB objects the enroller sent. */
  ribObjectCount?: number | undefined;
  /** Ours (field 18): on `M_START_R`, shim addresses of other enrollers the member may fail over to. */
  alternates?: string[] | undefined;
  /** Ours (field 19): on `M_START` with HMAC-SHA256 authentication, the member's proof. */
  authProof?: Uint8Array | undefined;
}
