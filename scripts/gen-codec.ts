/**
 * Generates src/cdap/gen/cdap_wire.ts from cdap.proto: straight-line
 * encoders and decoders on @bufbuild/protobuf's `BinaryWriter` and
 * `BinaryReader`, one function each per message.
 *
 * Why not protobuf-es's own `toBinary`/`fromBinary` at run time: they work
 * from the schema's reflection, which costs at import (the embedded
 * descriptor is decoded and a registry built: ~14 ms of a fresh process) and
 * at first use (per-field readers and writers compiled on the first call),
 * and needs a wire-type pre-scan plus a copy into plain objects per message
 * (bench scenarios 6 and 8). Why not an off-the-shelf generator: ts-proto
 * (2.18) drops zero values even for explicit-presence and required fields, so
 * an M_CONNECT (op code 0) would go out without its op code; protobufjs's
 * static code reads a known field whatever its wire type and 64-bit integers
 * as Long or lossy numbers. What this file generates keeps the semantics the
 * codec had, field by field from the descriptor protobuf-es parsed for
 * cdap_pb.ts: explicit presence (a set field is written even when zero),
 * op_code required, closed enums (an unknown value is an unknown field, i.e.
 * absent), strings UTF-8 verified, a known field with the wrong wire type or a
 * nested message crossing its length rejected, unknown fields skipped, a
 * repeated singular message merged, 64-bit integers as bigint.
 * test/cdap/wire.test.ts checks the output against protobuf-es's reflection
 * on random messages and random bytes, and that this file is up to date.
 *
 * `npm run generate` (buf, then this); `tsx scripts/gen-codec.ts --check`
 * exits 1 when the file on disk differs from what it would write.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type DescEnum, type DescField, type DescMessage, ScalarType } from '@bufbuild/protobuf';
import { file_cdap } from '../src/cdap/gen/cdap_pb.js';

const OUT = fileURLToPath(new URL('../src/cdap/gen/cdap_wire.ts', import.meta.url));

/** BinaryWriter/BinaryReader method and TypeScript type of each scalar. */
const SCALARS: Record<ScalarType, { method: string; ts: string; wire: number }> = {
  [ScalarType.DOUBLE]: { method: 'double', ts: 'number', wire: 1 },
  [ScalarType.FLOAT]: { method: 'float', ts: 'number', wire: 5 },
  [ScalarType.INT64]: { method: 'int64', ts: 'bigint', wire: 0 },
  [ScalarType.UINT64]: { method: 'uint64', ts: 'bigint', wire: 0 },
  [ScalarType.INT32]: { method: 'int32', ts: 'number', wire: 0 },
  [ScalarType.FIXED64]: { method: 'fixed64', ts: 'bigint', wire: 1 },
  [ScalarType.FIXED32]: { method: 'fixed32', ts: 'number', wire: 5 },
  [ScalarType.BOOL]: { method: 'bool', ts: 'boolean', wire: 0 },
  [ScalarType.STRING]: { method: 'string', ts: 'string', wire: 2 },
  [ScalarType.BYTES]: { method: 'bytes', ts: 'Uint8Array', wire: 2 },
  [ScalarType.UINT32]: { method: 'uint32', ts: 'number', wire: 0 },
  [ScalarType.SFIXED32]: { method: 'sfixed32', ts: 'number', wire: 5 },
  [ScalarType.SFIXED64]: { method: 'sfixed64', ts: 'bigint', wire: 1 },
  [ScalarType.SINT32]: { method: 'sint32', ts: 'number', wire: 0 },
  [ScalarType.SINT64]: { method: 'sint64', ts: 'bigint', wire: 0 },
};

const LEGACY_REQUIRED = 3;

interface Shape {
  /** The TypeScript type of one value. */
  ts: string;
  /** Wire type of one record. */
  wire: number;
  repeated: boolean;
  message?: DescMessage;
  enum?: DescEnum;
  scalar?: ScalarType;
}

