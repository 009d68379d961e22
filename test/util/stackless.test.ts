import { describe, expect, it } from 'vitest';
import { stackless } from '../../src/util/stackless.js';

describe('stackless: an error without frames', () => {
  it("builds the error with its name and message and no frame, and restores the caller's Error.stackTraceLimit", () => {
    const before = Error.stackTraceLimit;
    Error.stackTraceLimit = 7;
    try {
      const err = stackless(() => new RangeError('out of range'));
      expect(err).toBeInstanceOf(RangeError);
      expect(err.stack).toBe('RangeError: out of range');
      expect(Error.stackTraceLimit).toBe(7);
      expect(new Error('framed').stack?.split('\n').length).toBeGreaterThan(1);
    } finally {
      Error.stackTraceLimit = before;
    }
  });

  it('restores the limit when the maker throws, and lets the throw through', () => {
    const before = Error.stackTraceLimit;
    expect(() =>
      stackless(() => {
        throw new TypeError('cannot build');
      }),
    ).toThrow(TypeError);
    expect(Error.stackTraceLimit).toBe(before);
  });
});
