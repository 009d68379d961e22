/** Loads ../shared/vectors (copied into test/vectors) and turns their JSON rows into our message shapes. */
import { readFileSync } from 'node:fs';
import { AuthType, CdapFlags, type CdapMessage, type EnrollmentInfo, OpCode } from '../../src/index.js';

export interface VectorRow {
  name: string;
  hex: string;
  fields: Record<string, unknown>;
  enrollment_info_hex?: string;
}
export interface MalformedRow {
  name: string;
  hex: string;
  why: string;
}

const dir = new URL('../vectors/', import.meta.url);
export const wellFormed: VectorRow[] = JSON.parse(readFileSync(new URL('cdap.json', dir), 'utf8'));
export const malformed: MalformedRow[] = JSON.parse(readFileSync(new URL('cdap-malformed.json', dir), 'utf8'));

export const fromHex = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, 'hex'));

const camel = (s: string): string => s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
const BIGINT_FIELDS = new Set(['obj_inst', 'version', 'int64val', 'sint64val', 'doubleval']);
const ENUMS: Record<string, Record<string, number>> = { op_code: OpCode, flags: CdapFlags, auth_mech: AuthType };

/** The EnrollmentInfo of a vector row, in our shape (address as a number). */
export function vectorEnrollmentInfo(json: Record<string, unknown>): EnrollmentInfo {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(json)) out[camel(key)] = key === 'address' ? Number(value) : value;
  return out as EnrollmentInfo;
}

/** The expected CdapMessage of a vector row; byteval_enrollment_info is returned apart. */
export function vectorMessage(fields: Record<string, unknown>): { msg: CdapMessage; info?: EnrollmentInfo } {
  let info: EnrollmentInfo | undefined;
  const convert = (obj: Record<string, unknown>): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(obj)) {
      if (key === 'byteval_enrollment_info') {
        info = vectorEnrollmentInfo(value as Record<string, unknown>);
      } else if (key.endsWith('_hex')) {
        out[camel(key.slice(0, -4))] = fromHex(value as string);
      } else if (ENUMS[key]) {
        out[camel(key)] = ENUMS[key][value as string];
      } else if (BIGINT_FIELDS.has(key)) {
        out[camel(key)] = BigInt(value as string);
      } else if (value !== null && typeof value === 'object') {
        out[camel(key)] = convert(value as Record<string, unknown>);
      } else {
        out[camel(key)] = value;
      }
    }
    return out;
  };
  const msg = convert(fields) as unknown as CdapMessage;
  return info === undefined ? { msg } : { msg, info };
}
