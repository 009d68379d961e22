import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { EventEmitter } from 'eventemitter3';
import { describe, expect, it } from 'vitest';
import {
  EnrollmentAbortedError,
  EnrollmentError,
  EnrollmentRejectedError,
  EnrollmentTimeoutError,
  ManagerClosedError,
} from '../../src/errors.js';
import { AttemptTimeout } from '../../src/member/attempt.js';
import type { EnrollmentEvents } from '../../src/member/events.js';
import { reportAttemptFailure, reportRunFailure, toEnrollmentError } from '../../src/member/failure.js';
import { MetricsRecorder } from '../../src/member/metrics.js';
import { describeMemberEvent, MEMBER_CHANNELS } from '../../src/member/report.js';
import { Telemetry } from '../../src/util/telemetry.js';
import { recordingLogger } from '../support/logs.js';

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

/** Where a failure is reported, recording what it was told. */
function reporting() {
  const emitter = new EventEmitter<EnrollmentEvents>();
  const { logger, lines } = recordingLogger();
  const telemetry = new Telemetry<EnrollmentEvents>(emitter, logger, describeMemberEvent, MEMBER_CHANNELS);
  const metrics = new MetricsRecorder();
  const failures: unknown[] = [];
  emitter.on('reenroll:failure', (info) => failures.push(info));
  return { to: { metrics, telemetry, ipcpName: 'm1' }, metrics, lines, failures };
}

describe('reportAttemptFailure', () => {
  it("a re-enrollment's failed attempt is counted and told as reenroll:failure, typed, with the wait before the next", () => {
    const { to, metrics, failures } = reporting();
    reportAttemptFailure(to, { ...running, kind: 'reenrolling' }, new AttemptTimeout('b'), 1500);
    expect(metrics.snapshot().reenrollFailures).toBe(1);
    expect(failures).toEqual([{ attempt: 3, bootstrap: 'b', error: expect.any(EnrollmentTimeoutError), retryInMs: 1500 }]);
  });

  it("neither a first enrollment's attempt nor an aborted one is a re-enrollment failure", () => {
    const { to, metrics, failures } = reporting();
    reportAttemptFailure(to, { ...running, kind: 'enrolling' }, new AttemptTimeout('b'), 1500);
    reportAttemptFailure(to, { ...running, kind: 'reenrolling' }, new EnrollmentAbortedError(), undefined);
    expect(metrics.snapshot().reenrollFailures).toBe(0);
    expect(failures).toEqual([]);
  });
});

describe('reportRunFailure', () => {
  it('throws the typed error, publishes it on the failure channel and logs one warning naming the bootstrap and the code', () => {
    const { to, lines } = reporting();
    const published: unknown[] = [];
    const onMessage = (message: unknown) => published.push(message);
    subscribe('rina-enrollment:enrollment:failure', onMessage);
    try {
      let thrown: unknown;
      try {
        reportRunFailure(to, { ...running, kind: 'enrolling' }, new EnrollmentRejectedError(-1, 'no'));
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(EnrollmentRejectedError);
      expect(published).toEqual([{ ipcpName: 'm1', bootstrap: 'b', error: thrown }]);
      expect(lines).toEqual([
        {
          level: 'warn',
          fields: { event: 'enrollment:failure', ipcpName: 'm1', bootstrap: 'b', code: (thrown as EnrollmentError).code, err: thrown },
          message: `enrollment with b failed: ${(thrown as Error).message}`,
        },
      ]);
    } finally {
      unsubscribe('rina-enrollment:enrollment:failure', onMessage);
    }
  });

  it('an aborted run is thrown as such, without a warning', () => {
    const { to, lines } = reporting();
    const caller = new AbortController();
    caller.abort(new Error('deadline'));
    expect(() => reportRunFailure(to, { ...running, kind: 'enrolling', signal: caller.signal }, new Error('late'))).toThrow(
      EnrollmentAbortedError,
    );
    expect(lines).toEqual([]);
  });
});

describe('toEnrollmentError: the causes kept', () => {
  it('the closed manager is the cause of its abort; the thrown value, Error or not, of a PROTOCOL_ERROR', () => {
    const closed = new AbortController();
    const reason = new ManagerClosedError();
    closed.abort(reason);
    const byClose = toEnrollmentError(new Error('late'), { ...running, signal: closed.signal });
    expect(byClose.message).toBe('enrollment aborted: the manager was closed');
    expect(byClose.cause).toBe(reason);
    const boom = new TypeError('boom');
    expect(toEnrollmentError(boom, running).cause).toBe(boom);
    expect(toEnrollmentError(null, running).message).toBe('enrollment failed: null');
    expect(toEnrollmentError('text', running).message).toBe('enrollment failed: text');
  });
});
