/**
 * The backoff schedules of the library, as pure functions of the failure
 * count: the member's first enrollment (doubling) and recovery (full jitter),
 * the etcd store's lease renewal and resync (doubling, capped).
 *
 * @module
 */

/** The wait after the `n`-th consecutive failure (n >= 1) of a doubling backoff: `min(cap, base * 2^(n-1))`. */
export function exponentialDelay(n: number, baseMs: number, capMs: number): number {
  return Math.min(capMs, baseMs * 2 ** Math.min(Math.max(n, 1) - 1, 52));
}

/** Settings of {@link fullJitterDelay}. */
export interface JitterBackoff {
  /** The ceiling after the first failure. */
  readonly baseMs: number;
  /** The largest ceiling. */
  readonly capMs: number;
  /** No wait is shorter than this. */
  readonly floorMs: number;
}

/**
 * "Full jitter" after the `n`-th consecutive failure (n >= 1):
 * `random(0, min(cap, base * 2^(n-1)))`, never below `floorMs`. `random`
 * returns a number in [0, 1).
 */
export function fullJitterDelay(n: number, { baseMs, capMs, floorMs }: JitterBackoff, random: () => number): number {
  return Math.max(floorMs, Math.floor(random() * exponentialDelay(n, baseMs, capMs)));
}
