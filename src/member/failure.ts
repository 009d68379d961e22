/**
 * How a run's failure is reported: one typed {@link EnrollmentError} for
 * whatever ended it.
 *
 * @module
 */
import { EnrollmentAbortedError, EnrollmentError, EnrollmentTimeoutError, ManagerClosedError } from '../errors.js';
import { AttemptTimeout } from './attempt.js';

/** The typed error a run's failure is reported as. */
export function toEnrollmentError(
  err: unknown,
  run: { readonly attempts: number; readonly current: string; readonly signal: AbortSignal },
): EnrollmentError {
  if (err instanceof AttemptTimeout) return new EnrollmentTimeoutError(run.attempts, run.current, { cause: err.cause });
  const { signal } = run;
  if (signal.aborted) {
    if (signal.reason instanceof ManagerClosedError) {
      return new EnrollmentAbortedError('enrollment aborted: the manager was closed', { cause: signal.reason });
    }
    return err instanceof EnrollmentAbortedError ? err : new EnrollmentAbortedError(undefined, { cause: signal.reason });
  }
  if (err instanceof EnrollmentError) return err;
  return new EnrollmentError('PROTOCOL_ERROR', `enrollment failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}
