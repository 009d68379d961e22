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

/** The rules of each op code, by op code: only the fields it constrains, so that a check walks no others. */
const RULES_BY_OP: ReadonlyArray<ReadonlyArray<readonly [Checked, Rule]>> = Array.from({ length: OpCode.M_STOP_R + 1 }, (_, op) =>
  RULES.flatMap(([field, rules]) => {
    const rule = rules.get(op as OpCode);
    return rule === undefined ? [] : [[field, rule] as const];
  }),
);

function present(value: unknown): boolean {
  if (value instanceof Uint8Array) return value.length > 0;
  if (typeof value === 'object' && value !== null) return Object.values(value).some(present);
  // a number or bigint other than 0, a string other than ''; undefined and null (a JavaScript caller's "unset") are absent
  return Boolean(value);
}

/** An object value is "present" when any of its fields is on the wire, even a zero one (as rlite's `has_*`). */
function objValuePresent(value: CdapMessage['objValue']): boolean {
  return value != null && Object.values(value).some((v) => v !== undefined);
}

/**
 * Throws {@link ProtocolError} when `msg` breaks the field rules of its op
 * code; returns nothing when it is well formed.
 */
export function checkFieldRules(msg: CdapMessage): void {
  const op = msg.opCode;
  if (!Number.isInteger(op) || op < 0 || op > OpCode.M_STOP_R) {
    throw new ProtocolError(`invalid op_code ${String(op)}: not a CDAP op code`, { invokeId: msg.invokeId });
  }
  for (const [field, rule] of RULES_BY_OP[op] as ReadonlyArray<readonly [Checked, Rule]>) {
    const has = field === 'objValue' ? objValuePresent(msg.objValue) : present(msg[field]);
    if (rule === MUST && !has) broken(msg, `must carry ${WIRE_NAME[field]}`);
    if (rule === MUST_NOT && has) broken(msg, `must not carry ${WIRE_NAME[field]}`);
  }
  if (present(msg.objClass) !== present(msg.objName)) broken(msg, 'obj_class and obj_name must come together');
}

function broken(msg: CdapMessage, what: string): never {
  throw new ProtocolError(`invalid ${opCodeName(msg.opCode)}: ${what}`, { opCode: msg.opCode, invokeId: msg.invokeId });
}
