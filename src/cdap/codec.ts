/**
 * CDAP codec: protobuf with the schema in `cdap.proto`, encoded and decoded
 * by the straight-line functions scripts/gen-codec.ts generates from it
 * (gen/cdap_wire.ts) on @bufbuild/protobuf's wire primitives; the per-op-code
 * field rules enforced on decode and encode.
 *
 * @module
 */
import { BinaryReader, BinaryWriter } from '@bufbuild/protobuf/wire';
import { ProtocolError } from '../errors.js';
import { readCDAPMessage, readEnrollmentInfo, writeCDAPMessage, writeEnrollmentInfo } from './gen/cdap_wire.js';
import { checkFieldRules } from './rules.js';
import type { CdapMessage, EnrollmentInfo } from './types.js';

/**
 * One writer for every encode: encoding is synchronous, so calls never
 * interleave, and its buffer, grown once to the largest PDU, is reused
 * (`finish()` copies out what was written and rewinds).
 */
const writer = new BinaryWriter();

function encodeWith<T>(write: (w: BinaryWriter, value: T) => void, value: T, what: string): Uint8Array {
  try {
    write(writer, value);
    return writer.finish();
  } catch (cause) {
    writer.finish(); // rewinds what a failed encode left
    throw new ProtocolError(`cannot encode ${what}: ${(cause as Error).message}`, { cause });
  }
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** What a value that should have been a message is, in words. */
const notAnObject = (value: unknown): string => `expected an object, got ${value === null ? 'null' : typeof value}`;

function decodeWith<T>(read: (r: BinaryReader, end: number, into: T) => T, bytes: Uint8Array, what: string): T {
  if (!(bytes instanceof Uint8Array)) throw new ProtocolError(`cannot decode ${what}: input is not a Uint8Array`);
  try {
    const reader = new BinaryReader(bytes);
    return read(reader, reader.len, {} as T);
  } catch (cause) {
    throw new ProtocolError(`cannot decode ${what}: ${(cause as Error).message}`, { cause });
  }
}

/**
 * Decodes one PDU into a CDAP message. Throws {@link ProtocolError} for
 * anything that is not a well-formed CDAP message: bytes that are not
 * protobuf, a missing or unknown op code, invalid UTF-8 in a string, or a
 * field the op code forbids or lacks.
 */
export function decodeCdapMessage(bytes: Uint8Array): CdapMessage {
  const msg = decodeWith(readCDAPMessage, bytes, 'CDAP message');
  if (msg.opCode === undefined) {
    throw new ProtocolError('invalid CDAP message: op_code is missing or not a CDAP op code', {
      invokeId: msg.invokeId as number | undefined,
    });
  }
  const cdap = msg as unknown as CdapMessage;
  checkFieldRules(cdap);
  return cdap;
}

/** Encodes a CDAP message into one PDU. Throws {@link ProtocolError} when it breaks the field rules. */
export function encodeCdapMessage(msg: CdapMessage): Uint8Array {
  if (typeof msg !== 'object' || msg === null) throw new ProtocolError(`cannot encode CDAP message: ${notAnObject(msg)}`);
  try {
    checkFieldRules(msg);
  } catch (cause) {
    // a field whose presence cannot be judged (a cycle, a getter that throws) is as unencodable as a broken rule
    if (cause instanceof ProtocolError) throw cause;
    throw new ProtocolError(`cannot encode CDAP message: ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }
  return encodeWith(writeCDAPMessage, msg, 'CDAP message');
}

/**
 * Decodes the EnrollmentInfo carried in `obj_value.byteval`. Unknown fields
 * are skipped. An address above `Number.MAX_SAFE_INTEGER` is a
 * {@link ProtocolError}, never rounded.
 */
export function decodeEnrollmentInfo(bytes: Uint8Array): EnrollmentInfo {
  const raw = decodeWith(readEnrollmentInfo, bytes, 'EnrollmentInfo');
  const address = raw.address;
  if (address === undefined) return raw as EnrollmentInfo;
  if (address > MAX_SAFE) throw new ProtocolError(`invalid EnrollmentInfo: address ${address} is above Number.MAX_SAFE_INTEGER`);
  return { ...raw, address: Number(address) };
}

/** Encodes an EnrollmentInfo for `obj_value.byteval`. */
export function encodeEnrollmentInfo(info: EnrollmentInfo): Uint8Array {
  if (typeof info !== 'object' || info === null) throw new ProtocolError(`cannot encode EnrollmentInfo: ${notAnObject(info)}`);
  const { address } = info;
  if (address === undefined) return encodeWith(writeEnrollmentInfo, info as Omit<EnrollmentInfo, 'address'>, 'EnrollmentInfo');
  if (!(Number.isSafeInteger(address) && address >= 0)) {
    throw new ProtocolError(`cannot encode EnrollmentInfo: address ${address} is not a non-negative safe integer`);
  }
  return encodeWith(writeEnrollmentInfo, { ...info, address: BigInt(address) }, 'EnrollmentInfo');
}

/** `invoke_id`'s field number in cdap.proto: its tag (wire type varint) is one byte. */
const INVOKE_ID_TAG = (3 << 3) | 0;
const MAX_INVOKE_ID = 0x7fffffff;

/**
 * The encoder of a message whose invoke id is the only field that changes
 * from one send to the next (a keepalive and its answer): the message is
 * encoded once, and each call copies those bytes with the id's varint in
 * place of the one encoded: the same bytes {@link encodeCdapMessage} gives,
 * without building, checking and encoding the message again. Undefined for
 * an id outside 1..2^31-1, which the caller encodes the long way.
 */
export function encodeByInvokeId(msg: Omit<CdapMessage, 'invokeId'>): (invokeId: number) => Uint8Array | undefined {
  const once = encodeCdapMessage({ ...msg, invokeId: 1 } as CdapMessage);
  const reader = new BinaryReader(once);
  let head = once;
  let tail = once;
  while (reader.pos < reader.len) {
    const start = reader.pos;
    const [field, wireType] = reader.tag();
    reader.skip(wireType, field);
    if (((field << 3) | wireType) === INVOKE_ID_TAG) {
      head = once.slice(0, start);
      tail = once.slice(reader.pos);
      break;
    }
  }
  return (invokeId) => {
    if (!(Number.isInteger(invokeId) && invokeId >= 1 && invokeId <= MAX_INVOKE_ID)) return undefined;
    let size = 1;
    for (let v = invokeId >>> 7; v > 0; v >>>= 7) size++;
    const out = new Uint8Array(head.length + 1 + size + tail.length);
    out.set(head);
    let i = head.length;
    out[i++] = INVOKE_ID_TAG;
    let v = invokeId;
    for (; v > 0x7f; v >>>= 7) out[i++] = (v & 0x7f) | 0x80;
    out[i++] = v;
    out.set(tail, i);
    return out;
  };
}
