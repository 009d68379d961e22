/**
 * The field rules of every op code (src/cdap/rules.ts) against the table of
 * docs/PROTOCOL.md §3, transcribed here on its own: for each op code and each
 * field, a message that lacks a required field, or carries a forbidden one,
 * is refused on encode and on decode with the field's wire name; a field the
 * table does not mention for that op code passes either way.
 */
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { describe, expect, it } from 'vitest';
import { type CDAPMessageFields, writeCDAPMessage } from '../../src/cdap/gen/cdap_wire.js';
import { type CdapMessage, decodeCdapMessage, encodeCdapMessage, OpCode, ProtocolError } from '../../src/index.js';

/** The bytes of `msg` whatever the rules say, as a peer that does not check them would send. */
function encodeCdapWire(msg: CdapMessage): Uint8Array {
  const writer = new BinaryWriter();
  writeCDAPMessage(writer, msg as unknown as CDAPMessageFields);
  return writer.finish();
}

const ALL = Object.values(OpCode);
const CONNECTS = [OpCode.M_CONNECT, OpCode.M_CONNECT_R];
const REPLIES = ALL.filter((op) => op % 2 === 1);
const REQUESTS = [
  OpCode.M_CONNECT,
  OpCode.M_RELEASE,
  OpCode.M_CREATE,
  OpCode.M_DELETE,
  OpCode.M_READ,
  OpCode.M_WRITE,
  OpCode.M_START,
  OpCode.M_STOP,
];
const NO_OBJECT = [...CONNECTS, OpCode.M_RELEASE, OpCode.M_RELEASE_R, OpCode.M_CANCELREAD, OpCode.M_CANCELREAD_R];
const but = (ops: OpCode[]) => ALL.filter((op) => !ops.includes(op));

/** PROTOCOL.md §3: field, wire name, a present value, required on, forbidden on. */
const TABLE: ReadonlyArray<{ field: keyof CdapMessage; wire: string; value: Partial<CdapMessage>; must: OpCode[]; mustNot: OpCode[] }> = [
  { field: 'absSyntax', wire: 'abs_syntax', value: { absSyntax: 73 }, must: CONNECTS, mustNot: but(CONNECTS) },
  { field: 'srcApName', wire: 'src_ap_name', value: { srcApName: 'a' }, must: CONNECTS, mustNot: but(CONNECTS) },
  { field: 'destApName', wire: 'dest_ap_name', value: { destApName: 'b' }, must: CONNECTS, mustNot: but(CONNECTS) },
  { field: 'version', wire: 'version', value: { version: 1n }, must: CONNECTS, mustNot: [] },
  { field: 'authMech', wire: 'auth_mech', value: { authMech: 1 }, must: [], mustNot: but(CONNECTS) },
  { field: 'authValue', wire: 'auth_value', value: { authValue: { authName: 'x' } }, must: [], mustNot: but(CONNECTS) },
  { field: 'invokeId', wire: 'invoke_id', value: { invokeId: 5 }, must: [...CONNECTS, OpCode.M_CANCELREAD, ...REPLIES], mustNot: [] },
  { field: 'objClass', wire: 'obj_class', value: { objClass: 'c', objName: '/n' }, must: [], mustNot: NO_OBJECT },
  { field: 'objInst', wire: 'obj_inst', value: { objInst: 3n }, must: [], mustNot: NO_OBJECT },
  {
    field: 'objValue',
    wire: 'obj_value',
    value: { objValue: { intval: 0 } },
    must: [OpCode.M_WRITE],
    mustNot: [...NO_OBJECT, OpCode.M_DELETE_R],
  },
  {
    field: 'result',
    wire: 'result',
    value: { result: -1 },
    must: [],
    mustNot: REQUESTS,
  },
  {
    field: 'resultReason',
    wire: 'result_reason',
    value: { resultReason: 'why' },
    must: [],
    mustNot: REQUESTS,
  },
  {
    field: 'scope',
    wire: 'scope',
    value: { scope: 1 },
    must: [],
    mustNot: but([OpCode.M_CREATE, OpCode.M_DELETE, OpCode.M_READ, OpCode.M_WRITE, OpCode.M_START, OpCode.M_STOP]),
  },
  {
    field: 'filter',
    wire: 'filter',
    value: { filter: Uint8Array.of(1) },
    must: [],
    mustNot: but([OpCode.M_DELETE, OpCode.M_READ, OpCode.M_WRITE, OpCode.M_START, OpCode.M_STOP]),
  },
];

/** The smallest message of `op` that every rule allows: its required fields and nothing else. */
function minimal(op: OpCode): CdapMessage {
  let msg: CdapMessage = { opCode: op };
  for (const row of TABLE) if (row.must.includes(op)) msg = { ...msg, ...row.value };
  return msg;
}

