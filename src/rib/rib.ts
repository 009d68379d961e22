/**
 * The Resource Information Base: named objects, each with a class and a
 * value. Enrollment writes the objects the enroller syncs and the member's
 * own address into the member's RIB.
 *
 * @module
 */
import type { ObjValue } from '../cdap/types.js';
import type { MaybePromise } from '../util/settle.js';

/** One RIB object. Names are paths that start with `/` (e.g. `/dif/config/name`). */
export interface RibObject {
  /** The object's name (`obj_name` on the wire), e.g. `/dif/config/name`. */
  readonly name: string;
  /** The object's class (`obj_class` on the wire), e.g. `dif_config`. */
  readonly class: string;
  /** The CDAP object value, e.g. `{ strval: 'demo.DIF' }`. */
  readonly value: ObjValue;
}

// A value, or a promise of it: a RIB may live in memory or behind I/O.
export type { MaybePromise } from '../util/settle.js';

/**
 * What the library needs of a RIB. Every method may answer synchronously or
 * with a promise; invalid input is refused with `RibError`.
 */
export interface Rib {
  /** The object named `name`, or `undefined`. */
  read(name: string): MaybePromise<RibObject | undefined>;
  /** Creates the object, or replaces the one with the same name. */
  write(object: RibObject): MaybePromise<void>;
  /** Deletes the object named `name`; true if it existed. */
  delete(name: string): MaybePromise<boolean>;
  /** Every object whose name starts with `prefix` (all of them for ''), sorted by name. */
  list(prefix?: string): MaybePromise<RibObject[]>;
}

/** Well-known names this library reads and writes. */
export const RibNames = {
  /** The member's own DIF address (class `address`, value `int64val`). */
  address: '/mgmt/address',
  /** The DIF's name (class `dif_config`, value `strval`), written by the enroller into its RIB and so synced. */
  difName: '/dif/config/name',
  /** Objects under this prefix are the IPCP's own management state: the enroller never syncs them. */
  localPrefix: '/mgmt/',
} as const;

/** Why `name` cannot name a RIB object (a path of at least one segment, as `/x`), or undefined. */
export function ribNameProblem(name: unknown): string | undefined {
  if (typeof name === 'string' && name.startsWith('/') && name.length >= 2) return undefined;
  return `invalid RIB object name ${name === undefined ? '(none)' : JSON.stringify(name)}: must be a path starting with "/"`;
}

/**
 * Why an enroller may not create, write or delete the object `name` in a
 * member's RIB, or undefined: a name {@link ribNameProblem} refuses, or one
 * under {@link RibNames.localPrefix} (the member's own state, its address
 * included).
 */
export function syncedNameProblem(name: unknown): string | undefined {
  const problem = ribNameProblem(name);
  if (problem !== undefined) return problem;
  return (name as string).startsWith(RibNames.localPrefix)
    ? `${name as string} is the member's own state: no enroller writes it`
    : undefined;
}

/** The names and classes of the objects every enrollment syncs, one copy each. */
const WELL_KNOWN = new Map<string, string>([RibNames.address, RibNames.difName, 'address', 'dif_config'].map((s) => [s, s]));

/**
 * `text`, or the library's own copy of it when it is a well-known RIB name
 * or class: what a member decodes is a new string each time, and ten
 * thousand members would each keep their own copy of the same few names.
 * @internal
 */
export function wellKnown(text: string): string {
  return WELL_KNOWN.get(text) ?? text;
}
