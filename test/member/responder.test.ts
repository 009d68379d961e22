import { describe, expect, it } from 'vitest';
import { decodeCdapMessage, encodeCdapMessage } from '../../src/cdap/codec.js';
import { ENROLLMENT_OBJECT, KEEPALIVE_OBJECT, Result } from '../../src/cdap/messages.js';
import { type CdapMessage, OpCode } from '../../src/cdap/types.js';
import { ProtocolError } from '../../src/errors.js';
import { answerMalformed, answerProbe, type ResponderInit, serve } from '../../src/member/responder.js';
import { MemoryRib } from '../../src/rib/memory-rib.js';

function responder(rib = new MemoryRib()) {
  const sent: Array<{ to: string; msg: CdapMessage }> = [];
  let released = 0;
  const init: ResponderInit = {
    rib,
    send: (to, msg) => void sent.push({ to, msg }),
    released: () => {
      released++;
    },
  };
  const r = {
    serve: (msg: CdapMessage, from: string) => serve(init, msg, from, undefined),
    answerProbe: (pdu: Uint8Array, from: string) => answerProbe(init, pdu, from, undefined),
    answerMalformed: (err: unknown, from: string) => answerMalformed(init, err, from, undefined),
  };
  return { r, rib, sent, released: () => released };
}

describe('Responder', () => {
  it('applies M_CREATE and M_DELETE to the RIB and confirms each', async () => {
    const { r, rib, sent } = responder();
    await r.serve({ opCode: OpCode.M_CREATE, invokeId: 5, objName: '/x', objClass: 'c', objValue: { intval: 1 } }, 'b');
    expect(rib.read('/x')).toMatchObject({ class: 'c', value: { intval: 1 } });
    await r.serve({ opCode: OpCode.M_DELETE, invokeId: 6, objName: '/x' }, 'b');
    expect(rib.read('/x')).toBeUndefined();
    expect(sent.map((s) => [s.msg.opCode, s.msg.invokeId, s.msg.result ?? 0])).toEqual([
      [OpCode.M_CREATE_R, 5, 0],
      [OpCode.M_DELETE_R, 6, 0],
    ]);
  });

  it('refuses an update without a name or a value, and changes nothing', async () => {
    const { r, rib, sent } = responder();
    await r.serve({ opCode: OpCode.M_WRITE, invokeId: 7, objName: '/y' }, 'b');
    await r.serve({ opCode: OpCode.M_CREATE, invokeId: 8 }, 'b');
    expect(rib.list()).toEqual([]);
    expect(sent.map((s) => [s.msg.result, s.msg.resultReason])).toEqual([
      [Result.FAILED, 'a RIB object needs a class and a value'],
      [Result.FAILED, 'invalid RIB object name (none): must be a path starting with "/"'],
    ]);
  });

  it('answers keepalives, refuses other reads, confirms a repeated M_STOP of the enrollment and refuses another', async () => {
    const { r, sent } = responder();
    await r.serve({ opCode: OpCode.M_READ, invokeId: 1, ...KEEPALIVE_OBJECT }, 'b');
    await r.serve({ opCode: OpCode.M_READ, invokeId: 2, objName: '/secret', objClass: 'x' }, 'b');
    await r.serve({ opCode: OpCode.M_STOP, invokeId: 3, ...ENROLLMENT_OBJECT }, 'b');
    await r.serve({ opCode: OpCode.M_STOP, invokeId: 4, objName: '/other', objClass: 'other' }, 'b');
    expect(sent.map((s) => [s.msg.opCode, s.msg.result ?? 0, s.msg.resultReason])).toEqual([
      [OpCode.M_READ_R, 0, undefined],
      [OpCode.M_READ_R, Result.FAILED, 'not readable'],
      [OpCode.M_STOP_R, 0, undefined],
      [OpCode.M_STOP_R, Result.FAILED, 'unknown object'],
    ]);
  });

  it('refuses a request it does not support, naming why, and answers no reply', async () => {
    const { r, sent } = responder();
    await r.serve({ opCode: OpCode.M_START, invokeId: 12, objName: '/x', objClass: 'x' }, 'b');
    await r.serve({ opCode: OpCode.M_WRITE_R, invokeId: 13, result: 0 }, 'b');
    expect(sent.map((s) => [s.msg.opCode, s.msg.invokeId, s.msg.result, s.msg.resultReason])).toEqual([
      [OpCode.M_START_R, 12, Result.FAILED, 'operation not supported by the member'],
    ]);
  });

  it('confirms M_RELEASE, then reports the release', async () => {
    const { r, sent, released } = responder();
    await r.serve({ opCode: OpCode.M_RELEASE, invokeId: 4 }, 'b');
    expect(sent[0]?.msg.opCode).toBe(OpCode.M_RELEASE_R);
    expect(released()).toBe(1);
  });

  it('answers a probe only if it is a keepalive, and ignores garbage', () => {
    const { r, sent } = responder();
    r.answerProbe(encodeCdapMessage({ opCode: OpCode.M_READ, invokeId: 9, ...KEEPALIVE_OBJECT }), 'other');
    r.answerProbe(encodeCdapMessage({ opCode: OpCode.M_CREATE, invokeId: 10, objName: '/z', objClass: 'c', objValue: {} }), 'other');
    r.answerProbe(new Uint8Array([0xff, 0xff, 0xff]), 'other');
    // only an M_READ, only of the keepalive object, only with an invoke id to answer
    r.answerProbe(encodeCdapMessage({ opCode: OpCode.M_WRITE, invokeId: 14, ...KEEPALIVE_OBJECT, objValue: { intval: 1 } }), 'other');
    r.answerProbe(encodeCdapMessage({ opCode: OpCode.M_READ, invokeId: 15, objName: '/keepalive', objClass: 'other' }), 'other');
    r.answerProbe(encodeCdapMessage({ opCode: OpCode.M_READ, invokeId: 0, ...KEEPALIVE_OBJECT }), 'other');
    r.answerProbe(encodeCdapMessage({ opCode: OpCode.M_READ, ...KEEPALIVE_OBJECT }), 'other');
    expect(sent.map((s) => [s.to, s.msg.opCode, s.msg.invokeId])).toEqual([['other', OpCode.M_READ_R, 9]]);
  });

  it('answers a malformed request that names its operation, not a malformed reply', () => {
    const { r, sent } = responder();
    r.answerMalformed(new ProtocolError('bad', { opCode: OpCode.M_CREATE, invokeId: 11 }), 'b');
    r.answerMalformed(new ProtocolError('bad', { opCode: OpCode.M_CREATE_R, invokeId: 12 }), 'b');
    r.answerMalformed(new Error('not a protocol error'), 'b');
    expect(sent.length).toBe(1);
    expect(decodeCdapMessage(encodeCdapMessage(sent[0]?.msg as CdapMessage))).toMatchObject({
      opCode: OpCode.M_CREATE_R,
      invokeId: 11,
      result: Result.FAILED,
    });
  });
});
