/**
 * The encoders that splice an invoke id into bytes encoded once (a keepalive
 * and its answer): byte for byte what encodeCdapMessage gives, for any id.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeByInvokeId, encodeCdapMessage } from '../../src/cdap/codec.js';
import { encodeKeepaliveAnswer, encodeKeepaliveRequest, KEEPALIVE_OBJECT, keepaliveRequest, replyTo } from '../../src/cdap/messages.js';
import { type CdapMessage, OpCode } from '../../src/cdap/types.js';
import { int32, name, validMessage } from '../support/arbitraries.js';

const inRange = fc.integer({ min: 1, max: 2 ** 31 - 1 });
/** Ids around each varint length's edges, where a splice that miscounts bytes would show. */
const edgeIds = fc.constantFrom(1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 268_435_455, 268_435_456, 2 ** 31 - 1);

/** encodeCdapMessage's bytes, or the error it throws. */
function encodedOrError(encode: () => Uint8Array): Uint8Array | string {
  try {
    return encode();
  } catch (err) {
    return `${(err as Error).name}: ${(err as Error).message}`;
  }
}

describe('encodeByInvokeId', () => {
  it('gives the bytes encodeCdapMessage gives, for any message and any id in 1..2^31-1', () => {
    fc.assert(
      fc.property(validMessage, fc.oneof(inRange, edgeIds), (msg, invokeId) => {
        const { invokeId: _, ...rest } = msg;
        const encode = encodeByInvokeId(rest);
        expect(encode(invokeId)).toEqual(encodeCdapMessage({ ...rest, invokeId } as CdapMessage));
        expect(encode(invokeId)).not.toBe(encode(invokeId)); // a fresh copy each time: a sealed or queued PDU is never changed
      }),
    );
  });

  it('gives undefined for an id outside 1..2^31-1, which the caller encodes the long way', () => {
    const encode = encodeByInvokeId({ opCode: OpCode.M_READ, ...KEEPALIVE_OBJECT });
    for (const id of [0, -1, -(2 ** 31), 2 ** 31, 1.5, Number.NaN]) expect(encode(id)).toBeUndefined();
  });
});

describe('the keepalive encoders', () => {
  it('a keepalive M_READ: the bytes of encodeCdapMessage(keepaliveRequest(id)), for any int32 id', () => {
    fc.assert(
      fc.property(fc.oneof(int32, edgeIds), (invokeId) => {
        expect(encodeKeepaliveRequest(invokeId)).toEqual(encodeCdapMessage(keepaliveRequest(invokeId)));
      }),
    );
  });

  it('the answer to any M_READ: the bytes of encodeCdapMessage(replyTo(request)), or the same error', () => {
    const request = fc.record(
      {
        opCode: fc.constantFrom(OpCode.M_READ, OpCode.M_WRITE),
        invokeId: fc.oneof(int32, edgeIds),
        objClass: fc.oneof(fc.constant(KEEPALIVE_OBJECT.objClass), name),
        objName: fc.oneof(fc.constant(KEEPALIVE_OBJECT.objName), name),
      },
      { requiredKeys: ['opCode', 'objClass', 'objName'] },
    );
    fc.assert(
      fc.property(request, (msg) => {
        const cdap = msg as CdapMessage;
        expect(encodedOrError(() => encodeKeepaliveAnswer(cdap))).toEqual(encodedOrError(() => encodeCdapMessage(replyTo(cdap))));
      }),
    );
  });
});
