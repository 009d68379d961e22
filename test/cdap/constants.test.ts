/**
 * src/cdap/messages.ts against docs/PROTOCOL.md: the fixed values (§2, §4,
 * §5, §7), the invoke-id counter (§8) and how a reply is made from its
 * request. Each value here is copied from the page, not from the code.
 */
import { describe, expect, it } from 'vitest';
import {
  ABS_SYNTAX,
  CDAP_VERSION,
  connectRequest,
  DEFAULT_DT_CONSTANTS,
  ENROLLMENT_OBJECT,
  enrollmentMessage,
  InvokeIds,
  KEEPALIVE_OBJECT,
  Result,
  replyTo,
} from '../../src/cdap/messages.js';
import { type CdapMessage, decodeEnrollmentInfo, encodeCdapMessage, encodeEnrollmentInfo, OpCode } from '../../src/index.js';

describe('the fixed values of PROTOCOL.md', () => {
  it('abs_syntax 73, version 1, the enrollment and keepalive objects, the result codes (§2, §5, §7)', () => {
    expect(ABS_SYNTAX).toBe(73);
    expect(CDAP_VERSION).toBe(1n);
    expect(ENROLLMENT_OBJECT).toEqual({ objClass: 'enrollment', objName: '/mgmt/enrollment' });
    expect(KEEPALIVE_OBJECT).toEqual({ objClass: 'keepalive', objName: '/mgmt/keepalive' });
    expect(Result).toEqual({ OK: 0, FAILED: -1, NOT_CONNECTED: -2, NAME_IN_USE: -3, UNAVAILABLE: -4, BUSY: -5, AUTH_FAILED: -6 });
  });

  it("the DT constants sent by default are rlite's, field by field (§4)", () => {
    expect(DEFAULT_DT_CONSTANTS).toEqual({
      maxPduSize: 65536,
      addressWidth: 4,
      portIdWidth: 2,
      cepIdWidth: 2,
      qosIdWidth: 2,
      seqNumWidth: 4,
      lengthWidth: 2,
      seqRolloverThresh: 2147483648n,
      maxPduLifetime: 4000,
      concatenationEnabled: false,
      fragmentationEnabled: false,
      integrityEnabled: false,
      maxRtxTime: 1000,
      maxAckDelay: 200,
      ctrlSeqNumWidth: 4,
    });
    // the three flags are written although false
    const bytes = encodeEnrollmentInfo({ dtConstants: DEFAULT_DT_CONSTANTS });
    expect(decodeEnrollmentInfo(bytes).dtConstants).toEqual(DEFAULT_DT_CONSTANTS);
  });
});

describe('InvokeIds (§8)', () => {
  it('counts 1, 2, 3, ... from its first id, up to 2^31 - 1, then 1 again: never 0', () => {
    const ids = new InvokeIds();
    expect([ids.next(), ids.next(), ids.next()]).toEqual([1, 2, 3]);
    const near = new InvokeIds(2 ** 31 - 2);
    expect([near.next(), near.next(), near.next(), near.next()]).toEqual([2 ** 31 - 2, 2 ** 31 - 1, 1, 2]);
    expect(new InvokeIds(7).next()).toBe(7);
  });
});

describe('replyTo: a reply from its request', () => {
  it('is the next op code with the same invoke id, result 0 unless told, and a reason only when there is one', () => {
    const read: CdapMessage = { opCode: OpCode.M_READ, invokeId: 12, ...KEEPALIVE_OBJECT };
    expect(replyTo(read)).toEqual({ opCode: OpCode.M_READ_R, invokeId: 12, result: 0, ...KEEPALIVE_OBJECT });
    expect(replyTo(read, Result.FAILED, 'not enrolled')).toEqual({
      opCode: OpCode.M_READ_R,
      invokeId: 12,
      result: -1,
      resultReason: 'not enrolled',
      ...KEEPALIVE_OBJECT,
    });
    expect(replyTo(read, Result.FAILED, '')).not.toHaveProperty('resultReason');
    expect(replyTo(read, Result.FAILED)).not.toHaveProperty('resultReason');
  });

  it('carries the object of a request that names one, and none otherwise', () => {
    const release: CdapMessage = { opCode: OpCode.M_RELEASE, invokeId: 3 };
    expect(replyTo(release)).toEqual({ opCode: OpCode.M_RELEASE_R, invokeId: 3, result: 0 });
    const half: CdapMessage = { opCode: OpCode.M_STOP, invokeId: 4, objClass: 'enrollment' };
    expect(replyTo(half)).not.toHaveProperty('objClass');
    const half2: CdapMessage = { opCode: OpCode.M_STOP, invokeId: 4, objName: '/mgmt/enrollment' };
    expect(replyTo(half2)).not.toHaveProperty('objName');
  });

  it('to M_CONNECT: abs_syntax and version, the names swapped, no object; and it passes the field rules', () => {
    const connect = connectRequest(5, 'member-1', 'demo.DIF');
    expect(connect).toEqual({
      opCode: OpCode.M_CONNECT,
      absSyntax: 73,
      version: 1n,
      invokeId: 5,
      authMech: 0,
      srcApName: 'member-1',
      destApName: 'demo.DIF',
    });
    const reply = replyTo(connect);
    expect(reply).toEqual({
      opCode: OpCode.M_CONNECT_R,
      invokeId: 5,
      result: 0,
      absSyntax: 73,
      version: 1n,
      srcApName: 'demo.DIF',
      destApName: 'member-1',
    });
    expect(() => encodeCdapMessage(connect)).not.toThrow();
    expect(() => encodeCdapMessage(reply)).not.toThrow();
    // A CONNECT that (wrongly) names an object: the reply still carries none, so it passes the rules.
    expect(replyTo({ ...connect, objClass: 'c', objName: '/n' })).not.toHaveProperty('objClass');
  });
});

describe('enrollmentMessage', () => {
  it('is the enrollment object with the EnrollmentInfo encoded (or the bytes given), and a result only when given', () => {
    const start = enrollmentMessage(OpCode.M_START, 2, { address: 7 });
    expect(start).toEqual({
      opCode: OpCode.M_START,
      invokeId: 2,
      ...ENROLLMENT_OBJECT,
      objValue: { byteval: encodeEnrollmentInfo({ address: 7 }) },
    });
    expect(start).not.toHaveProperty('result');
    const bytes = Uint8Array.of(8, 9);
    expect(enrollmentMessage(OpCode.M_START_R, 2, bytes, 0)).toEqual({
      opCode: OpCode.M_START_R,
      invokeId: 2,
      ...ENROLLMENT_OBJECT,
      objValue: { byteval: bytes },
      result: 0,
    });
  });
});
