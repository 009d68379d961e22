/**
 * Enrollment runs: one at a time, shared by every caller that waits for it.
 * A run is a first enrollment or an explicit re-enrollment (attempts with
 * doubling backoff, through p-retry), or the monitor's recovery (a plain
 * loop over the known bootstraps, each with its own jittered backoff, until
 * the member is back, closed, or the monitor stops).
 *
 * @module
 */
import pRetry from 'p-retry';
import type { AuthOptions } from '../auth/auth.js';
import type { SecureChannel } from '../auth/channel.js';
import type { InvokeIds } from '../cdap/messages.js';
import type { CdapMessage } from '../cdap/types.js';
import type { EnrollmentConfig } from '../config.js';
import {
  DiscoveryError,
  EnrollmentAbortedError,
  EnrollmentInProgressError,
  IpcpNameNotSetError,
  ManagerClosedError,
  NoBootstrapPeersError,
} from '../errors.js';
import { exponentialDelay } from '../util/backoff.js';
import { MAX_TIMER_MS, sleep } from '../util/clock.js';
import { joinShared } from '../util/join.js';
import { type AttemptResult, AttemptTimeout, EnrollmentAttempt, timedOut } from './attempt.js';
import { reportAttemptFailure, reportAttemptStart, reportRunFailure } from './failure.js';
import type { Bootstrap } from './bootstrap-set.js';
import { type CompletionInit, completeEnrollment, storeResult } from './completion.js';
import { Discovery, type DiscoveryPart } from './discovery.js';

/** Why an enrollment without a bootstrap named cannot start. */
const NONE_KNOWN = 'no bootstrap is known: configure bootstraps or enrol with one';

/** An enrollment (`enrolling`) or a re-enrollment (`reenrolling`). */
type RunKind = 'enrolling' | 'reenrolling';

/** One run, shared by every caller that waits for it. */
interface Run {
  readonly kind: RunKind;
  /** A fixed bootstrap (enrolWithBootstrap), or undefined to move through the known ones. */
  readonly target: string | undefined;
  /** The monitor's recovery: unlimited attempts with jittered backoff. */
  readonly recovery: boolean;
  readonly promise: Promise<string>;
  readonly controller: AbortController;
  waiters: number;
}

/** Where a run stands, as its attempts go. */
interface Progress {
  readonly kind: RunKind;
  readonly target: string | undefined;
  readonly recovery: boolean;
  readonly signal: AbortSignal;
  readonly previousAddress: number | undefined;
  readonly startedAt: number;
  attempts: number;
  /** The bootstrap of the current attempt (or the `srv:` entry whose lookup failed). */
  current: string;
  /** The backoff this bootstrap gets should the attempt fail (re-enrollments draw it up front, to announce it). */
  nextDelayMs: number;
  /** "Busy" answers in a row, any other failure ending the row. */
  busyInARow: number;
  /** The bootstrap the next attempt goes to again, before `maxRetries` counts one (see {@link Runs.#attemptOnce}). */
  again: string | undefined;
  /** Whether this run has gone back to an enroller so: once per run. */
  wentAgain: boolean;
}

/** What runs need from the manager, besides what completing an enrollment needs. */
export interface RunsInit extends CompletionInit {
  readonly config: Readonly<EnrollmentConfig>;
  readonly auth: AuthOptions;
  /** The DIF named in M_CONNECT, if any. */
  readonly difName: string | undefined;
  readonly lowerDifs: readonly string[];
  readonly ids: InvokeIds;
  readonly discovery: DiscoveryPart;
  /** Backoffs: after the n-th failure of a bootstrap, the n-th "busy" answer, and a busy enroller's named wait. */
  backoff(failures: number): number;
  busyBackoff(busyAnswers: number, askedMs?: number): number;
  askedWait(recovery: boolean, failures: number, busyInARow: number, askedMs: number): number;
  sendNow(to: string, msg: CdapMessage, channel: SecureChannel | undefined): Promise<void>;
}

/** The one run at a time, and the attempt it has in flight. */
export class Runs {
  readonly #init: RunsInit;
  #run: Run | undefined;
  #attempt: EnrollmentAttempt | undefined;

  constructor(init: RunsInit) {
    this.#init = init;
  }

  /** Whether a run is in progress. */
  get running(): boolean {
    return this.#run !== undefined;
  }

  /** The attempt in flight, if any: PDUs from its bootstrap go to it. */
  get attempt(): EnrollmentAttempt | undefined {
    return this.#attempt;
  }

