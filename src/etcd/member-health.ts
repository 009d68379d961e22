/**
 * Which etcd members the store's client calls: one that stops answering is
 * passed over while another answers.
 *
 * etcd3 sends each call to a member picked at random, and to the next one
 * only when the first fails at once. A member that accepts connections but
 * does not answer (paused, or restarted and still catching up, which at
 * 100,000 members took longer than 20 s) holds each call sent to it until
 * its deadline: a third of all calls, watches included. (With several
 * `hosts`, the lease's keepalives, whose deadline is a whole TTL, go their
 * own way: keepalives.ts.)
 * Here a member whose calls failed {@link FAILURES_TO_SKIP} times in a row
 * (each within {@link FORGET_FAILURES_MS} of the one before) is skipped (the pick moves on to the next member at once) for 250 ms,
 * doubling to 4 s while it fails again; then one call tries it, the others
 * still skip it until that one is answered. A member is skipped only while
 * another is not: when none answers, every call tries them all as before,
 * so nothing waits longer once etcd is back.
 *
 * cockatiel's circuit breaker, which etcd3 takes per member, does not fit:
 * its calls wait for the one trying a broken member (up to the deadline),
 * and it opens with no regard for the other members.
 *
 * @module
 */
import type { IDefaultPolicyContext, IPolicy } from 'cockatiel';
import { exponentialDelay } from '../util/backoff.js';

/** Consecutive failures (no answer within the deadline, unavailable) after which a member is skipped. */
export const FAILURES_TO_SKIP = 3;

/**
 * A failure this long after the member's last one starts the count afresh,
 * skips included. A stream's answers never reach the policy (only its
 * failure does), so on an enroller whose only calls are keepalives and its
 * watch, failures hours apart would otherwise add up.
 */
export const FORGET_FAILURES_MS = 10_000;

/** A member's record. */
interface Member {
  /** Failures since its last answer. */
  failures: number;
  /** When (`now()`) it last failed. */
  failedAt: number;
  /** Times it was skipped since its last answer (the skip doubles each time). */
  skips: number;
  /** Until when (`now()`) calls pass it over. */
  skippedUntil: number;
  /** A call tries it after a skip: the others skip it until that call ends. */
  trying: boolean;
}

/** The members of one client, each with the policy etcd3 runs its calls through. */
export class MemberHealth {
  readonly #members: Member[] = [];
  readonly #now: () => number;
  readonly #failed: (err: unknown) => boolean;
  readonly #onSkip: () => void;

  /**
   * `failed`: whether an error counts against the member (etcd3's
   * recoverable errors); `onSkip`: told of each call that passed a member over.
   */
  constructor(failed: (err: unknown) => boolean, onSkip: () => void = () => {}, now: () => number = () => performance.now()) {
    this.#failed = failed;
    this.#onSkip = onSkip;
    this.#now = now;
  }

  /** A member's policy (etcd3's `faultHandling.host`): called once per member, when the client is made. */
  policy(): IPolicy<IDefaultPolicyContext> {
    const member: Member = { failures: 0, failedAt: 0, skips: 0, skippedUntil: 0, trying: false };
    this.#members.push(member);
    // etcd3 uses `execute` alone; the rest of IPolicy (events, `_altReturn`) it never reads.
    // It awaits what `execute` returns, or calls `.catch` on it (a stream's failure, reported as a call that throws).
    const execute = (fn: () => unknown): Promise<unknown> => {
      try {
        return Promise.resolve(this.#execute(member, fn));
      } catch (err) {
        return Promise.reject(err);
      }
    };
    return { execute } as unknown as IPolicy<IDefaultPolicyContext>;
  }

  /** Whether `member` is passed over now. */
  #skips(member: Member): boolean {
    const now = this.#now();
    const passedOver = member.trying || now < member.skippedUntil;
    return passedOver && this.#members.some((m) => m !== member && !m.trying && now >= m.skippedUntil);
  }

  #execute(member: Member, fn: () => unknown): unknown {
    // (a skip lasts 4 s at most: one this old has ended, and its count with it)
    if (!member.trying && this.#now() - member.failedAt > FORGET_FAILURES_MS) forget(member);
    if (this.#skips(member)) {
      this.#onSkip();
      // etcd3 moves on to the next member on any error from here (no call was made).
      throw new SkippedMemberError();
    }
    const trial = member.skips > 0 && !member.trying;
    if (trial) member.trying = true;
    let result: unknown;
    try {
      result = fn();
    } catch (err) {
      this.#ended(member, trial, err);
      throw err;
    }
    // A unary call answers through its promise; a stream (watch, keepalive) is made at once and reports its
    // failure later (etcd3 runs that report through here too, as a call that throws): making one proves nothing.
    if (!isPromise(result)) {
      if (trial) member.trying = false;
      return result;
    }
    return result.then(
      (value) => {
        this.#ended(member, trial, undefined);
        return value;
      },
      (err: unknown) => {
        this.#ended(member, trial, err);
        throw err;
      },
    );
  }

  #ended(member: Member, trial: boolean, err: unknown): void {
    if (trial) member.trying = false;
    if (err === undefined || !this.#failed(err)) {
      forget(member);
      return;
    }
    const now = this.#now();
    member.failedAt = now;
    member.failures++;
    if (member.failures >= FAILURES_TO_SKIP || trial) {
      member.skips++;
      member.failures = 0;
      member.skippedUntil = now + exponentialDelay(member.skips, 250, 4000);
    }
  }
}

/** A call passed a member over (see {@link MemberHealth}); etcd3 then tries the next member. */
export class SkippedMemberError extends Error {
  readonly isBrokenCircuitError = true; // (how etcd3 tells a call that was not made from one that failed)
  constructor() {
    super('etcd: this member failed its last calls and is skipped for now');
    this.name = 'SkippedMemberError';
  }
}

/** `member` as if it had never failed. */
function forget(member: Member): void {
  member.failures = 0;
  member.skips = 0;
  member.skippedUntil = 0;
}

function isPromise(value: unknown): value is Promise<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}
