/**
 * The enroller's flood guard: a token bucket per shim address.
 *
 * @module
 */
import { type Clock, systemClock } from '../util/clock.js';

/** A shim address's bucket, and its neighbours in the order heard. */
interface Bucket {
  readonly peer: string;
  tokens: number;
  at: number;
  /** Heard after this one, before it (undefined at either end). */
  newer: Bucket | undefined;
  older: Bucket | undefined;
}

/**
 * A token bucket per shim address, in a map bounded by `maxPeers`: the least
 * recently heard address is forgotten first. The order heard is a list
 * through the buckets themselves, so a message moves its sender to the front
 * in constant time. (A Map re-inserting its sender on every message, and
 * forgetting its first key, walked past every entry deleted since V8 last
 * compacted the table: some 7 µs a datagram once more than `maxPeers`
 * addresses took turns.)
 */
export class RateLimiter {
  readonly #perMs: number;
  readonly #burst: number;
  readonly #maxPeers: number;
  readonly #clock: Clock;
  readonly #buckets = new Map<string, Bucket>();
  #newest: Bucket | undefined;
  #oldest: Bucket | undefined;

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
    let bucket = this.#buckets.get(peer);
    if (bucket === undefined) {
      bucket = { peer, tokens: this.#burst, at: t, newer: undefined, older: undefined };
      this.#buckets.set(peer, bucket);
      this.#pushNewest(bucket);
      const oldest = this.#oldest;
      if (this.#buckets.size > this.#maxPeers && oldest !== undefined) {
        this.#unlink(oldest);
        this.#buckets.delete(oldest.peer);
      }
    } else if (bucket !== this.#newest) {
      this.#unlink(bucket);
      this.#pushNewest(bucket);
    }
    bucket.tokens = Math.min(this.#burst, bucket.tokens + (t - bucket.at) * this.#perMs);
    bucket.at = t;
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  #pushNewest(bucket: Bucket): void {
    bucket.older = this.#newest;
    bucket.newer = undefined;
    if (this.#newest !== undefined) this.#newest.newer = bucket;
    this.#newest = bucket;
    this.#oldest ??= bucket;
  }

  #unlink(bucket: Bucket): void {
    if (bucket.newer === undefined) this.#newest = bucket.older;
    else bucket.newer.older = bucket.older;
    if (bucket.older === undefined) this.#oldest = bucket.newer;
    else bucket.older.newer = bucket.newer;
  }
}
