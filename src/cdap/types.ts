/**
 * Plain TypeScript shapes of the CDAP messages: the schema's names in
 * camelCase, enums as their numeric values, 64-bit integers as `bigint`,
 * bytes as `Uint8Array`, absent fields `undefined`.
 *
 * @module
 */

/** CDAP op codes (`op_code`, field 2). */
export const OpCode = {
  /** Opens a CDAP connection (the member's first message; carries names and authentication). */
  M_CONNECT: 0,
  /** Reply to M_CONNECT. */
  M_CONNECT_R: 1,
  /** Closes the CDAP connection (e.g. a member leaving). */
  M_RELEASE: 2,
  /** Reply to M_RELEASE. */
  M_RELEASE_R: 3,
  /** Creates an object (the enroller's RIB sync). */
  M_CREATE: 4,
  /** Reply to M_CREATE. */
  M_CREATE_R: 5,
  /** Deletes an object. */
  M_DELETE: 6,
  /** Reply to M_DELETE. */
  M_DELETE_R: 7,
  /** Reads an object (the keepalive). */
  M_READ: 8,
  /** Reply to M_READ. */
  M_READ_R: 9,
  /** Cancels a read in progress. */
  M_CANCELREAD: 10,
  /** Reply to M_CANCELREAD. */
  M_CANCELREAD_R: 11,
  /** Writes an object's value. */
  M_WRITE: 12,
  /** Reply to M_WRITE. */
  M_WRITE_R: 13,
  /** Starts an object (the member's enrollment request). */
  M_START: 14,
  /** Reply to M_START: the assigned address, or a refusal. */
  M_START_R: 15,
  /** Stops an object (the enroller's end of the enrollment). */
  M_STOP: 16,
  /** Reply to M_STOP (the member's confirmation: it is enrolled). */
  M_STOP_R: 17,
} as const;
/** A CDAP op code value. */
export type OpCode = (typeof OpCode)[keyof typeof OpCode];

/** CDAP flags (`flags`, field 4). */
export const CdapFlags = {
  /** No flags. */
  F_NO_FLAGS: 0,
  /** Synchronous operation requested. */
  F_SYNC: 1,
  /** On a reply to M_READ: more replies to the same read follow. */
  F_RD_INCOMPLETE: 2,
} as const;
/** A CDAP flags value. */
export type CdapFlags = (typeof CdapFlags)[keyof typeof CdapFlags];

/** Authentication mechanisms (`auth_mech`, field 17); 100-1000 are for private use. */
export const AuthType = {
  /** No authentication. */
  AUTH_NONE: 0,
  /** A password, in clear, in `auth_value.auth_password`. */
  AUTH_PASSWD: 1,
  /** SSH RSA keys; not implemented by this library. */
  AUTH_SSHRSA: 2,
  /** SSH DSA keys; not implemented by this library. */
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
  /** `intval` (field 1): an int32. */
  intval?: number | undefined;
  /** `sintval` (field 2): a sint32. */
  sintval?: number | undefined;
  /** `int64val` (field 3): an int64 (e.g. the member's address at `/mgmt/address`). */
  int64val?: bigint | undefined;
  /** `sint64val` (field 4): a sint64. */
  sint64val?: bigint | undefined;
  /** `strval` (field 5): a string (e.g. the DIF's name at `/dif/config/name`). */
  strval?: string | undefined;
  /** `byteval` (field 6): bytes (e.g. the encoded {@link EnrollmentInfo} of M_START / M_START_R / M_STOP). */
  byteval?: Uint8Array | undefined;
  /** `floatval` (field 7): declared `fixed32`, so an unsigned 32-bit integer. */
  floatval?: number | undefined;
  /** `doubleval` (field 8): declared `fixed64`, so an unsigned 64-bit integer. */
  doubleval?: bigint | undefined;
  /** `boolval` (field 9): a boolean. */
  boolval?: boolean | undefined;
}

/** Credentials carried on `M_CONNECT` / `M_CONNECT_R` (`auth_value`, field 18). */
export interface AuthValue {
  /** `auth_name` (field 1): the name authenticating (our member sends its IPCP name). */
  authName?: string | undefined;
  /** `auth_password` (field 2): the AUTH_PASSWD password, in clear. */
  authPassword?: string | undefined;
  /** `auth_other` (field 3): other credentials; with HMAC-SHA256 (ours) the nonces and the enroller's proof. */
  authOther?: Uint8Array | undefined;
}

