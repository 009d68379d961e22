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

  it('where Error.stackTraceLimit cannot be set (a frozen Error: node --frozen-intrinsics, a locked-down realm), builds the error as usual', () => {
    const original = Object.getOwnPropertyDescriptor(Error, 'stackTraceLimit') as PropertyDescriptor;
    Object.defineProperty(Error, 'stackTraceLimit', { value: 10, writable: false, configurable: true });
    try {
      const err = stackless(() => new RangeError('still built'));
      expect(err).toBeInstanceOf(RangeError);
      expect(err.message).toBe('still built');
      expect(err.stack?.split('\n').length).toBeGreaterThan(1);
      expect(Error.stackTraceLimit).toBe(10);
    } finally {
      Object.defineProperty(Error, 'stackTraceLimit', original);
    }
  });
});