  /** Starts a run or joins the one in progress, on behalf of one caller. */
  enrol(kind: RunKind, target: string | undefined, signal: AbortSignal | undefined): Promise<string> {
    const { state, bootstraps } = this.#init;
    if (state.type === 'closed') return Promise.reject(new ManagerClosedError());
    if (this.#init.ipcpName === undefined) return Promise.reject(new IpcpNameNotSetError());
    if (signal?.aborted) return Promise.reject(new EnrollmentAbortedError(undefined, { cause: signal.reason }));
    let run = this.#run;
    if (run !== undefined && target !== undefined && run.recovery) {
      // An explicit bootstrap pre-empts the monitor's recovery, which resumes if it fails.
      this.#letGo(run, new EnrollmentAbortedError('superseded by an explicit enrollment'));
      run = undefined;
    }
    if (run !== undefined) {
      if (target !== undefined && run.target !== undefined && run.target !== target) {
        return Promise.reject(
          new EnrollmentInProgressError(`an enrollment with "${run.target}" is in progress; cannot start one with "${target}"`),
        );
      }
      return this.#join(run, signal);
    }
    if (target !== undefined) bootstraps.learn(target, 'explicit');
    else if (this.#nothingToTry()) return Promise.reject(new NoBootstrapPeersError(NONE_KNOWN)); // refused: not a failed run
    return this.#join(this.#start(kind, target, false), signal);
  }

  /** Waits for `run` on behalf of one caller; the last caller to stop waiting (not the monitor's) ends the run. */
  #join(run: Run, signal: AbortSignal | undefined): Promise<string> {
    return joinShared(run, signal, (reason) => {
      if (!run.recovery) this.#detach(run, reason);
    });
  }

  /**
   * The monitor's recovery after a loss: attempts until enrolled, closed or the monitor stops (failures reported as
   * events, its promise unawaited). Only a running monitor calls it, after enrolling and before close(): no loop.
   */
  startRecovery(): void {
    if (this.#run !== undefined || this.#init.state.type === 'closed' || this.#nothingToTry()) return;
    this.#start('reenrolling', undefined, true).promise.catch(() => undefined);
  }

  /** The monitor stopped: its recovery, if running, ends. */
  stopRecovery(reason: unknown): void {
    if (this.#run?.recovery) this.#detach(this.#run, reason);
  }

  /** The manager closes: the run in progress, if any, ends with `ManagerClosedError`. */
  close(): void {
    this.#run?.controller.abort(new ManagerClosedError());
  }

  /**
   * The member is not enrolled and nothing is running (a listener of the change to idle may have started a run):
   * if the monitor runs, it takes over, opening an outage first if none is open (every recovery pairs with a loss).
   */
  handOver(): void {
    if (!this.#init.liveness.monitoring || this.#run !== undefined) return;
    this.#init.liveness.openOutageIfNone();
    this.startRecovery();
  }

  #start(kind: RunKind, target: string | undefined, recovery: boolean): Run {
    const controller = new AbortController();
    const p: Progress = {
      kind,
      target,
      recovery,
      signal: controller.signal,
      previousAddress: this.#init.state.record?.address,
      startedAt: this.#init.clock.now(),
      attempts: 0,
      current: target ?? '',
      nextDelayMs: 0,
      busyInARow: 0,
      again: undefined,
      wentAgain: false,
    };
    // Current before its work starts: a listener of its first attempt may close the manager, which must find it to end it.
    let work: (outcome: Promise<string>) => void = () => undefined;
    const run: Run = { kind, target, recovery, promise: new Promise((adopt) => (work = adopt)), controller, waiters: 0 };
    this.#run = run;
    work(
      (recovery ? this.#recover(p) : this.#retry(p))
        .then((result) => completeEnrollment(this.#init, p.current, result, p))
        .catch((err: unknown) => reportRunFailure(this.#init, p, err))
        .finally(() => this.#settled(run)),
    );
    return run;
  }

  /** A first enrollment or an explicit re-enrollment: `maxRetries` attempts, the waits doubling from `initialBackoffMs`. */
  #retry(p: Progress): Promise<AttemptResult> {
    const { maxRetries, initialBackoffMs } = this.#init.config;
    return pRetry(() => this.#attemptPastBusy(p), {
      retries: maxRetries - 1,
      minTimeout: initialBackoffMs,
      factor: 2,
      maxTimeout: MAX_TIMER_MS,
      randomize: false,
      unref: true,
      signal: p.signal,
      shouldRetry: ({ error }) => error instanceof AttemptTimeout,
      onFailedAttempt: ({ error, retriesLeft, attemptNumber }) => {
        const retryInMs =
          retriesLeft > 0 && error instanceof AttemptTimeout && !p.signal.aborted
            ? exponentialDelay(attemptNumber, initialBackoffMs, MAX_TIMER_MS) // (p-retry's count: a `p.again` try is none)
            : undefined;
        reportAttemptFailure(this.#init, p, error, retryInMs);
      },
    });
  }

  /**
   * One of `maxRetries` attempts, however often the enroller answers "busy": then the member waits the time it named, or
   * a jittered backoff, and asks again (p-retry's `shouldConsumeRetry` would ask again at once, and not after the last).
   * Nor does going back once to an enroller that accepted and was slow (`p.again`) count: after `initialBackoffMs`.
   */
  async #attemptPastBusy(p: Progress): Promise<AttemptResult> {
    for (let busy = 1; ; ) {
      try {
        return await this.#attemptOnce(p);
      } catch (error) {
        if (p.signal.aborted) throw error;
        if (p.again !== undefined) {
          reportAttemptFailure(this.#init, p, error, this.#init.config.initialBackoffMs);
          await sleep(this.#init.config.initialBackoffMs, p.signal, this.#init.clock);
          continue;
        }
        if (!(error instanceof AttemptTimeout && error.busy)) throw error;
        const retryInMs = this.#init.busyBackoff(busy++, error.retryInMs);
        reportAttemptFailure(this.#init, p, error, retryInMs);
        await sleep(retryInMs, p.signal, this.#init.clock);
      }
    }
  }

  /** The monitor's recovery: attempt after attempt, each bootstrap waiting out its own backoff, until back or stopped. */
  async #recover(p: Progress): Promise<AttemptResult> {
    for (;;) {
      p.signal.throwIfAborted();
      try {
        const result = await this.#attemptOnce(p);
        p.signal.throwIfAborted();
        return result;
      } catch (error) {
        if (p.signal.aborted) throw error; // closed, stopped or superseded: the run's end says why
        const giveUp = error instanceof NoBootstrapPeersError;
        const retryInMs = giveUp ? undefined : Math.max(0, this.#nextTryAt() - this.#init.clock.now());
        reportAttemptFailure(this.#init, p, error, retryInMs);
        if (giveUp) throw error;
      }
    }
  }

  /**
   * One attempt: a lookup if due, the choice of a bootstrap, the exchange, and storing what it brought. (It awaits
   * nothing before the attempt is shown unless it must: an abort arriving meanwhile finds the state as it left it.)
   */
  async #attemptOnce(p: Progress): Promise<AttemptResult> {
    p.attempts++;
    if (p.target === undefined && this.#init.discovery.enabled) {
      this.#showLookup(p);
      try {
        await this.#init.discovery.ifNeeded(p.signal);
      } catch (err) {
        if (err instanceof DiscoveryError) p.current = Discovery.entryOf(err);
        throw err;
      }
    }
    // (not to one a lookup dropped meanwhile: `learn` would bring it back as configured)
    const again = p.again !== undefined && this.#init.bootstraps.has(p.again) ? p.again : undefined;
    p.again = undefined;
    let status = this.#init.bootstraps.learn(p.target ?? again ?? this.#pick().address, 'explicit');
    // Every bootstrap may be blocked by its backoff: recovery waits for the first to come free.
    const wait = p.recovery ? status.blockedUntil - this.#init.clock.now() : 0;
    if (wait > 0) status = await this.#waitFree(p, status.address, wait);
    const bootstrap = status.address;
    p.current = bootstrap;
    p.nextDelayMs = p.kind === 'reenrolling' ? this.#init.backoff(status.failures + 1) : Number.NaN;
    reportAttemptStart(this.#init, p, bootstrap);
    p.signal.throwIfAborted(); // a listener of the announcement may have ended this run (and started another)
    const attempt = this.#newAttempt(bootstrap);
    this.#attempt = attempt;
    try {
      const result = await attempt.run(p.signal);
      if (this.#attempt === attempt) this.#attempt = undefined;
      this.#init.channels.completing(bootstrap, result.channel);
      await storeResult(this.#init, result, p.signal);
      this.#init.bootstraps.succeeded(status);
      return result;
    } catch (err) {
      const asked = err instanceof AttemptTimeout ? err.retryInMs : undefined; // a "busy" enroller's own time, if named
      p.busyInARow = asked === undefined ? 0 : p.busyInARow + 1;
      const { recovery, busyInARow } = p;
      const delayMs = asked === undefined ? p.nextDelayMs : this.#init.askedWait(recovery, status.failures + 1, busyInARow, asked);
      // A first enrollment that timed out (or was told "unavailable") at a live enroller goes back there, once a run,
      // before moving on: what that enroller bound and holds for it is taken over there (bench/README.md, "Busy").
      // Not with HMAC-SHA256: the new M_CONNECT cannot take the old one's place before it proves itself.
      if (!recovery && p.target === undefined && !p.wentAgain && attempt.slow && this.#init.auth.mechanism !== 'hmac-sha256') {
        p.again = bootstrap;
        p.wentAgain = true;
      }
      this.#init.bootstraps.failed(status, Number.isNaN(delayMs) ? undefined : delayMs);
      // (one its shim cannot send to: the run moves on, as from an enroller that does not answer; see BootstrapSet.unsendable)
      if (p.target === undefined && this.#init.bootstraps.unsendable(status, err)) throw timedOut(bootstrap, err);
      throw err;
    } finally {
      if (this.#attempt === attempt) this.#attempt = undefined;
    }
  }

  /** A lookup may come first: show the re-enrollment from its start, not after it. */
  #showLookup(p: Progress): void {
    const { state, bootstraps } = this.#init;
    if (p.kind === 'reenrolling' && state.type === 'enrolled' && bootstraps.size > 0) {
      state.set({ type: 'reenrolling', bootstrap: this.#pick().address, attempt: p.attempts, previousAddress: p.previousAddress });
    }
  }

  /** Recovery shows where it stands, waits `ms` for `address` to come free, then takes the best bootstrap then. */
  async #waitFree(p: Progress, address: string, ms: number): Promise<Bootstrap> {
    const { state, bootstraps, clock } = this.#init;
    state.set({ type: 'reenrolling', bootstrap: address, attempt: p.attempts, previousAddress: p.previousAddress });
    await sleep(ms, p.signal, clock);
    return bootstraps.learn(this.#pick().address, 'explicit');
  }

  #newAttempt(bootstrap: string): EnrollmentAttempt {
    const { config, auth, difName, lowerDifs, ids, clock, state } = this.#init;
    return new EnrollmentAttempt({
      ipcpName: this.#init.ipcpName as string, // set: enrol() refuses without it, and a recovery follows an enrollment
      bootstrap,
      difName,
      auth,
      requestedAddress: state.record?.address ?? 0,
      lowerDifs,
      config,
      ids,
      clock,
      send: (msg, channel) => this.#init.sendNow(bootstrap, msg, channel),
    });
  }

  /** The run is over: unless it was let go of, the state settles, and the monitor may take over. */
  #settled(run: Run): void {
    if (this.#run !== run) return; // detached when aborted: the state was settled then
    this.#run = undefined;
    const { state, liveness } = this.#init;
    if (state.attempting) {
      state.set({ type: 'idle' });
      // A failed manual run while monitoring: the monitor takes over.
      this.handOver();
    } else if (state.lost && liveness.monitoring) {
      // Lost again since its completion (released at once, a keepalive refused): recovery had to wait for this run.
      this.startRecovery();
    }
  }

  /** The clock's time of recovery's next try: the bootstrap unblocked soonest (recovery knows one: its last). */
  #nextTryAt(): number {
    return this.#pick().blockedUntil;
  }

  #nothingToTry(): boolean {
    return this.#init.bootstraps.size === 0 && !this.#init.discovery.enabled;
  }

  #pick(): Bootstrap {
    const picked = this.#init.bootstraps.pick(this.#init.state.record?.bootstrap);
    if (picked === undefined) throw new NoBootstrapPeersError(NONE_KNOWN);
    return picked;
  }

  /** Aborts a run and lets go of it at once (a caller arriving now starts a fresh one); the state settles, the monitor may take over. */
  #detach(run: Run, reason: unknown): void {
    if (!this.#letGo(run, reason)) return;
    if (this.#init.state.attempting) {
      this.#init.state.set({ type: 'idle' });
      this.handOver();
    }
  }

  /** Aborts a run and, if it is the current one, lets go of it without settling the state; returns whether it was. */
  #letGo(run: Run, reason: unknown): boolean {
    run.controller.abort(reason);
    if (this.#run !== run) return false;
    this.#run = undefined;
    this.#attempt = undefined;
    return true;
  }
}