/** One CDAP message, as decoded from or encoded to one PDU. */
export interface CdapMessage {
  /** `abs_syntax` (field 1): 73 on M_CONNECT / M_CONNECT_R, absent elsewhere. */
  absSyntax?: number | undefined;
  /** `op_code` (field 2, required): one of {@link OpCode}. */
  opCode: OpCode;
  /** `invoke_id` (field 3): matches a reply to its request; required on M_CONNECT, M_CONNECT_R, M_CANCELREAD and every reply. */
  invokeId?: number | undefined;
  /** `flags` (field 4): one of {@link CdapFlags}. */
  flags?: CdapFlags | undefined;
  /** `obj_class` (field 5): the object's class, e.g. `enrollment`; comes with `obj_name`. */
  objClass?: string | undefined;
  /** `obj_name` (field 6): the object's name, e.g. `/mgmt/enrollment`; comes with `obj_class`. */
  objName?: string | undefined;
  /** `obj_inst` (field 7): the object instance; absent on CONNECT, RELEASE, CANCELREAD and their replies. */
  objInst?: bigint | undefined;
  /** `obj_value` (field 8): the object's value; required on M_WRITE. */
  objValue?: ObjValue | undefined;
  /** `result` (field 9): on replies, 0 success, negative failure; absent on requests. */
  result?: number | undefined;
  /** `scope` (field 10): only on M_CREATE, M_DELETE, M_READ, M_WRITE, M_START and M_STOP. */
  scope?: number | undefined;
  /** `filter` (field 11): only on M_DELETE, M_READ, M_WRITE, M_START and M_STOP. */
  filter?: Uint8Array | undefined;
  /** `auth_mech` (field 17): one of {@link AuthType}, or 100-1000 for private use; only on M_CONNECT / M_CONNECT_R. */
  authMech?: AuthType | undefined;
  /** `auth_value` (field 18): the credentials; only on M_CONNECT / M_CONNECT_R. */
  authValue?: AuthValue | undefined;
  /** `dest_ae_inst` (field 19): the destination's AE instance. */
  destAeInst?: string | undefined;
  /** `dest_ae_name` (field 20): the destination's AE name. */
  destAeName?: string | undefined;
  /** `dest_ap_inst` (field 21): the destination's AP instance. */
  destApInst?: string | undefined;
  /** `dest_ap_name` (field 22): the destination's AP name (on M_CONNECT the DIF's or the enroller's name, or its shim address); required on M_CONNECT / M_CONNECT_R, absent elsewhere. */
  destApName?: string | undefined;
  /** `src_ae_inst` (field 23): the source's AE instance. */
  srcAeInst?: string | undefined;
  /** `src_ae_name` (field 24): the source's AE name. */
  srcAeName?: string | undefined;
  /** `src_ap_inst` (field 25): the source's AP instance. */
  srcApInst?: string | undefined;
  /** `src_ap_name` (field 26): the source's AP name (the sender's IPCP name); required on M_CONNECT / M_CONNECT_R, absent elsewhere. */
  srcApName?: string | undefined;
  /** `result_reason` (field 27): the cause of a failure, in words; absent on requests. */
  resultReason?: string | undefined;
  /** `version` (field 28): 1 on M_CONNECT / M_CONNECT_R. */
  version?: bigint | undefined;
}

/**
 * Data-transfer constants of the DIF (EnrollmentInfo field 4). Opaque to
 * enrollment; an rlite member requires them in `M_START_R`.
 */
export interface DataTransferConstants {
  /** `max_pdu_size` (field 1): the largest PDU (rlite: 65536). */
  maxPduSize?: number | undefined;
  /** `address_width` (field 2): bytes of a DIF address (rlite: 4); every address must fit it. */
  addressWidth?: number | undefined;
  /** `port_id_width` (field 3): width of a port id (rlite: 2). */
  portIdWidth?: number | undefined;
  /** `cep_id_width` (field 4): width of a connection-endpoint id (rlite: 2). */
  cepIdWidth?: number | undefined;
  /** `qos_id_width` (field 5): width of a QoS id (rlite: 2). */
  qosIdWidth?: number | undefined;
  /** `seq_num_width` (field 6): width of a sequence number (rlite: 4). */
  seqNumWidth?: number | undefined;
  /** `length_width` (field 7): width of the PDU length field (rlite: 2). */
  lengthWidth?: number | undefined;
  /** `seq_rollover_thresh` (field 8, uint64): the sequence-number rollover threshold (ours: 2^31). */
  seqRolloverThresh?: bigint | undefined;
  /** `max_pdu_lifetime` (field 9): the maximum PDU lifetime (rlite: 4000). */
  maxPduLifetime?: number | undefined;
  /** `concatenation_enabled` (field 10): whether concatenation is on (default: false). */
  concatenationEnabled?: boolean | undefined;
  /** `fragmentation_enabled` (field 11): whether fragmentation is on (default: false). */
  fragmentationEnabled?: boolean | undefined;
  /** `integrity_enabled` (field 12): whether integrity protection is on (default: false). */
  integrityEnabled?: boolean | undefined;
  /** `max_rtx_time` (field 13): the maximum retransmission time (rlite: 1000). */
  maxRtxTime?: number | undefined;
  /** `max_ack_delay` (field 14): the maximum acknowledgement delay (rlite: 200). */
  maxAckDelay?: number | undefined;
  /** `rate_width` (field 15): width of a rate field. */
  rateWidth?: number | undefined;
  /** `frame_width` (field 16): width of a frame field. */
  frameWidth?: number | undefined;
  /** `ctrl_seq_num_width` (field 17): width of a control sequence number (rlite: 4). */
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
  /** `start_early` (field 3): on M_STOP; our enroller sends `true`. */
  startEarly?: boolean | undefined;
  /** `dt_constants` (field 4): on M_START_R, the DIF's data-transfer constants (an rlite member requires them). */
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
