/**
 * The per-op-code field rules of CDAP, as rlite validates them on send and on
 * receive (docs/PROTOCOL.md). "Present" is judged by value, as rlite does: a
 * non-zero number, a non-empty string or byte string, an object value with a
 * field set.
 *
 * @module
 */
import { ProtocolError } from '../errors.js';
import { type CdapMessage, OpCode, opCodeName } from './types.js';

const MUST = 1;
const MUST_NOT = 2;
type Rule = typeof MUST | typeof MUST_NOT;

const ALL_OPS = Object.values(OpCode);
const CONNECT_OPS = [OpCode.M_CONNECT, OpCode.M_CONNECT_R];
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
const NO_OBJECT_OPS = [...CONNECT_OPS, OpCode.M_RELEASE, OpCode.M_RELEASE_R, OpCode.M_CANCELREAD, OpCode.M_CANCELREAD_R];

type Checked =
  | 'absSyntax'
  | 'authMech'
  | 'authValue'
  | 'srcApName'
  | 'destApName'
  | 'filter'
  | 'invokeId'
  | 'objClass'
  | 'objName'
  | 'objInst'
  | 'objValue'
  | 'result'
  | 'resultReason'
  | 'scope'
  | 'version';

/** Wire names, for error messages. */
const WIRE_NAME: Record<Checked, string> = {
  absSyntax: 'abs_syntax',
  authMech: 'auth_mech',
  authValue: 'auth_value',
  srcApName: 'src_ap_name',
  destApName: 'dest_ap_name',
  filter: 'filter',
  invokeId: 'invoke_id',
  objClass: 'obj_class',
  objName: 'obj_name',
  objInst: 'obj_inst',
  objValue: 'obj_value',
  result: 'result',
  resultReason: 'result_reason',
  scope: 'scope',
  version: 'version',
};

function table(entries: ReadonlyArray<readonly [readonly OpCode[], Rule]>): ReadonlyMap<OpCode, Rule> {
  const map = new Map<OpCode, Rule>();
  for (const [ops, rule] of entries) for (const op of ops) map.set(op, rule);
  return map;
}
const except = (ops: readonly OpCode[]): OpCode[] => ALL_OPS.filter((op) => !ops.includes(op));

const RULES: ReadonlyArray<readonly [Checked, ReadonlyMap<OpCode, Rule>]> = [
  [
    'absSyntax',
    table([
      [except(CONNECT_OPS), MUST_NOT],
      [CONNECT_OPS, MUST],
    ]),
  ],
  ['authMech', table([[except(CONNECT_OPS), MUST_NOT]])],
  ['authValue', table([[except(CONNECT_OPS), MUST_NOT]])],
  [
    'srcApName',
    table([
      [except(CONNECT_OPS), MUST_NOT],
      [CONNECT_OPS, MUST],
    ]),
  ],
  [
    'destApName',
    table([
      [except(CONNECT_OPS), MUST_NOT],
      [CONNECT_OPS, MUST],
    ]),
  ],
  [
    'filter',
    table([
      [
        [
          ...NO_OBJECT_OPS,
          OpCode.M_CREATE,
          OpCode.M_CREATE_R,
          OpCode.M_DELETE_R,
          OpCode.M_READ_R,
          OpCode.M_WRITE_R,
          OpCode.M_START_R,
          OpCode.M_STOP_R,
        ],
        MUST_NOT,
      ],
    ]),
  ],
  ['invokeId', table([[[...CONNECT_OPS, OpCode.M_CANCELREAD, ...ALL_OPS.filter((op) => op % 2 === 1)], MUST]])],
  ['objClass', table([[NO_OBJECT_OPS, MUST_NOT]])],
  ['objName', table([[NO_OBJECT_OPS, MUST_NOT]])],
  ['objInst', table([[NO_OBJECT_OPS, MUST_NOT]])],
  [
    'objValue',
    table([
      [[...NO_OBJECT_OPS, OpCode.M_DELETE_R], MUST_NOT],
      [[OpCode.M_WRITE], MUST],
    ]),
  ],
  ['result', table([[REQUESTS, MUST_NOT]])],
  ['resultReason', table([[REQUESTS, MUST_NOT]])],
  ['scope', table([[except([OpCode.M_CREATE, OpCode.M_DELETE, OpCode.M_READ, OpCode.M_WRITE, OpCode.M_START, OpCode.M_STOP]), MUST_NOT]])],
  ['version', table([[CONNECT_OPS, MUST]])],
];

/** The checked fields in the order of RULES: bit i of a mask is FIELDS[i], and the first broken rule is the lowest bit. */
const FIELDS: readonly Checked[] = RULES.map(([field]) => field);

