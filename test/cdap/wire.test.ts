/**
 * The generated codec (src/cdap/gen/cdap_wire.ts) against the reference it
 * replaced: protobuf-es's reflection (`create` + `toBinary`, `fromBinary`)
 * with the wire-type walk the codec ran before it, on random messages of
 * every type in cdap.proto and on random and corrupted bytes. And that the
 * file is what scripts/gen-codec.ts makes of cdap.proto today.
 */
import { readFileSync } from 'node:fs';
import { create, type DescField, type DescMessage, fromBinary, isFieldSet, ScalarType, toBinary } from '@bufbuild/protobuf';
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generate } from '../../scripts/gen-codec.js';
import { file_cdap } from '../../src/cdap/gen/cdap_pb.js';
import * as wire from '../../src/cdap/gen/cdap_wire.js';

type Plain = Record<string, unknown>;
type Write = (w: BinaryWriter, m: Plain) => void;
type Read = (r: BinaryReader, end: number, m: Plain) => Plain;
const generated = wire as unknown as Record<string, Write | Read>;

/** Values of one scalar type, edges included. */
function scalar(type: ScalarType): fc.Arbitrary<unknown> {
  switch (type) {
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return fc.oneof(fc.constantFrom(0, -1, 2 ** 31 - 1, -(2 ** 31)), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }));
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return fc.oneof(fc.constantFrom(0, 2 ** 32 - 1), fc.integer({ min: 0, max: 2 ** 32 - 1 }));
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return fc.oneof(fc.constantFrom(0n, -1n), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }));
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return fc.oneof(fc.constantFrom(0n, 2n ** 64n - 1n), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }));
    case ScalarType.BOOL:
      return fc.boolean();
    case ScalarType.STRING:
      return fc.string({ maxLength: 12, unit: 'grapheme' });
    case ScalarType.BYTES:
      return fc.uint8Array({ maxLength: 12 });
    default:
      return fc.double();
  }
}

function field(f: DescField, depth: number): fc.Arbitrary<unknown> {
  switch (f.fieldKind) {
    case 'scalar':
      return scalar(f.scalar);
    case 'enum':
      return fc.constantFrom(...f.enum.values.map((v) => v.number));
    case 'message':
      return message(f.message, depth + 1);
    case 'list':
      return fc.array(scalar(f.scalar ?? ScalarType.STRING), { maxLength: 3 });
    default:
      throw new Error(`no arbitrary for ${f.name}`);
  }
}

/** A message of `desc` with any subset of its fields set (the required ones always), zeros included. */
function message(desc: DescMessage, depth = 0): fc.Arbitrary<Plain> {
  const model = Object.fromEntries(desc.fields.map((f) => [f.localName, field(f, depth)]));
  const requiredKeys = desc.fields.filter((f) => f.presence === 3).map((f) => f.localName);
  return fc.record(model, { requiredKeys }) as fc.Arbitrary<Plain>;
}

/** The wire type protobuf-es accepts for a record of field `f`. */
function wireTypeOf(f: DescField): WireType {
  if (f.fieldKind === 'message') return WireType.LengthDelimited;
  if (f.fieldKind === 'enum' || (f.fieldKind === 'list' && f.listKind === 'enum')) return WireType.Varint;
  switch (f.scalar) {
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return WireType.LengthDelimited;
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
    case ScalarType.DOUBLE:
      return WireType.Bit64;
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
    case ScalarType.FLOAT:
      return WireType.Bit32;
    default:
      return WireType.Varint;
  }
}

/** The codec before the generated one: a walk rejecting wrong wire types, then protobuf-es, then a plain copy. */
function referenceDecode(desc: DescMessage, bytes: Uint8Array): Plain {
  const walk = (d: DescMessage, b: Uint8Array): void => {
    const reader = new BinaryReader(b);
    while (reader.pos < reader.len) {
      const [no, wt] = reader.tag();
      const f = d.fields.find((x) => x.number === no);
      if (f === undefined) reader.skip(wt, no);
      else if (wt !== wireTypeOf(f)) throw new Error(`field ${no} has wire type ${wt}`);
      else if (f.fieldKind === 'message') walk(f.message, reader.bytes());
      else reader.skip(wt, no);
    }
  };
  const plain = (d: DescMessage, msg: Plain): Plain => {
    const out: Plain = {};
    for (const f of d.fields) {
      if (!isFieldSet(msg as never, f)) continue;
      const value = msg[f.localName];
      out[f.localName] =
        f.fieldKind === 'message' ? plain(f.message, value as Plain) : f.fieldKind === 'list' ? [...(value as unknown[])] : value;
    }
    return out;
  };
  walk(desc, bytes);
  return plain(desc, fromBinary(desc, bytes) as unknown as Plain);
}

function withoutEmptyLists(m: Plain): Plain {
  return Object.fromEntries(
    Object.entries(m)
      .filter(([, v]) => !(Array.isArray(v) && v.length === 0))
      .map(([k, v]) => [
        k,
        v !== null && typeof v === 'object' && !(v instanceof Uint8Array) && !Array.isArray(v) ? withoutEmptyLists(v as Plain) : v,
      ]),
  );
}

