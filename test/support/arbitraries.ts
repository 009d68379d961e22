/** fast-check arbitraries of CDAP messages, shared by the codec properties and the fuzz tests. */
import fc from 'fast-check';
import { type CdapMessage, type ObjValue, OpCode } from '../../src/index.js';

export const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
export const nonZeroInt32 = int32.filter((n) => n !== 0);
export const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
export const name = fc.string({ minLength: 1, maxLength: 20, unit: 'grapheme' });
export const bytes = fc.uint8Array({ minLength: 1, maxLength: 16 });
const opt = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });

export const objValue: fc.Arbitrary<ObjValue> = fc.oneof(
  int32.map((intval) => ({ intval })),
  int32.map((sintval) => ({ sintval })),
  int64.map((int64val) => ({ int64val })),
  int64.map((sint64val) => ({ sint64val })),
  fc.string().map((strval) => ({ strval })),
  fc.uint8Array({ maxLength: 64 }).map((byteval) => ({ byteval })),
  fc.integer({ min: 0, max: 2 ** 32 - 1 }).map((floatval) => ({ floatval })),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((doubleval) => ({ doubleval })),
  fc.boolean().map((boolval) => ({ boolval })),
);

const CONNECT_OPS: number[] = [OpCode.M_CONNECT, OpCode.M_CONNECT_R];
const NO_OBJECT_OPS: number[] = [...CONNECT_OPS, OpCode.M_RELEASE, OpCode.M_RELEASE_R, OpCode.M_CANCELREAD, OpCode.M_CANCELREAD_R];
const SCOPE_OPS: number[] = [OpCode.M_CREATE, OpCode.M_DELETE, OpCode.M_READ, OpCode.M_WRITE, OpCode.M_START, OpCode.M_STOP];
const FILTER_OPS: number[] = [OpCode.M_DELETE, OpCode.M_READ, OpCode.M_WRITE, OpCode.M_START, OpCode.M_STOP];

/** Messages that follow the field rules of their op code (docs/PROTOCOL.md). */
export const validMessage: fc.Arbitrary<CdapMessage> = fc
  .constantFrom(...Object.values(OpCode))
  .chain((opCode) => {
    const reply = opCode % 2 === 1;
    const connect = CONNECT_OPS.includes(opCode);
    const objects = !NO_OBJECT_OPS.includes(opCode);
    const invokeRequired = connect || reply || opCode === OpCode.M_CANCELREAD;
    return fc.record({
      opCode: fc.constant(opCode),
      invokeId: invokeRequired ? nonZeroInt32 : opt(int32),
      flags: opt(fc.constantFrom(0, 1, 2)),
      absSyntax: connect ? fc.constant(73) : fc.constant(undefined),
      version: connect ? fc.constant(1n) : fc.constant(undefined),
      srcApName: connect ? name : fc.constant(undefined),
      destApName: connect ? name : fc.constant(undefined),
      srcAeName: connect ? opt(name) : fc.constant(undefined),
      authMech: connect ? opt(fc.integer({ min: 0, max: 1000 })) : fc.constant(undefined),
      authValue: connect ? opt(fc.record({ authName: opt(name), authPassword: opt(name), authOther: opt(bytes) })) : fc.constant(undefined),
      obj: objects ? opt(fc.tuple(name, name)) : fc.constant(undefined),
      objInst: objects ? opt(int64) : fc.constant(undefined),
      objValue: opCode === OpCode.M_WRITE ? objValue : objects && opCode !== OpCode.M_DELETE_R ? opt(objValue) : fc.constant(undefined),
      result: reply ? opt(int32) : fc.constant(undefined),
      resultReason: reply ? opt(name) : fc.constant(undefined),
      scope: SCOPE_OPS.includes(opCode) ? opt(int32) : fc.constant(undefined),
      filter: FILTER_OPS.includes(opCode) ? opt(bytes) : fc.constant(undefined),
    });
  })
  .map(({ obj, ...rest }) => {
    const msg: Record<string, unknown> = { ...rest, objClass: obj?.[0], objName: obj?.[1] };
    for (const key of Object.keys(msg)) if (msg[key] === undefined) delete msg[key];
    return msg as unknown as CdapMessage;
  });
