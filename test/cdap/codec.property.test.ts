import fc from 'fast-check';
import { name, validMessage } from '../support/arbitraries.js';
import { describe, expect, it } from 'vitest';
import {
  type CdapMessage,
  decodeCdapMessage,
  decodeEnrollmentInfo,
  encodeCdapMessage,
  encodeEnrollmentInfo,
  type EnrollmentInfo,
  OpCode,
  ProtocolError,
} from '../../src/index.js';

describe('CDAP codec properties', () => {
  it('every message that follows the field rules survives encode then decode', () => {
    fc.assert(
      fc.property(validMessage, (msg) => {
        expect(decodeCdapMessage(encodeCdapMessage(msg))).toEqual(msg);
      }),
      { numRuns: 2000 },
    );
  });

  it('arbitrary bytes decode to a message or throw ProtocolError, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (input) => {
        try {
          decodeCdapMessage(input);
        } catch (err) {
          expect(err).toBeInstanceOf(ProtocolError);
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('a valid PDU with bytes flipped decodes or throws ProtocolError', () => {
    fc.assert(
      fc.property(validMessage, fc.nat(), fc.integer({ min: 1, max: 255 }), (msg, at, xor) => {
        const pdu = encodeCdapMessage(msg);
        if (pdu.length === 0) return;
        pdu[at % pdu.length] = (pdu[at % pdu.length] ?? 0) ^ xor;
        try {
          decodeCdapMessage(pdu);
        } catch (err) {
          expect(err).toBeInstanceOf(ProtocolError);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('EnrollmentInfo survives encode then decode; addresses above MAX_SAFE_INTEGER are refused', () => {
    const info: fc.Arbitrary<EnrollmentInfo> = fc.record(
      {
        address: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        lowerDifs: fc.array(name, { minLength: 1, maxLength: 3 }),
        startEarly: fc.boolean(),
        difName: name,
        ribObjectCount: fc.nat({ max: 1000 }),
        dtConstants: fc.record({
          addressWidth: fc.integer({ min: 1, max: 8 }),
          seqRolloverThresh: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        }),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(info, (i) => {
        expect(decodeEnrollmentInfo(encodeEnrollmentInfo(i))).toEqual(i);
      }),
    );
    // 2^53 as a uint64 varint: 0x80 x7, 0x10
    const tooBig = Uint8Array.from([0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]);
    expect(() => decodeEnrollmentInfo(tooBig)).toThrow(/MAX_SAFE_INTEGER/);
    expect(() => encodeEnrollmentInfo({ address: 2 ** 53 })).toThrow(ProtocolError);
    expect(() => encodeEnrollmentInfo({ address: -1 })).toThrow(ProtocolError);
  });

  it('unknown EnrollmentInfo fields are skipped, not rejected', () => {
    // address 5, then field 99 (varint 7), then field 16 "x"
    const pdu = Uint8Array.from([0x08, 0x05, 0x98, 0x06, 0x07, 0x82, 0x01, 0x01, 0x78]);
    expect(decodeEnrollmentInfo(pdu)).toEqual({ address: 5, difName: 'x' });
  });
});

describe('CDAP field rules', () => {
  const ok: CdapMessage = { opCode: OpCode.M_CONNECT, absSyntax: 73, version: 1n, invokeId: 1, srcApName: 'a', destApName: 'b' };
  it.each<[string, CdapMessage, RegExp]>([
    ['CONNECT without version', { ...ok, version: undefined }, /must carry version/],
    ['CONNECT without src_ap_name', { ...ok, srcApName: '' }, /must carry src_ap_name/],
    ['CONNECT without invoke_id', { ...ok, invokeId: 0 }, /must carry invoke_id/],
    ['CONNECT with an object', { ...ok, objClass: 'c', objName: '/n' }, /must not carry obj_class/],
    ['a reply without invoke_id', { opCode: OpCode.M_READ_R }, /must carry invoke_id/],
    ['a request with a result', { opCode: OpCode.M_READ, result: -1 }, /must not carry result/],
    ['READ with abs_syntax', { opCode: OpCode.M_READ, absSyntax: 73 }, /must not carry abs_syntax/],
    ['WRITE without a value', { opCode: OpCode.M_WRITE, objClass: 'c', objName: '/n' }, /must carry obj_value/],
    ['obj_class without obj_name', { opCode: OpCode.M_CREATE, objClass: 'c' }, /come together/],
    ['scope on a reply', { opCode: OpCode.M_READ_R, invokeId: 3, scope: 1 }, /must not carry scope/],
    ['an op code out of range', { opCode: 18 as OpCode }, /not a CDAP op code/],
  ])('encode refuses %s', (_what, msg, why) => {
    expect(() => encodeCdapMessage(msg)).toThrow(ProtocolError);
    expect(() => encodeCdapMessage(msg)).toThrow(why);
  });

  it('judges presence by value, as rlite: result 0 on a request passes', () => {
    expect(() => encodeCdapMessage({ opCode: OpCode.M_READ, result: 0, invokeId: 4 })).not.toThrow();
  });

  it('a decoded message that breaks a rule keeps its op code and invoke id on the error', () => {
    // M_READ_R with invoke id 6 and abs_syntax 73 (forbidden on READ_R)
    const pdu = Uint8Array.from([0x08, 0x49, 0x10, 0x09, 0x18, 0x06]);
    const err = (() => {
      try {
        decodeCdapMessage(pdu);
      } catch (e) {
        return e as ProtocolError;
      }
      throw new Error('decoded');
    })();
    expect(err).toBeInstanceOf(ProtocolError);
    expect(err.opCode).toBe(OpCode.M_READ_R);
    expect(err.invokeId).toBe(6);
  });
});
