/**
 * What the codec says when it refuses (src/cdap/codec.ts), and the small
 * helpers of src/cdap/types.ts and messages.ts that name and classify
 * messages: each refusal is a ProtocolError whose message says what was
 * being encoded or decoded and why.
 */
import { describe, expect, it } from 'vitest';
import { isEnrollmentObject, keepaliveRequest } from '../../src/cdap/messages.js';
import { isReply, opCodeName } from '../../src/cdap/types.js';
import {
  type CdapMessage,
  decodeCdapMessage,
  decodeEnrollmentInfo,
  encodeCdapMessage,
  encodeEnrollmentInfo,
  OpCode,
  ProtocolError,
} from '../../src/index.js';

function refusal(run: () => unknown): ProtocolError {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(ProtocolError);
    return err as ProtocolError;
  }
  throw new Error('not refused');
}

describe('the codec refuses with a ProtocolError that says what and why', () => {
  it('decoding: not bytes, bytes that are not protobuf, a message without an op code', () => {
    expect(refusal(() => decodeCdapMessage('0801' as unknown as Uint8Array)).message).toBe(
      'cannot decode CDAP message: input is not a Uint8Array',
    );
    expect(refusal(() => decodeEnrollmentInfo([8, 1] as unknown as Uint8Array)).message).toBe(
      'cannot decode EnrollmentInfo: input is not a Uint8Array',
    );
    const truncated = refusal(() => decodeCdapMessage(Uint8Array.of(0x10)));
    expect(truncated.message).toMatch(/^cannot decode CDAP message: \S/);
    expect(truncated.cause).toBeInstanceOf(Error);
    expect(refusal(() => decodeEnrollmentInfo(Uint8Array.of(0x08))).message).toMatch(/^cannot decode EnrollmentInfo: \S/);
    const noOp = refusal(() => decodeCdapMessage(Uint8Array.of(0x18, 0x07)));
    expect(noOp.message).toBe('invalid CDAP message: op_code is missing or not a CDAP op code');
    expect(noOp.invokeId).toBe(7);
  });

  it('encoding: a value the wire type cannot hold, named with its cause', () => {
    const err = refusal(() => encodeCdapMessage({ opCode: OpCode.M_READ_R, invokeId: 2 ** 40 }));
    expect(err.message).toMatch(/^cannot encode CDAP message: \S/);
    expect(err.cause).toBeInstanceOf(Error);
    // the shared writer is left clean: the next message encodes alone
    expect(decodeCdapMessage(encodeCdapMessage({ opCode: OpCode.M_READ_R, invokeId: 2 }))).toEqual({
      opCode: OpCode.M_READ_R,
      invokeId: 2,
    });
    for (const info of [{ dtConstants: { maxPduSize: -1 } }, { address: 5, dtConstants: { maxPduSize: -1 } }]) {
      expect(refusal(() => encodeEnrollmentInfo(info)).message).toMatch(/^cannot encode EnrollmentInfo: \S/);
    }
  });

  it('EnrollmentInfo.address: 0 to 2^53 - 1 both ways; anything else refused, saying so', () => {
    for (const address of [0, 1, Number.MAX_SAFE_INTEGER]) {
      expect(decodeEnrollmentInfo(encodeEnrollmentInfo({ address })).address).toBe(address);
    }
    for (const address of [-1, 2 ** 53, 1.5, Number.NaN]) {
      expect(refusal(() => encodeEnrollmentInfo({ address })).message).toBe(
        `cannot encode EnrollmentInfo: address ${address} is not a non-negative safe integer`,
      );
    }
    // 2^53 on the wire (a varint of another implementation): refused on decode, never rounded
    const bytes = Uint8Array.of(0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10);
    expect(refusal(() => decodeEnrollmentInfo(bytes)).message).toBe(
      'invalid EnrollmentInfo: address 9007199254740992 is above Number.MAX_SAFE_INTEGER',
    );
    expect(decodeEnrollmentInfo(encodeEnrollmentInfo({ difName: 'd' }))).toEqual({ difName: 'd' });
  });
});

describe('naming and classifying messages', () => {
  it('opCodeName names the 18 op codes, and says "op N" for any other value', () => {
    expect(Object.values(OpCode).map(opCodeName)).toEqual(Object.keys(OpCode));
    expect(opCodeName(15)).toBe('M_START_R');
    expect(opCodeName(99)).toBe('op 99');
    expect(opCodeName(-1)).toBe('op -1');
  });

  it('isReply: the odd op codes', () => {
    expect(Object.values(OpCode).filter(isReply)).toEqual(Object.values(OpCode).filter((op) => Object.keys(OpCode)[op]?.endsWith('_R')));
    expect(isReply(OpCode.M_CONNECT_R)).toBe(true);
    expect(isReply(OpCode.M_STOP)).toBe(false);
  });

  it('isEnrollmentObject: class enrollment and name /mgmt/enrollment, both', () => {
    const base: CdapMessage = { opCode: OpCode.M_STOP, invokeId: 3 };
    expect(isEnrollmentObject({ ...base, objClass: 'enrollment', objName: '/mgmt/enrollment' })).toBe(true);
    expect(isEnrollmentObject({ ...base, objClass: 'enrollment', objName: '/mgmt/other' })).toBe(false);
    expect(isEnrollmentObject({ ...base, objClass: 'other', objName: '/mgmt/enrollment' })).toBe(false);
    expect(isEnrollmentObject(base)).toBe(false);
    expect(isEnrollmentObject(keepaliveRequest(4))).toBe(false);
    expect(keepaliveRequest(4)).toEqual({ opCode: OpCode.M_READ, invokeId: 4, objClass: 'keepalive', objName: '/mgmt/keepalive' });
  });
});
