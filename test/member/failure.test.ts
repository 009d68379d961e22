import { describe, expect, it } from 'vitest';
import {
  EnrollmentAbortedError,
  EnrollmentError,
  EnrollmentRejectedError,
  EnrollmentTimeoutError,
  ManagerClosedError,
} from '../../src/errors.js';
import { AttemptTimeout } from '../../src/member/attempt.js';
import { toEnrollmentError } from '../../src/member/failure.js';

const running = { attempts: 3, current: 'b', signal: new AbortController().signal };

describe('toEnrollmentError', () => {
  it('an attempt timeout becomes EnrollmentTimeoutError with the attempts and the bootstrap, its cause kept', () => {
    const cause = new Error('malformed reply');
    const error = toEnrollmentError(new AttemptTimeout('b', { cause }), running);
    expect(error).toBeInstanceOf(EnrollmentTimeoutError);
    expect(error.message).toContain('3');
    expect(error.message).toContain('b');
    expect(error.cause).toBe(cause);
  });

  it('a typed enrollment error passes as it is', () => {
    const rejected = new EnrollmentRejectedError(-1, 'no');
    expect(toEnrollmentError(rejected, running)).toBe(rejected);
  });

  it('anything else becomes a PROTOCOL_ERROR naming it', () => {
    const error = toEnrollmentError(new TypeError('boom'), running);
    expect(error).toBeInstanceOf(EnrollmentError);
    expect(error.code).toBe('PROTOCOL_ERROR');
    expect(error.message).toContain('boom');
  });

  it('after an abort, the failure is an abort: the closed manager said as such, the caller’s reason as the cause', () => {
    const closed = new AbortController();
    closed.abort(new ManagerClosedError());
    const byClose = toEnrollmentError(new Error('late'), { ...running, signal: closed.signal });
    expect(byClose).toBeInstanceOf(EnrollmentAbortedError);
    expect(byClose.message).toContain('closed');
    const caller = new AbortController();
    const reason = new Error('deadline');
    caller.abort(reason);
    const byCaller = toEnrollmentError(new Error('late'), { ...running, signal: caller.signal });
    expect(byCaller).toBeInstanceOf(EnrollmentAbortedError);
    expect(byCaller.cause).toBe(reason);
    const own = new EnrollmentAbortedError('monitoring stopped');
    expect(toEnrollmentError(own, { ...running, signal: caller.signal })).toBe(own);
  });
});