function encode(desc: DescMessage, m: Plain): Uint8Array {
  const w = new BinaryWriter();
  (generated[`write${desc.name}`] as Write)(w, m);
  return w.finish();
}

function decode(desc: DescMessage, bytes: Uint8Array): Plain {
  const r = new BinaryReader(bytes);
  return (generated[`read${desc.name}`] as Read)(r, r.len, {});
}

/** What a decode did: the fields it gave, or that it threw. */
function outcome(fn: () => Plain): { ok: true; value: Plain } | { ok: false } {
  try {
    return { ok: true, value: fn() };
  } catch {
    return { ok: false };
  }
}

describe('the generated CDAP codec', () => {
  it('is what scripts/gen-codec.ts generates from cdap.proto now', () => {
    const onDisk = readFileSync(new URL('../../src/cdap/gen/cdap_wire.ts', import.meta.url), 'utf8');
    expect(onDisk).toBe(generate());
  });

  for (const desc of file_cdap.messages) {
    describe(desc.typeName, () => {
      it('encodes every message byte for byte as protobuf-es does, and decodes it back to the same fields', () => {
        fc.assert(
          fc.property(message(desc), (m) => {
            const ours = encode(desc, m);
            expect(ours).toEqual(toBinary(desc, create(desc, m as never)));
            expect(decode(desc, ours)).toEqual(referenceDecode(desc, ours));
            expect(decode(desc, ours)).toEqual(withoutEmptyLists(m)); // an empty list is no record at all
          }),
          { numRuns: 500 },
        );
      });

      it('accepts and rejects random bytes as the reference does, with the same fields when it accepts', () => {
        const valid = message(desc).map((m) => encode(desc, m));
        const corrupted = fc.tuple(valid, fc.nat(), fc.integer({ min: 1, max: 255 })).map(([pdu, at, xor]) => {
          const copy = Uint8Array.from(pdu);
          if (copy.length > 0) copy[at % copy.length] = (copy[at % copy.length] ?? 0) ^ xor;
          return copy;
        });
        const truncated = fc.tuple(valid, fc.nat()).map(([pdu, n]) => pdu.subarray(0, n % (pdu.length + 1)));
        fc.assert(
          fc.property(fc.oneof(fc.uint8Array({ maxLength: 64 }), corrupted, truncated), (bytes) => {
            const ours = outcome(() => decode(desc, bytes));
            const reference = outcome(() => referenceDecode(desc, bytes));
            expect(ours.ok).toBe(reference.ok);
            if (ours.ok && reference.ok) expect(ours.value).toEqual(reference.value);
          }),
          { numRuns: 3000 },
        );
      });
    });
  }

  it('reads tags at their edges as the reference does: five bytes, past 32 bits, field number 0, wire types 6 and 7', () => {
    const desc = file_cdap.messages[2] as DescMessage; // CDAPMessage
    const tags = [
      [0xf8, 0xff, 0xff, 0xff, 0x0f, 0x00], // field 2^29-1 (unknown, skipped), varint 0: a tag of five bytes
      [0x88, 0x80, 0x80, 0x80, 0x00, 0x05], // abs_syntax = 5, its tag padded to five bytes
      [0xf8, 0xff, 0xff, 0xff, 0x1f, 0x00], // past 32 bits
      [0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x00], // six bytes
      [0x00, 0x00], // field number 0
      [0x0e, 0x00], // wire type 6
      [0x0f, 0x00], // wire type 7
    ];
    const outcomes = tags.map((tag) => {
      const bytes = Uint8Array.from([0x10, 0x01, ...tag]); // op_code 1 first, so that an accepted message is whole
      const ours = outcome(() => decode(desc, bytes));
      const reference = outcome(() => referenceDecode(desc, bytes));
      expect(ours, tag.join(',')).toEqual(reference);
      return ours.ok;
    });
    expect(outcomes).toEqual([true, true, false, false, false, false, false]);
    expect(decode(desc, Uint8Array.from([0x10, 0x01, ...(tags[1] as number[])]))).toMatchObject({ absSyntax: 5 });
  });

  it('writes the required op_code even when it is 0 (M_CONNECT), and refuses a message without one', () => {
    expect([...encode(file_cdap.messages[2] as DescMessage, { opCode: 0 })]).toEqual([0x10, 0x00]);
    expect(() => encode(file_cdap.messages[2] as DescMessage, {})).toThrow(/field 2 \(op_code\).*required field not set/);
  });

  it('leaves out a field set to null, as protobuf-es create() did (plain JavaScript and JSON callers)', () => {
    const desc = file_cdap.messages[2] as DescMessage;
    expect(encode(desc, { opCode: 1, objName: null, result: null, objValue: null })).toEqual(encode(desc, { opCode: 1 }));
    expect(encode(desc, { opCode: 1, objName: null })).toEqual(toBinary(desc, create(desc, { opCode: 1, objName: null } as never)));
  });

  it('names the field a value does not fit', () => {
    expect(() => encode(file_cdap.messages[2] as DescMessage, { opCode: 0, invokeId: 2 ** 40 })).toThrow(/field 3 \(invoke_id\)/);
  });
});