/** Each checked field's bit. */
const BIT = Object.fromEntries(FIELDS.map((field, i) => [field, 1 << i])) as Record<Checked, number>;

/** Of each op code, the fields whose rule there is `rule`, as a mask of their bits. */
function masks(rule: Rule): readonly number[] {
  return Array.from({ length: OpCode.M_STOP_R + 1 }, (_, op) =>
    RULES.reduce((mask, [field, rules]) => (rules.get(op as OpCode) === rule ? mask | BIT[field] : mask), 0),
  );
}
const MUST_MASK = masks(MUST);
const MUST_NOT_MASK = masks(MUST_NOT);

function present(value: unknown): boolean {
  // a number or bigint other than 0, a string other than ''; undefined and null (a JavaScript caller's "unset") are absent
  if (typeof value !== 'object' || value === null) return Boolean(value);
  if (value instanceof Uint8Array) return value.length > 0;
  for (const key in value) if (Object.hasOwn(value, key) && present(value[key as keyof typeof value])) return true;
  return false;
}

// present() of a field whose type is known when it is set, as a test its call site can inline; any other value
// (a JavaScript caller's) gets the same answer from present().

function text(value: unknown): boolean {
  return typeof value === 'string' ? value !== '' : value !== undefined && present(value);
}

function int(value: unknown): boolean {
  return typeof value === 'number' ? Boolean(value) : value !== undefined && present(value); // (NaN is absent)
}

function big(value: unknown): boolean {
  return typeof value === 'bigint' ? value !== 0n : value !== undefined && present(value);
}

function object(value: unknown): boolean {
  return value !== undefined && present(value);
}

/** An object value is "present" when any of its fields is on the wire, even a zero one (as rlite's `has_*`). */
function objValuePresent(value: CdapMessage['objValue']): boolean {
  if (value == null) return false;
  for (const key in value) if (Object.hasOwn(value, key) && value[key as keyof typeof value] !== undefined) return true;
  return false;
}

/**
 * Which checked fields `msg` carries, as a mask of their bits. Each field is
 * read by its name: a keyed read over fifteen names would be a megamorphic
 * load, and this runs for every PDU sent and received.
 */
function presence(msg: CdapMessage): number {
  return (
    (int(msg.absSyntax) ? BIT.absSyntax : 0) |
    (int(msg.authMech) ? BIT.authMech : 0) |
    (object(msg.authValue) ? BIT.authValue : 0) |
    (text(msg.srcApName) ? BIT.srcApName : 0) |
    (text(msg.destApName) ? BIT.destApName : 0) |
    (object(msg.filter) ? BIT.filter : 0) |
    (int(msg.invokeId) ? BIT.invokeId : 0) |
    (text(msg.objClass) ? BIT.objClass : 0) |
    (text(msg.objName) ? BIT.objName : 0) |
    (big(msg.objInst) ? BIT.objInst : 0) |
    (objValuePresent(msg.objValue) ? BIT.objValue : 0) |
    (int(msg.result) ? BIT.result : 0) |
    (text(msg.resultReason) ? BIT.resultReason : 0) |
    (int(msg.scope) ? BIT.scope : 0) |
    (big(msg.version) ? BIT.version : 0)
  );
}

/**
 * Throws {@link ProtocolError} when `msg` breaks the field rules of its op
 * code (the first broken rule in the order of RULES); returns nothing when it
 * is well formed.
 */
export function checkFieldRules(msg: CdapMessage): void {
  const op = msg.opCode;
  if (!Number.isInteger(op) || op < 0 || op > OpCode.M_STOP_R) {
    throw new ProtocolError(`invalid op_code ${String(op)}: not a CDAP op code`, { invokeId: msg.invokeId });
  }
  const has = presence(msg);
  const missing = (MUST_MASK[op] as number) & ~has;
  const broke = missing | ((MUST_NOT_MASK[op] as number) & has);
  if (broke !== 0) {
    const first = broke & -broke;
    broken(msg, `${missing & first ? 'must' : 'must not'} carry ${WIRE_NAME[FIELDS[31 - Math.clz32(first)] as Checked]}`);
  }
  if (((has & BIT.objClass) === 0) !== ((has & BIT.objName) === 0)) broken(msg, 'obj_class and obj_name must come together');
}

function broken(msg: CdapMessage, what: string): never {
  throw new ProtocolError(`invalid ${opCodeName(msg.opCode)}: ${what}`, { opCode: msg.opCode, invokeId: msg.invokeId });
}
