/**
 * How a run's attempts and failure are reported: the state and events of an
 * attempt starting; one typed {@link EnrollmentError} for whatever ended the
 * run, and the events and logs of a failed attempt or run.
 *
 * @module
 */
import { diagnosticsChannels, publish } from '../diagnostics.js';
import {
  type AnyEnrollmentError,
  EnrollmentAbortedError,
  EnrollmentTimeoutError,
  isEnrollmentError,
  ManagerClosedError,
  ProtocolError,
} from '../errors.js';
import { roundMs } from '../util/clock.js';
import type { Telemetry } from '../util/telemetry.js';
import { AttemptTimeout } from './attempt.js';
import type { EnrollmentEvents } from './events.js';
import type { MetricsRecorder } from './metrics.js';
import type { MemberState } from './state.js';

/** Where a run stands when it fails. */
interface RunProgress {
  readonly kind: 'enrolling' | 'reenrolling';
  readonly attempts: number;
  /** The bootstrap of the last attempt. */
  readonly current: string;
  readonly signal: AbortSignal;
}

/** Where failures are reported. */
interface Reporting {
  readonly metrics: MetricsRecorder;
  readonly telemetry: Telemetry<EnrollmentEvents>;
  readonly ipcpName: string | undefined;
}

/** Shows an attempt of run `p` at `bootstrap` starting in the state (unless it shows it already), and reports it. */
export function reportAttemptStart(
  to: Reporting & { readonly state: MemberState },
  p: RunProgress & { readonly previousAddress: number | undefined; readonly nextDelayMs: number },
  bootstrap: string,
): void {
  const { state, metrics, telemetry } = to;
  const attempt = p.attempts;
  if (!state.shows(p.kind, bootstrap, attempt)) {
    state.set(
      p.kind === 'enrolling'
        ? { type: 'enrolling', bootstrap, attempt }
        : { type: 'reenrolling', bootstrap, attempt, previousAddress: p.previousAddress },
    );
  }
  publish(diagnosticsChannels.enrollmentStart, { ipcpName: to.ipcpName, bootstrap, attempt, kind: p.kind });
  if (p.kind === 'reenrolling') {
    metrics.reenrollAttempt();
    telemetry.emit('reenroll:attempt', { attempt, bootstrap, nextDelayMs: p.nextDelayMs });
  }
}

/** Reports a failed re-enrollment attempt; `retryInMs` is the wait before the next one, undefined when giving up. */
export function reportAttemptFailure(to: Reporting, p: RunProgress, error: unknown, retryInMs: number | undefined): void {
  if (p.kind !== 'reenrolling' || error instanceof EnrollmentAbortedError) return;
  to.metrics.reenrollFailure();
  const reported = toEnrollmentError(error, p);
  // to 0.1 ms, as every duration an event carries, whichever path drew it
  to.telemetry.emit('reenroll:failure', {
    attempt: p.attempts,
    bootstrap: p.current,
    error: reported,
    retryInMs: retryInMs === undefined ? undefined : roundMs(retryInMs),
  });
}

/** The run failed: report it, and throw the typed error every caller is rejected with. */
export function reportRunFailure(to: Reporting, p: RunProgress, err: unknown): never {
  const error = toEnrollmentError(err, p);
  const { ipcpName } = to;
  publish(diagnosticsChannels.enrollmentFailure, { ipcpName, bootstrap: p.current, error });
  if (!(error instanceof EnrollmentAbortedError)) {
    const fields = { event: 'enrollment:failure', ipcpName, bootstrap: p.current, code: error.code, err: error };
    to.telemetry.log('warn', fields, `enrollment with ${p.current} failed: ${error.message}`);
  }
  throw error;
}

/** The typed error a run's failure is reported as. */
export function toEnrollmentError(err: unknown, run: Omit<RunProgress, 'kind'>): AnyEnrollmentError {
  if (err instanceof AttemptTimeout) return new EnrollmentTimeoutError(run.attempts, run.current, { cause: err.cause });
  const { signal } = run;
  if (signal.aborted) {
    if (signal.reason instanceof ManagerClosedError) {
      return new EnrollmentAbortedError('enrollment aborted: the manager was closed', { cause: signal.reason });
    }
    return err instanceof EnrollmentAbortedError ? err : new EnrollmentAbortedError(undefined, { cause: signal.reason });
  }
  if (isEnrollmentError(err)) return err;
  return new ProtocolError(`enrollment failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}
