/**
 * One piece of work shared by several callers, each of whom may stop
 * waiting with its own AbortSignal without stopping it for the others.
 *
 * @module
 */
import { EnrollmentAbortedError } from '../errors.js';

/** A shared piece of work: its promise, and how many callers wait for it. */
export interface Shared<T> {
  readonly promise: Promise<T>;
  waiters: number;
}

/**
 * Waits for `shared` on behalf of one caller. The caller's signal only ends
 * its own wait (rejecting with `EnrollmentAbortedError`); when the last
 * caller stops waiting, `abandoned(reason)` is called with its signal's
 * reason.
 */
export function joinShared<T>(shared: Shared<T>, signal: AbortSignal | undefined, abandoned: (reason: unknown) => void): Promise<T> {
  if (signal?.aborted) {
    // Aborted while the work was being started (a listener of its first event): nobody else waits, so nobody does
    // (and its end, which nobody awaits now, is no unhandled rejection).
    if (shared.waiters === 0) {
      shared.promise.catch(() => undefined);
      abandoned(signal.reason);
    }
    return Promise.reject(new EnrollmentAbortedError(undefined, { cause: signal.reason }));
  }
  shared.waiters++;
  if (signal === undefined) return shared.promise;
  return untilAborted(shared.promise, signal, () => {
    shared.waiters--;
    if (shared.waiters === 0) abandoned(signal.reason);
  });
}

/**
 * `work`'s outcome, or `EnrollmentAbortedError` (the signal's reason as its
 * cause) as soon as `signal` aborts, after which `aborted` runs. The work
 * itself goes on; its late outcome is ignored. No listener stays on the
 * signal once either has happened.
 */
export function untilAborted<T>(work: PromiseLike<T>, signal: AbortSignal, aborted?: () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      reject(new EnrollmentAbortedError(undefined, { cause: signal.reason }));
      aborted?.();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
