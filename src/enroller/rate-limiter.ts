/**
 * The enroller's flood guard: a token bucket per shim address.
 *
 * @module
 */
import { type Clock, systemClock } from '../util/clock.js';

/**
 * A token bucket per shim address, in two generations of at most half of
 * `maxPeers` each: a message from an address of the older moves it into the
 * newer, and when the newer is full it becomes the older and the older is
 * forgotten. So the least recently heard addresses are forgotten first, half
 * of them at a time, and an address among the last `maxPeers / 2` (rounded
 * down) heard keeps its bucket. (An exact order, a Map re-inserting its sender on every
 * message, cost a deletion and an insertion per datagram on the enroller's
 * hot path.)
 */
export class RateLimiter {
  readonly #perMs: number;
  readonly #burst: number;
  readonly #maxPeers: number;
  /** Each generation's room: half of `maxPeers`, rounded down (at least 1). */
  readonly #generation: number;
  readonly #clock: Clock;
  #recent = new Map<string, { tokens: number; at: number }>();
  #older = new Map<string, { tokens: number; at: number }>();

  /** `perSecond` tokens a second refill each bucket of `burst` tokens; at most `maxPeers` buckets. */
  constructor(perSecond: number, burst: number, maxPeers: number, clock: Clock = systemClock) {
    this.#perMs = perSecond / 1000;
    this.#burst = burst;
    this.#maxPeers = maxPeers;
    this.#generation = Math.max(1, Math.floor(maxPeers / 2));
    this.#clock = clock;
  }

  /** How many shim addresses have a bucket. */
  get size(): number {
    return this.#recent.size + this.#older.size;
  }

  /** Takes a token of `peer`'s bucket: false (the message is dropped) when it is empty. */
  take(peer: string): boolean {
    const t = this.#clock.now();
    let bucket = this.#recent.get(peer);
    if (bucket === undefined) {
      bucket = this.#older.get(peer);
      if (bucket !== undefined) this.#older.delete(peer);
      else bucket = { tokens: this.#burst, at: t };
      if (this.#recent.size >= this.#generation) this.#age();
      this.#recent.set(peer, bucket);
    }
    bucket.tokens = Math.min(this.#burst, bucket.tokens + (t - bucket.at) * this.#perMs);
    bucket.at = t;
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** The newer generation becomes the older (with `maxPeers` 1, there is no room for an older); the older is forgotten. */
  #age(): void {
    this.#older = this.#maxPeers >= 2 * this.#generation ? this.#recent : new Map();
    this.#recent = new Map();
  }
}
