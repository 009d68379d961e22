import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  decodeCdapMessage,
  decodeEnrollmentInfo,
  encodeCdapMessage,
  encodeEnrollmentInfo,
  OpCode,
  ProtocolError,
} from '../../src/index.js';
import { fromHex, malformed, vectorMessage, wellFormed } from './vectors.js';

describe('CDAP codec against ../shared/vectors/cdap.json', () => {
  it.each(wellFormed.map((row) => [row.name, row] as const))('%s decodes to its fields', (_name, row) => {
    const decoded = decodeCdapMessage(fromHex(row.hex));
    const { msg, info } = vectorMessage(row.fields);
    if (info !== undefined) {
      const { byteval, ...rest } = decoded.objValue ?? {};
      expect(Buffer.from(byteval ?? []).toString('hex')).toBe(row.enrollment_info_hex);
      expect(decodeEnrollmentInfo(byteval ?? new Uint8Array())).toEqual(info);
      expect({ ...decoded, objValue: rest }).toEqual({ ...msg, objValue: {} });
    } else {
      expect(decoded).toEqual(msg);
    }
  });

  it.each(wellFormed.map((row) => [row.name, row] as const))('%s re-encodes to the same message', (_name, row) => {
    const decoded = decodeCdapMessage(fromHex(row.hex));
    expect(decodeCdapMessage(encodeCdapMessage(decoded))).toEqual(decoded);
  });

  it('EnrollmentInfo rows re-encode from their fields', () => {
    for (const row of wellFormed.filter((r) => r.enrollment_info_hex !== undefined)) {
      const { info } = vectorMessage(row.fields);
      expect(decodeEnrollmentInfo(encodeEnrollmentInfo(info ?? {}))).toEqual(info);
    }
  });
});

describe('CDAP codec against ../shared/vectors/cdap-malformed.json', () => {
  it.each(malformed.map((row) => [row.name, row] as const))('%s is a ProtocolError', (_name, row) => {
    expect(() => decodeCdapMessage(fromHex(row.hex))).toThrow(ProtocolError);
  });
});

describe('test/vectors is the copy of ../shared/vectors', () => {
  const shared = new URL('../../../shared/vectors/', import.meta.url);
  // The shared folder sits beside a checkout (and beside CI's clone); an installed copy may lack it.
  it.runIf(existsSync(shared))('the copies are identical', () => {
    for (const file of ['cdap.json', 'cdap-malformed.json']) {
      expect(readFileSync(new URL(`../vectors/${file}`, import.meta.url), 'utf8')).toBe(readFileSync(new URL(file, shared), 'utf8'));
    }
  });
});

// Found by an audit (2026-12-06): a JavaScript caller's null was a TypeError from deep inside.
describe('encoding what is not a message', () => {
  it('is a ProtocolError saying what it got', () => {
    for (const bad of [null, undefined, 5, 'M_READ']) {
      expect(() => encodeCdapMessage(bad as never)).toThrow(ProtocolError);
      expect(() => encodeEnrollmentInfo(bad as never)).toThrow(ProtocolError);
    }
    expect(() => encodeCdapMessage(null as never)).toThrow('cannot encode CDAP message: expected an object, got null');
    expect(() => encodeEnrollmentInfo(undefined as never)).toThrow('cannot encode EnrollmentInfo: expected an object, got undefined');
  });
});

// Found by a review (2026-12-06): the rule check reads every field now, and a value whose presence cannot be judged
// threw a RangeError or the getter's own error, where a ProtocolError came before.
describe('encoding a field whose presence cannot be judged', () => {
  it('is a ProtocolError, with what went wrong as its cause', () => {
    const authValue: Record<string, unknown> = {};
    authValue.self = authValue; // a cycle
    const connect = { opCode: 0, absSyntax: 73, srcApName: 'm', destApName: 'b', version: 1n, invokeId: 1, authValue };
    expect(() => encodeCdapMessage(connect as never)).toThrow(ProtocolError);
    const broken = new Error('a getter that throws');
    const read = Object.defineProperty({ opCode: 6, invokeId: 1, objClass: 'c', objName: '/n' }, 'filter', {
      enumerable: true,
      get: () => {
        throw broken;
      },
    });
    let err: unknown;
    try {
      encodeCdapMessage(read as never);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as ProtocolError).cause).toBe(broken);
  });
});

// Found by an audit (2026-12-06): BinaryWriter's string() and bool() coerce what they get, so a JavaScript caller's
// objClass 5 went out as "5" and boolval "false" as true: a message other than the one asked for.
describe('encoding a field given a value of another type', () => {
  const read = { opCode: OpCode.M_READ, invokeId: 1, objClass: 'c', objName: '/n' };
  it('is a ProtocolError naming the field: strings, bools, numbers and 64-bit fields', () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ ...read, objClass: 5 }, 'field 5 (obj_class) of rina.cdap.CDAPMessage: expected a string, got number'],
      [{ ...read, objName: { toString: () => '/n' } }, 'field 6 (obj_name) of rina.cdap.CDAPMessage: expected a string, got object'],
      [
        { ...read, opCode: OpCode.M_WRITE, objValue: { boolval: 'false' } },
        'field 9 (boolval) of rina.cdap.ObjValue: expected a boolean, got string',
      ],
      [
        { ...read, opCode: OpCode.M_WRITE, objValue: { strval: 1n } },
        'field 5 (strval) of rina.cdap.ObjValue: expected a string, got bigint',
      ],
      // Found by a review (2026-12-06): the number writers coerce numeric strings and booleans too.
      [
        { ...read, opCode: OpCode.M_WRITE, objValue: { intval: '5' } },
        'field 1 (intval) of rina.cdap.ObjValue: expected a number, got string',
      ],
      [
        { ...read, opCode: OpCode.M_WRITE, objValue: { int64val: true } },
        'field 3 (int64val) of rina.cdap.ObjValue: expected a bigint, got boolean',
      ],
      [
        { ...read, opCode: OpCode.M_WRITE, objValue: { int64val: '7' } },
        'field 3 (int64val) of rina.cdap.ObjValue: expected a bigint, got string',
      ],
      [
        { ...read, opCode: OpCode.M_WRITE, objValue: { sint64val: false } },
        'field 4 (sint64val) of rina.cdap.ObjValue: expected a bigint, got boolean',
      ],
      [{ ...read, invokeId: '3' }, 'field 3 (invoke_id) of rina.cdap.CDAPMessage: expected a number, got string'],
    ];
    for (const [msg, why] of cases) expect(() => encodeCdapMessage(msg as never), why).toThrow(why);
    expect(() => encodeEnrollmentInfo({ difName: 7 } as never)).toThrow('expected a string, got number');
    const connect = { opCode: 0, absSyntax: 73, srcApName: 'm', destApName: 'b', version: 1n, invokeId: 1 };
    expect(() => encodeCdapMessage({ ...connect, authValue: { authName: ['u'] } } as never)).toThrow(
      'field 1 (auth_name) of rina.cdap.AuthValue: expected a string, got object',
    );
  });

  it('encodes the same values of the right type as before, a 64-bit field given a number too', () => {
    const bytes = encodeCdapMessage({ ...read, opCode: OpCode.M_WRITE, objValue: { boolval: false, strval: '' } } as never);
    expect(decodeCdapMessage(bytes).objValue).toEqual({ boolval: false, strval: '' });
    const wide = encodeCdapMessage({ ...read, opCode: OpCode.M_WRITE, objValue: { int64val: 7, intval: -1 } } as never);
    expect(decodeCdapMessage(wide).objValue).toEqual({ int64val: 7n, intval: -1 });
  });
});