function shape(f: DescField): Shape {
  switch (f.fieldKind) {
    case 'scalar':
      return { ts: SCALARS[f.scalar].ts, wire: SCALARS[f.scalar].wire, repeated: false, scalar: f.scalar };
    case 'enum':
      return { ts: 'number', wire: 0, repeated: false, enum: f.enum };
    case 'message':
      if (f.delimitedEncoding) break;
      return { ts: `${f.message.name}Fields`, wire: 2, repeated: false, message: f.message };
    case 'list':
      if (f.listKind === 'scalar' && (f.scalar === ScalarType.STRING || f.scalar === ScalarType.BYTES)) {
        return { ts: SCALARS[f.scalar].ts, wire: 2, repeated: true, scalar: f.scalar };
      }
      break;
  }
  // Packed lists, maps, groups, oneofs: cdap.proto has none; extend the generator when it does.
  throw new Error(`gen-codec: ${f.parent.typeName}.${f.name} is a kind of field this generator does not handle`);
}

/** A closed enum's test for a known value: a range when the values are contiguous. */
function knownValue(e: DescEnum, v: string): string {
  const numbers = e.values.map((x) => x.number).sort((a, b) => a - b);
  const [lo, hi] = [numbers[0] ?? 0, numbers[numbers.length - 1] ?? -1];
  if (numbers.length === hi - lo + 1) return `${v} >= ${lo} && ${v} <= ${hi}`;
  return numbers.map((n) => `${v} === ${n}`).join(' || ');
}

function interfaceOf(m: DescMessage): string {
  const lines = [`/** The fields of ${m.typeName}, as the wire carries them (numbers for enums, bigint for 64-bit integers). */`];
  lines.push(`export interface ${m.name}Fields {`);
  for (const f of m.fields) {
    const s = shape(f);
    lines.push(`  ${f.localName}?: ${s.repeated ? `${s.ts}[]` : s.ts} | undefined;`);
  }
  lines.push('}');
  return lines.join('\n');
}

/**
 * `v` as the writer gets it: checked for its field's type first, since
 * BinaryWriter coerces what it is given (string() and bool() anything,
 * int32() and the 64-bit writers a numeric string, int64() a boolean): 5
 * would go out as "5", "false" as true. A 64-bit field takes a bigint or a
 * number; bytes are checked by the writer itself.
 */
function typed(s: Shape, v: string): string {
  if (s.enum !== undefined) return `ofType(${v}, 'number')`;
  const ts = s.scalar === undefined ? undefined : SCALARS[s.scalar].ts;
  if (ts === 'bigint') return `ofInt64(${v})`;
  return ts === 'string' || ts === 'boolean' || ts === 'number' ? `ofType(${v}, '${ts}')` : v;
}

function writerOf(m: DescMessage): string {
  const names = Object.fromEntries(m.fields.map((f) => [f.number, f.name]));
  const lines = [
    `const ${m.name}_NAMES: Record<number, string> = ${JSON.stringify(names)};`,
    '',
    `/** Writes the fields of ${m.typeName} that are set (explicit presence: a zero is written too; null is unset), in field-number order. */`,
    `export function write${m.name}(w: BinaryWriter, m: ${m.name}Fields): void {`,
    '  let at = 0; // the field being written, for the error',
    '  try {',
  ];
  const fields = [...m.fields].sort((a, b) => a.number - b.number);
  for (const f of fields) {
    const s = shape(f);
    const v = `m.${f.localName}`;
    // The tag as one varint, computed here rather than by BinaryWriter.tag() per record.
    const tag = `w.uint32(${((f.number << 3) | s.wire) >>> 0})`;
    let body: string;
    if (s.message !== undefined) body = `${tag}.fork(); write${s.message.name}(w, ${v}); w.join();`;
    else if (s.repeated) body = `for (const x of ${v}) ${tag}.${SCALARS[s.scalar as ScalarType].method}(${typed(s, 'x')});`;
    else body = `${tag}.${s.enum !== undefined ? 'int32' : SCALARS[s.scalar as ScalarType].method}(${typed(s, v)});`;
    // `!= null`: a field set to null is absent, as protobuf-es's create() and the field rules treat it.
    lines.push(`    if (${v} != null) {`, `      at = ${f.number};`, `      ${body}`, '    }');
    if (f.presence === LEGACY_REQUIRED)
      lines.push('    else {', `      at = ${f.number};`, "      throw new Error('required field not set');", '    }');
  }
  lines.push('  } catch (e) {');
  lines.push(`    throw new Error(\`field \${at} (\${${m.name}_NAMES[at]}) of ${m.typeName}: \${(e as Error).message}\`);`);
  lines.push('  }', '}');
  return lines.join('\n');
}

