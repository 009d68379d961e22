/**
 * Acting on an answer that may or may not be a promise (a store's, a RIB's),
 * without making a synchronous one wait for a microtask.
 *
 * @module
 */
/** A value, or a promise of it: what a RIB or an address store may answer (either may live in memory or behind I/O). */
export type MaybePromise<T> = T | Promise<T>;

/** Runs `then` on `answer`: at once when it is there, later when it is a promise; `otherwise` on a rejection. */
export function settle<T>(answer: MaybePromise<T>, then: (value: T) => void, otherwise: () => void): void {
  if (typeof (answer as PromiseLike<T> | undefined)?.then === 'function') (answer as PromiseLike<T>).then(then, otherwise);
  else then(answer as T);
}