function refusal(msg: CdapMessage): string {
  const reasons: string[] = [];
  for (const attempt of [() => encodeCdapMessage(msg), () => decodeCdapMessage(encodeCdapWire(msg))]) {
    try {
      attempt();
      reasons.push('ok');
    } catch (err) {
      expect(err).toBeInstanceOf(ProtocolError);
      reasons.push((err as Error).message);
    }
  }
  // encode and decode judge alike
  expect(reasons[1]).toBe(reasons[0]);
  return reasons[0] ?? '';
}

const name = (op: OpCode) => Object.entries(OpCode).find(([, v]) => v === op)?.[0] ?? String(op);

describe('CDAP field rules, op code by op code (PROTOCOL.md §3)', () => {
  it.each(ALL.map((op) => [name(op), op] as const))('%s: its minimal message passes', (_name, op) => {
    expect(refusal(minimal(op))).toBe('ok');
  });

  it.each(ALL.map((op) => [name(op), op] as const))('%s: without each required field, refused naming it', (opName, op) => {
    for (const row of TABLE.filter((r) => r.must.includes(op))) {
      const msg = { ...minimal(op), [row.field]: undefined };
      expect(refusal(msg), row.wire).toBe(`invalid ${opName}: must carry ${row.wire}`);
    }
  });

  it.each(ALL.map((op) => [name(op), op] as const))(
    '%s: with each forbidden field, refused naming it; with any other, passes',
    (opName, op) => {
      for (const row of TABLE.filter((r) => !r.must.includes(op))) {
        const msg = { ...minimal(op), ...row.value };
        const expected = row.mustNot.includes(op) ? `invalid ${opName}: must not carry ${row.wire}` : 'ok';
        expect(refusal(msg), row.wire).toBe(expected);
      }
    },
  );

  it('obj_name alone is forbidden where obj_class is, and either alone breaks "together"', () => {
    expect(refusal({ opCode: OpCode.M_RELEASE, objName: '/n' })).toBe('invalid M_RELEASE: must not carry obj_name');
    expect(refusal({ opCode: OpCode.M_CREATE, objName: '/n' })).toBe('invalid M_CREATE: obj_class and obj_name must come together');
    expect(refusal({ opCode: OpCode.M_CREATE, objClass: 'c' })).toBe('invalid M_CREATE: obj_class and obj_name must come together');
  });

  it('with several rules broken, names the first in the order of PROTOCOL.md §3, whether it is a must or a must not', () => {
    const release = { opCode: OpCode.M_RELEASE, invokeId: 1, result: 2, objClass: 'c', objName: '/n', scope: 1 };
    expect(refusal(release)).toBe('invalid M_RELEASE: must not carry obj_class');
    expect(refusal({ ...minimal(OpCode.M_CONNECT), absSyntax: 0, objClass: 'c', objName: '/n' })).toBe(
      'invalid M_CONNECT: must carry abs_syntax',
    );
    expect(refusal({ ...minimal(OpCode.M_START), result: 1, absSyntax: 5 })).toBe('invalid M_START: must not carry abs_syntax');
    expect(refusal({ ...minimal(OpCode.M_CONNECT_R), version: undefined, scope: 3 })).toBe('invalid M_CONNECT_R: must not carry scope');
  });

  it('judges presence by value: zero, empty and all-empty values are absent; obj_value is present with any field set, even 0', () => {
    const request = { opCode: OpCode.M_READ, invokeId: 4 } as const;
    expect(refusal({ ...request, result: 0, absSyntax: 0, srcApName: '', filter: new Uint8Array(), objInst: 0n })).toBe('ok');
    expect(refusal({ ...request, authMech: 0, authValue: { authName: '', authPassword: '' } })).toBe('ok');
    expect(refusal({ ...request, authValue: { authOther: Uint8Array.of(0) } })).toBe('invalid M_READ: must not carry auth_value');
    expect(refusal({ opCode: OpCode.M_DELETE_R, invokeId: 1, objValue: { intval: 0 } })).toBe(
      'invalid M_DELETE_R: must not carry obj_value',
    );
    expect(refusal({ opCode: OpCode.M_DELETE_R, invokeId: 1, objValue: {} })).toBe('ok');
    expect(refusal({ opCode: OpCode.M_DELETE_R, invokeId: 1, objValue: { strval: '' } })).toBe(
      'invalid M_DELETE_R: must not carry obj_value',
    );
    expect(refusal({ opCode: OpCode.M_READ_R, invokeId: 0 })).toBe('invalid M_READ_R: must carry invoke_id');
    expect(refusal({ opCode: OpCode.M_READ, version: 0n })).toBe('ok');
    // where a field is forbidden: an empty byte string, an auth_value of empty fields, null (a JavaScript caller's
    // "unset"), an obj_value whose fields are all unset, are absent; one non-empty field of auth_value is enough
    expect(refusal({ opCode: OpCode.M_READ_R, invokeId: 1, filter: new Uint8Array() })).toBe('ok');
    expect(refusal({ opCode: OpCode.M_READ_R, invokeId: 1, filter: Uint8Array.of(0) })).toBe('invalid M_READ_R: must not carry filter');
    expect(refusal({ ...request, authValue: { authOther: new Uint8Array(), authName: '' } })).toBe('ok');
    expect(refusal({ ...request, authValue: { authName: 'x', authPassword: '' } })).toBe('invalid M_READ: must not carry auth_value');
    expect(encodeCdapMessage({ ...request, result: null, objValue: null } as unknown as CdapMessage)).toEqual(encodeCdapMessage(request));
    expect(refusal({ opCode: OpCode.M_DELETE_R, invokeId: 1, objValue: { strval: undefined } })).toBe('ok');
    // null where obj_value is forbidden is absent too (it was a TypeError)
    const released = { opCode: OpCode.M_RELEASE, invokeId: 1, objValue: null } as unknown as CdapMessage;
    expect(encodeCdapMessage(released)).toEqual(encodeCdapMessage({ opCode: OpCode.M_RELEASE, invokeId: 1 }));
  });

  it('refuses an op code outside 0-17 with its invoke id, and a rule broken on decode keeps op code and invoke id', () => {
    for (const opCode of [-1, 18, 1.5, Number.NaN]) {
      let err: unknown;
      try {
        encodeCdapMessage({ opCode: opCode as OpCode, invokeId: 9 });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ProtocolError);
      expect((err as ProtocolError).message).toBe(`invalid op_code ${String(opCode)}: not a CDAP op code`);
      expect((err as ProtocolError).invokeId).toBe(9);
    }
    let err: unknown;
    try {
      decodeCdapMessage(encodeCdapWire({ opCode: OpCode.M_STOP_R, invokeId: 6, scope: 2 }));
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ opCode: OpCode.M_STOP_R, invokeId: 6, message: 'invalid M_STOP_R: must not carry scope' });
  });

  it('judges a field by what it holds, whatever its type: a value of another type or an odd one gets the same verdict', () => {
    // The documented rule, written here on its own: zero, NaN, false, '' and an empty byte string are absent; an object is
    // present when one of its own fields is. The check tests the type each field has when set first (rules.ts).
    const holds = (v: unknown): boolean =>
      v instanceof Uint8Array ? v.length > 0 : typeof v === 'object' && v !== null ? Object.values(v).some(holds) : Boolean(v);
    const odd: unknown[] = [undefined, null, 0, -0, Number.NaN, 1, -1, 0n, 2n, '', 'x', false, true];
    odd.push(new Uint8Array(), Uint8Array.of(0), {}, { a: '' }, { a: 0, b: undefined }, { a: 'x' }, [], [0], [1]);
    for (const { field, wire, mustNot } of TABLE) {
      const op = mustNot[0];
      if (op === undefined || field === 'objValue') continue; // obj_value is present with any field set (above)
      for (const value of odd) {
        let verdict = 'ok';
        try {
          encodeCdapMessage({ ...minimal(op), [field]: value } as unknown as CdapMessage);
        } catch (err) {
          verdict = (err as Error).message;
        }
        const refused = verdict.includes(`must not carry ${wire}`) || verdict.includes('obj_class and obj_name');
        expect({ field, value, refused }).toEqual({ field, value, refused: holds(value) });
      }
    }
  });

  // Found by a review (2026-12-06; fixed with it): presence read by for-in counted inherited properties.
  it('judges an object value by its own fields: an Object.prototype with an enumerable property changes no verdict', () => {
    const release = encodeCdapMessage({ opCode: OpCode.M_RELEASE, invokeId: 1, objValue: {} });
    const readReply = encodeCdapMessage({ opCode: OpCode.M_READ_R, invokeId: 1, result: 0, authValue: {} });
    Object.defineProperty(Object.prototype, 'polluted', { value: 1, enumerable: true, configurable: true, writable: true });
    try {
      expect(decodeCdapMessage(release).opCode).toBe(OpCode.M_RELEASE);
      expect(decodeCdapMessage(readReply).opCode).toBe(OpCode.M_READ_R);
    } finally {
      delete (Object.prototype as Record<string, unknown>).polluted;
    }
  });
});
