import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { busyReason, retryHintOf, StartReplyInfo } from '../../src/cdap/messages.js';
import { DEFAULT_DT_CONSTANTS, decodeEnrollmentInfo, encodeEnrollmentInfo } from '../../src/index.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('StartReplyInfo (M_START_R EnrollmentInfo encoded in pieces)', () => {
  it('is byte for byte the encoding of the whole, as the alternates change and come back', () => {
    const info = new StartReplyInfo('demo.DIF', DEFAULT_DT_CONSTANTS);
    const steps: Array<[number, string[]]> = [
      [1002, []],
      [1003, ['127.0.0.1:7001', '[::1]:7002']],
      [1004, ['127.0.0.1:7001', '[::1]:7002']],
      [1005, ['127.0.0.1:7003']],
      [2 ** 40, []],
      [1006, ['127.0.0.1:7001', '[::1]:7002']],
    ];
    for (const [address, alternates] of steps) {
      const whole = { address, difName: 'demo.DIF', dtConstants: DEFAULT_DT_CONSTANTS, alternates };
      const bytes = info.encode(address, alternates);
      expect(hex(bytes)).toBe(hex(encodeEnrollmentInfo(whole)));
      expect(decodeEnrollmentInfo(bytes)).toEqual(decodeEnrollmentInfo(encodeEnrollmentInfo(whole)));
    }
  });

  it('keeps its own copy of the alternates: changing the array given does not change what it tells', () => {
    const info = new StartReplyInfo('demo.DIF', DEFAULT_DT_CONSTANTS);
    const alternates = ['127.0.0.1:7001'];
    info.encode(1002, alternates);
    alternates[0] = '127.0.0.1:7999';
    expect(decodeEnrollmentInfo(info.encode(1003, alternates)).alternates).toEqual(['127.0.0.1:7999']);
  });

  it('matches the whole encoding for any address, DIF name, DT constants and alternates', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
        fc.string({ minLength: 1, maxLength: 40 }),
        fc.record({
          maxPduSize: fc.integer({ min: 1, max: 65535 }),
          addressWidth: fc.integer({ min: 1, max: 8 }),
          integrityEnabled: fc.boolean(),
        }),
        fc.array(fc.string({ maxLength: 30 }), { maxLength: 4 }),
        (address, difName, changed, alternates) => {
          const dtConstants = { ...DEFAULT_DT_CONSTANTS, ...changed };
          const bytes = new StartReplyInfo(difName, dtConstants).encode(address, alternates);
          expect(hex(bytes)).toBe(hex(encodeEnrollmentInfo({ address, difName, dtConstants, alternates })));
        },
      ),
    );
  });
});

describe('the time a "busy" refusal names (result_reason)', () => {
  it('is read back as written, for any whole ms a slot can be', () => {
    fc.assert(
      fc.property(fc.string(), fc.integer({ min: 0, max: 999_999_999 }), (why, ms) => {
        expect(retryHintOf(busyReason(why, ms))).toBe(ms);
      }),
    );
    expect(busyReason('3 enrollments in progress', 20)).toBe('busy: 3 enrollments in progress, try again in 20 ms');
  });

  it('is none when the reason names none, or not in those words at its end', () => {
    for (const reason of [
      '',
      'busy: 3 enrollments in progress, try again later',
      'busy: try again in 20 ms, or later',
      'busy: try again in 20ms',
      'busy, try again in -20 ms',
      'busy, try again in 2.5 ms',
      'busy, try again in 1234567890 ms', // more than 9 digits: not a time we send
    ]) {
      expect(retryHintOf(reason)).toBeUndefined();
    }
  });
});
