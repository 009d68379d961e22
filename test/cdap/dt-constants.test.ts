import { describe, expect, it } from 'vitest';
import { dtConstantsSchema } from '../../src/cdap/dt-constants.js';
import { DEFAULT_DT_CONSTANTS } from '../../src/index.js';

/** The first issue's message and path for `value` in `field`, or 'ok' when the schema takes it. */
function check(field: string, value: unknown): string {
  const r = dtConstantsSchema().safeParse({ [field]: value });
  if (r.success) {
    expect(r.data).toEqual({ [field]: value }); // taken as given, nothing added or coerced
    return 'ok';
  }
  expect(r.error.issues[0]?.path).toEqual([field]);
  return r.error.issues[0]?.message ?? '';
}

const UINT32 = [
  'maxPduSize',
  'portIdWidth',
  'cepIdWidth',
  'qosIdWidth',
  'seqNumWidth',
  'lengthWidth',
  'maxPduLifetime',
  'maxRtxTime',
  'maxAckDelay',
  'rateWidth',
  'frameWidth',
  'ctrlSeqNumWidth',
];
const FLAGS = ['concatenationEnabled', 'fragmentationEnabled', 'integrityEnabled'];

describe('dtConstantsSchema: what the wire can carry, field by field', () => {
  it.each(UINT32)('%s is a uint32: 0 to 2^32-1, integers only', (field) => {
    expect(check(field, 0)).toBe('ok');
    expect(check(field, 1)).toBe('ok');
    expect(check(field, 0xffffffff)).toBe('ok');
    expect(check(field, -1)).toBe('must be >= 0');
    expect(check(field, 2 ** 32)).toBe('must fit in 32 bits');
    expect(check(field, 1.5)).toBe('must be an integer');
    expect(check(field, Number.NaN)).toBe('must be a finite number');
    expect(check(field, Number.POSITIVE_INFINITY)).toBe('must be a finite number');
    expect(check(field, '4')).toBe('must be a finite number');
    expect(check(field, 4n)).toBe('must be a finite number');
  });

  it('addressWidth is 1 to 8 bytes', () => {
    for (const ok of [1, 4, 8]) expect(check('addressWidth', ok)).toBe('ok');
    expect(check('addressWidth', 0)).toBe('must be 1 to 8');
    expect(check('addressWidth', 9)).toBe('must be 1 to 8');
    expect(check('addressWidth', 2.5)).toBe('must be an integer');
    expect(check('addressWidth', '4')).toBe('must be a finite number');
  });

  it('seqRolloverThresh is a uint64 bigint', () => {
    expect(check('seqRolloverThresh', 0n)).toBe('ok');
    expect(check('seqRolloverThresh', 2n ** 64n - 1n)).toBe('ok');
    expect(check('seqRolloverThresh', -1n)).toBe('must be >= 0');
    expect(check('seqRolloverThresh', 2n ** 64n)).toBe('must fit in 64 bits');
    expect(check('seqRolloverThresh', 2 ** 31)).toBe('must be a bigint');
  });

  it.each(FLAGS)('%s is a boolean', (field) => {
    expect(check(field, true)).toBe('ok');
    expect(check(field, false)).toBe('ok');
    expect(check(field, 1)).toBe('must be a boolean');
    expect(check(field, 'true')).toBe('must be a boolean');
  });

  it('every field is optional, the defaults pass, and an unknown field is refused', () => {
    expect(dtConstantsSchema().parse({})).toEqual({});
    expect(dtConstantsSchema().parse(DEFAULT_DT_CONSTANTS)).toEqual(DEFAULT_DT_CONSTANTS);
    const r = dtConstantsSchema().safeParse({ ...DEFAULT_DT_CONSTANTS, addressLength: 4 });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.code).toBe('unrecognized_keys');
  });

  it('names every field of DataTransferConstants (the schema and the type list the same 17)', () => {
    expect(Object.keys(dtConstantsSchema().shape).sort()).toEqual([...UINT32, ...FLAGS, 'addressWidth', 'seqRolloverThresh'].sort());
  });
});
