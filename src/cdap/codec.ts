/**
 * CDAP codec: protobuf through @bufbuild/protobuf, with the schema in
 * `cdap.proto`; the per-op-code field rules enforced on decode and encode.
 *
 * @module
 */
import { create, type DescField, type DescMessage, fromBinary, isFieldSet, ScalarType, toBinary } from '@bufbuild/protobuf';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { ProtocolError } from '../errors.js';
import { CDAPMessageSchema, EnrollmentInfoSchema } from './gen/cdap_pb.js';
import { checkFieldRules } from './rules.js';
import type { CdapMessage, EnrollmentInfo } from './types.js';

const LENGTH_DELIMITED: ReadonlySet<ScalarType> = new Set([ScalarType.STRING, ScalarType.BYTES]);
const BIT64: ReadonlySet<ScalarType> = new Set([ScalarType.FIXED64, ScalarType.SFIXED64, ScalarType.DOUBLE]);
const BIT32: ReadonlySet<ScalarType> = new Set([ScalarType.FIXED32, ScalarType.SFIXED32, ScalarType.FLOAT]);

function wireTypeOf(scalar: ScalarType | undefined): WireType {
  if (scalar === undefined) return WireType.Varint; // enums
  if (LENGTH_DELIMITED.has(scalar)) return WireType.LengthDelimited;
  if (BIT64.has(scalar)) return WireType.Bit64;
  if (BIT32.has(scalar)) return WireType.Bit32;
  return WireType.Varint;
}

const byNumber = new WeakMap<DescMessage, ReadonlyMap<number, DescField>>();

/** A message's fields by number, built once per schema (the wire-type walk looks one up per record). */
function fieldsByNumber(desc: DescMessage): ReadonlyMap<number, DescField> {
  let map = byNumber.get(desc);
  if (map === undefined) {
    map = new Map(desc.fields.map((f) => [f.number, f]));
    byNumber.set(desc, map);
  }
  return map;
}

/**
 * Walks the records of `bytes` against the schema and throws on a known field
 * sent with a wire type its declaration does not allow (protobuf-es would read
 * such a record by its declared type and misinterpret the bytes), then
 * recurses into nested messages. Unknown fields are skipped, never rejected.
 */
function checkWireTypes(desc: DescMessage, bytes: Uint8Array): void {
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [no, wireType] = reader.tag();
    const field: DescField | undefined = fieldsByNumber(desc).get(no);
    if (field === undefined) {
      reader.skip(wireType, no);
      continue;
    }
    if (field.fieldKind === 'message' || (field.fieldKind === 'list' && field.listKind === 'message')) {
      if (wireType !== WireType.LengthDelimited) throw new Error(`field ${no} (${field.name}) has wire type ${wireType}`);
      checkWireTypes(field.message, reader.bytes());
      continue;
    }
    const expected = wireTypeOf(field.scalar);
    const packed = field.fieldKind === 'list' && expected !== WireType.LengthDelimited && wireType === WireType.LengthDelimited;
    if (wireType !== expected && !packed) throw new Error(`field ${no} (${field.name}) has wire type ${wireType}, expected ${expected}`);
    reader.skip(wireType, no);
  }
}

/** Copies the fields set on a protobuf-es message into a plain object; absent fields stay absent. */
function toPlain(desc: DescMessage, msg: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of desc.fields) {
    if (!isFieldSet(msg as never, field)) continue;
    const value = msg[field.localName];
    if (field.fieldKind === 'message') out[field.localName] = toPlain(field.message, value as Record<string, unknown>);
    else if (field.fieldKind === 'list') out[field.localName] = [...(value as unknown[])];
    else out[field.localName] = value;
  }
  return out;
}

/** Drops `undefined` entries (recursively), so that protobuf-es sees only the fields that are set. */
function defined(obj: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key in obj) {
    if (!Object.hasOwn(obj, key)) continue;
    const value = (obj as Record<string, unknown>)[key];
    if (value === undefined) continue;
    out[key] =
      value !== null && typeof value === 'object' && !(value instanceof Uint8Array) && !Array.isArray(value) ? defined(value) : value;
  }
  return out;
}

function decodeRaw(desc: DescMessage, bytes: Uint8Array, what: string): Record<string, unknown> {
  if (!(bytes instanceof Uint8Array)) throw new ProtocolError(`cannot decode ${what}: input is not a Uint8Array`);
  try {
    checkWireTypes(desc, bytes);
    return toPlain(desc, fromBinary(desc, bytes) as unknown as Record<string, unknown>);
  } catch (cause) {
    throw new ProtocolError(`cannot decode ${what}: ${(cause as Error).message}`, { cause });
  }
}

function encodeRaw(desc: DescMessage, plain: object, what: string): Uint8Array {
  try {
    return toBinary(desc, create(desc, defined(plain) as never));
  } catch (cause) {
    throw new ProtocolError(`cannot encode ${what}: ${(cause as Error).message}`, { cause });
  }
}

/**
 * Decodes one PDU into a CDAP message. Throws {@link ProtocolError} for
 * anything that is not a well-formed CDAP message: bytes that are not
 * protobuf, a missing or unknown op code, invalid UTF-8 in a string, or a
 * field the op code forbids or lacks.
 */
export function decodeCdapMessage(bytes: Uint8Array): CdapMessage {
  const msg = decodeRaw(CDAPMessageSchema, bytes, 'CDAP message');
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
  checkFieldRules(msg);
  return encodeRaw(CDAPMessageSchema, msg, 'CDAP message');
}

/**
 * Decodes the EnrollmentInfo carried in `obj_value.byteval`. Unknown fields
 * are skipped. An address above `Number.MAX_SAFE_INTEGER` is a
 * {@link ProtocolError}, never rounded.
 */
export function decodeEnrollmentInfo(bytes: Uint8Array): EnrollmentInfo {
  const raw = decodeRaw(EnrollmentInfoSchema, bytes, 'EnrollmentInfo');
  const address = raw.address as bigint | undefined;
  if (address !== undefined) {
    if (address > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new ProtocolError(`invalid EnrollmentInfo: address ${address} is above Number.MAX_SAFE_INTEGER`);
    }
    raw.address = Number(address);
  }
  return raw as EnrollmentInfo;
}

/** Encodes an EnrollmentInfo for `obj_value.byteval`. */
export function encodeEnrollmentInfo(info: EnrollmentInfo): Uint8Array {
  const { address, ...rest } = info;
  if (address !== undefined && !(Number.isSafeInteger(address) && address >= 0)) {
    throw new ProtocolError(`cannot encode EnrollmentInfo: address ${address} is not a non-negative safe integer`);
  }
  return encodeRaw(EnrollmentInfoSchema, { ...rest, address: address === undefined ? undefined : BigInt(address) }, 'EnrollmentInfo');
}