function readerOf(m: DescMessage): string {
  const lines = [
    `/** Reads the records of ${m.typeName} from \`r\` up to \`end\` into \`m\` (a message's fields merge into what \`m\` holds). */`,
    `export function read${m.name}(r: BinaryReader, end: number, m: ${m.name}Fields): ${m.name}Fields {`,
    '  while (r.pos < end) {',
    '    const [no, wt] = r.tag();',
    '    switch (no) {',
  ];
  for (const f of m.fields) {
    const s = shape(f);
    lines.push(`      case ${f.number}:`);
    lines.push(`        if (wt !== ${s.wire}) throw wrongWireType(${f.number}, '${f.name}', wt, ${s.wire});`);
    if (s.message !== undefined) {
      lines.push(`        m.${f.localName} = read${s.message.name}(r, nestedEnd(r), m.${f.localName} ?? {});`);
    } else if (s.enum !== undefined) {
      lines.push('        {', '          const v = r.int32();');
      lines.push(`          if (${knownValue(s.enum, 'v')}) m.${f.localName} = v; // closed enum: an unknown value is an unknown field`);
      lines.push('        }');
    } else {
      const scalar = s.scalar as ScalarType;
      // 64-bit readers return a string only where BigInt is missing, which Node never is.
      const cast = SCALARS[scalar].ts === 'bigint' ? ' as bigint' : '';
      const read = `r.${SCALARS[scalar].method}(${scalar === ScalarType.STRING && f.utf8Validation ? 'true' : ''})${cast}`;
      if (s.repeated) lines.push(`        (m.${f.localName} ??= []).push(${read});`);
      else lines.push(`        m.${f.localName} = ${read};`);
    }
    lines.push('        break;');
  }
  lines.push('      default:', '        r.skip(wt, no);', '    }', '  }');
  lines.push(`  if (r.pos !== end) throw new Error('a field of ${m.typeName} runs past the end of the message');`);
  lines.push('  return m;', '}');
  return lines.join('\n');
}

export function generate(): string {
  const messages = file_cdap.messages;
  for (const m of messages) {
    for (const f of m.fields) {
      if (f.fieldKind === 'message' && f.message.fields.some((g) => g.fieldKind === 'message' && g.message === m)) {
        throw new Error(`gen-codec: ${m.typeName} is recursive; add a depth limit before generating it`);
      }
    }
  }
  const parts = [
    '// Generated by scripts/gen-codec.ts from cdap.proto (through the descriptor in cdap_pb.ts). Do not edit:',
    '// run `npm run generate`. test/cdap/wire.test.ts checks it against protobuf-es and that it is up to date.',
    '/* eslint-disable */',
    "import type { BinaryReader, BinaryWriter } from '@bufbuild/protobuf/wire';",
    '',
    '/** Where a length-delimited nested message ends; throws when its length runs past the input. */',
    'function nestedEnd(r: BinaryReader): number {',
    '  const end = r.uint32() + r.pos;',
    "  if (end > r.len) throw new Error('premature EOF');",
    '  return end;',
    '}',
    '',
    '/** `v`, if it is of type `type`; else throws, rather than let the writer coerce it. */',
    'function ofType<T>(v: T, type: string): T {',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: generated source, a template literal in it
    "  if (typeof v !== type) throw new Error(`expected a ${type}, got ${v === null ? 'null' : typeof v}`);",
    '  return v;',
    '}',
    '',
    '/** `v`, if it is a bigint or a number (a 64-bit field); else throws, rather than let the writer coerce it. */',
    'function ofInt64<T>(v: T): T {',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: generated source, a template literal in it
    "  if (typeof v !== 'bigint' && typeof v !== 'number') throw new Error(`expected a bigint, got ${v === null ? 'null' : typeof v}`);",
    '  return v;',
    '}',
    '',
    'function wrongWireType(no: number, name: string, got: number, expected: number): Error {',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: generated source, a template literal in it
    '  return new Error(`field ${no} (${name}) has wire type ${got}, expected ${expected}`);',
    '}',
  ];
  for (const m of messages) parts.push('', interfaceOf(m), '', writerOf(m), '', readerOf(m));
  return `${parts.join('\n')}\n`;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const text = generate();
  if (process.argv.includes('--check')) {
    const current = readFileSync(OUT, 'utf8');
    if (current !== text) {
      process.stderr.write(`${OUT} is out of date: run npm run generate\n`);
      process.exit(1);
    }
  } else {
    writeFileSync(OUT, text);
  }
}
