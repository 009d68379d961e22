/**
 * The enroller's flood guard: a token bucket per shim address.
 *
 * @module
 */
import { type Clock, systemClock } from '../util/clock.js';

/**
 * A token bucket per shim address, in a map bounded by `maxPeers`: the least
 * recently heard address is forgotten first (a Map keeps insertion order, and
 * every message re-inserts its sender).
 */
export class RateLimiter {
  readonly #perMs: number;
  readonly #burst: number;
  readonly #maxPeers: number;
  readonly #clock: Clock;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  /** `perSecond` tokens a second refill each bucket of `burst` tokens; at most `maxPeers` buckets. */
  constructor(perSecond: number, burst: number, maxPeers: number, clock: Clock = systemClock) {
    this.#perMs = perSecond / 1000;
    this.#burst = burst;
    this.#maxPeers = maxPeers;
    this.#clock = clock;
  }

  /** How many shim addresses have a bucket. */
  get size(): number {
    return this.#buckets.size;
  }

  /** Takes a token of `peer`'s bucket: false (the message is dropped) when it is empty. */
  take(peer: string): boolean {
    const t = this.#clock.now();
    const bucket = this.#buckets.get(peer) ?? { tokens: this.#burst, at: t };
    this.#buckets.delete(peer);
    bucket.tokens = Math.min(this.#burst, bucket.tokens + (t - bucket.at) * this.#perMs);
    bucket.at = t;
    const allowed = bucket.tokens >= 1;
    if (allowed) bucket.tokens -= 1;
    this.#buckets.set(peer, bucket);
    if (this.#buckets.size > this.#maxPeers) {
      const oldest = this.#buckets.keys().next().value;
      if (oldest !== undefined) this.#buckets.delete(oldest);
    }
    return allowed;
  }
}
