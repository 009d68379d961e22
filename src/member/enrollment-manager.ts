/**
 * The member side: enrols with a bootstrap, holds the assigned address, sends
 * keepalives, notices a lost bootstrap on time and recovers by itself, moving
 * across bootstraps with jittered backoff.
 *
 * @module
 */
import { EventEmitter } from 'eventemitter3';
import pRetry from 'p-retry';
import { decodeCdapMessage, encodeCdapMessage } from '../cdap/codec.js';
import { InvokeIds, isEnrollmentObject, KEEPALIVE_OBJECT, keepaliveRequest, Result, replyTo } from '../cdap/messages.js';
import { type CdapMessage, isReply, OpCode } from '../cdap/types.js';
import { z } from 'zod';
import {
  dependency,
  type EnrollmentConfig,
  type EnrollmentConfigInput,
  enrollmentConfigSchema,
  MAX_TIMER_MS,
  parseWith,
  SRV_BOOTSTRAP_PREFIX,
} from '../config.js';
import {
  ConfigError,
  DiscoveryError,
  EnrollmentAbortedError,
  EnrollmentError,
  EnrollmentInProgressError,
  EnrollmentTimeoutError,
  IpcpNameNotSetError,
  ManagerClosedError,
  NoBootstrapPeersError,
  NotEnrolledError,
  ProtocolError,
  RibError,
} from '../errors.js';
import { type Rib, RibNames } from '../rib/rib.js';
import type { Shim } from '../shim/shim.js';
import { type AuthOptions, authOptionsSchema } from '../auth/auth.js';
import { type OpenFailure, type SecureChannel, splitTag } from '../auth/channel.js';
import { diagnosticsChannels, log, type Logger, publish } from '../diagnostics.js';
import { safeEmit } from '../util/events.js';
import { sharedTicker, type Ticker, type TickerEntry } from '../util/ticker.js';
import { type AttemptResult, AttemptTimeout, EnrollmentAttempt } from './attempt.js';
import { MetricsRecorder, type ConnectionMetrics } from './metrics.js';
import { isSrvBootstrap, parseSrvBootstrap, resolveSrvBootstraps, type SrvDiscoveryOptions, srvDiscoverySchema } from './srv.js';
import { parseUdpAddress } from '../shim/udp-shim.js';

/** Dependencies and settings of an {@link EnrollmentManager}. */
export interface EnrollmentManagerOptions {
  /** The N-1 transport to the bootstrap. The caller keeps ownership: `close()` does not close it. */
  readonly shim: Shim;
  /** The member's RIB: enrollment writes the synced objects and `/mgmt/address` into it. */
  readonly rib: Rib;
  /**
   * How the `srv:` entries of `config.bootstraps` are resolved: a resolver
   * (`{ resolver }`, anything with `resolveSrv`, `resolve4` and `resolve6`,
   * such as a `node:dns/promises` Resolver), or the DNS servers to ask
   * (`{ dnsServers: ['127.0.0.1:5353'] }`), and the address family. One
   * lookup is bounded by `timeoutMs`.
   * @default {} (the system's DNS servers; the family of the shim's address)
   */
  readonly discovery?: SrvDiscoveryOptions;
  /** The member's IPCP name; or call {@link EnrollmentManager.setIpcpName} later. */
  readonly ipcpName?: string;
  /**
   * Any subset of the configuration; the rest takes its defaults. Invalid values throw `ConfigError`.
   * @default {}
   */
  readonly config?: EnrollmentConfigInput;
  /**
   * The DIF to join, sent as `dest_ap_name` of M_CONNECT: an enroller of
   * another DIF refuses it. Without it the member names the enroller by its
   * shim address, which our enrollers accept too.
   * @default undefined
   */
  readonly difName?: string;
  /**
   * The DIFs the member can be reached through, sent in M_START.
   * @default []
   */
  readonly lowerDifs?: readonly string[];
  /**
   * How the member proves itself to the enroller: `{ mechanism: 'passwd',
   * password }` (plaintext) or `{ mechanism: 'hmac-sha256', key }` (mutual;
   * needs `difName`). Kept out of `config`, errors and events.
   * @default { mechanism: 'none' }
   */
  readonly auth?: AuthOptions;
  /**
   * A pino-compatible logger (`debug`, `info`, `warn`, `error`, fields first).
   * @default undefined (silent)
   */
  readonly logger?: Logger;
  /**
   * Source of randomness in [0, 1) for the backoff jitter (inject a seeded one in tests).
   * @default Math.random
   */
  readonly random?: () => number;
}

/** Where the member stands; one discriminated union, read as `mgr.state`. */
export type EnrollmentState =
  | {
      /** Not enrolled and no enrollment running: before the first one, after a failure, or after a loss while not monitoring. */
      readonly type: 'idle';
    }
  | {
      /** An enrollment (`enrol()` / `enrolWithBootstrap()`) is running. */
      readonly type: 'enrolling';
      /** The shim address of the bootstrap of the current attempt. */
      readonly bootstrap: string;
      /** The current attempt's number in this enrollment, from 1. */
      readonly attempt: number;
    }
  | {
      /** Enrolled. */
      readonly type: 'enrolled';
      /** The shim address of the bootstrap it enrolled with. */
      readonly bootstrap: string;
      /** The DIF address assigned. */
      readonly address: number;
      /** The DIF's name. */
      readonly difName: string;
      /** `Date.now()` when the enrollment completed. */
      readonly since: number;
    }
  | {
      /** A re-enrollment (`reEnroll()`, or the monitor's recovery after a loss) is running. */
      readonly type: 'reenrolling';
      /** The bootstrap of the current attempt. */
      readonly bootstrap: string;
      /** The current attempt's number in this re-enrollment, from 1. */
      readonly attempt: number;
      /** The address held before, asked for again. */
      readonly previousAddress: number | undefined;
    }
  | {
      /** Closed by `close()`; final. */
      readonly type: 'closed';
    };

/**
 * Why the connection counts as lost.
 * @inline
 */
export type LossReason = 'timeout' | 'keepalive-refused' | 'released' | 'reenroll-failed';

/** Events of an {@link EnrollmentManager}. A listener that throws is reported as a process warning and does not break the manager. */
export interface EnrollmentEvents {
  /** Every change of {@link EnrollmentManager.state}. */
  'state:change': [state: EnrollmentState, previous: EnrollmentState];
  /** An enrollment or re-enrollment completed. */
  enrolled: [
    info: {
      /** The DIF address assigned. */
      address: number;
      /** The DIF's name: from M_START_R, else the synced `/dif/config/name`, else the bootstrap's shim address. */
      difName: string;
      /** The shim address of the bootstrap. */
      bootstrap: string;
    },
  ];
  /**
   * Once per outage: the bootstrap was silent for `connectionTimeoutSecs`
   * (`timeout`), refused a keepalive (`keepalive-refused`), released the
   * member (`released`), or a re-enrollment asked for failed while monitoring
   * (`reenroll-failed`).
   */
  'connection:lost': [
    info: {
      /** The shim address of the bootstrap lost. */
      bootstrap: string;
      /** Milliseconds since the last heartbeat. */
      silentMs: number;
      /** Why the connection counts as lost. */
      reason: LossReason;
    },
  ];
  /**
   * The enroller assigned another address than the one the member held
   * (it asked for it back, but the enroller has another pool, or gave it
   * away): the IPCP must renumber. `/mgmt/address` already holds the new one.
   */
  'address:change': [
    info: {
      /** The address held before. */
      previous: number;
      /** The address assigned now. */
      address: number;
      /** The shim address of the bootstrap that assigned it. */
      bootstrap: string;
    },
  ];
  /** A re-enrollment attempt starts; `nextDelayMs` is the backoff this bootstrap gets should it fail. */
  'reenroll:attempt': [
    info: {
      /** The attempt's number in this re-enrollment, from 1. */
      attempt: number;
      /** The shim address of the bootstrap tried. */
      bootstrap: string;
      /** The backoff, in ms, this bootstrap gets should the attempt fail. */
      nextDelayMs: number;
    },
  ];
  /** A re-enrollment completed; once per recovery. */
  'reenroll:success': [
    info: {
      /** Attempts the re-enrollment took. */
      attempts: number;
      /** The shim address of the bootstrap that enrolled the member. */
      bootstrap: string;
      /** The DIF address assigned now. */
      address: number;
      /** The address held before (asked for again), if any. */
      previousAddress: number | undefined;
      /** Milliseconds from the detection of the loss (or from the start of the re-enrollment) to being enrolled again. */
      recoveryMs: number;
    },
  ];
  /** A re-enrollment attempt failed; `retryInMs` is the wait before the next one, undefined when giving up. */
  'reenroll:failure': [
    info: {
      /** The attempt's number in this re-enrollment, from 1. */
      attempt: number;
      /** The shim address of the bootstrap tried, or the `srv:` entry whose lookup failed when no bootstrap was known. */
      bootstrap: string;
      /** Why the attempt failed. */
      error: EnrollmentError;
      /** Milliseconds before the next attempt, or undefined when giving up. */
      retryInMs: number | undefined;
    },
  ];
  /** A keepalive was answered. */
  'keepalive:rtt': [
    info: {
      /** Milliseconds from the keepalive M_READ to its M_READ_R. */
      rttMs: number;
      /** The shim address of the bootstrap that answered. */
      bootstrap: string;
    },
  ];
}

/** Options of the async operations. */
export interface OperationOptions {
  /** Aborts the wait; the enrollment itself stops when no caller waits for it any more. */
  readonly signal?: AbortSignal;
}

/** The handle of a running monitor. */
export interface ConnectionMonitor {
  /** Stops monitoring. Idempotent. */
  stop(): void;
  /** False once stopped (or when monitoring is disabled). */
  readonly running: boolean;
}

/**
 * What is known of one bootstrap: its failures, and until when it is left alone.
 * @inline
 */
export interface BootstrapStatus {
  /** The bootstrap's shim address. */
  readonly address: string;
  /** Consecutive failed attempts. */
  readonly failures: number;
  /** `performance.now()` time before which recovery does not try it again. */
  readonly blockedUntil: number;
  /** Where the member learnt of it: `dns` for an enroller listed by an `srv:` entry of `config.bootstraps`. */
  readonly source: 'config' | 'explicit' | 'advertised' | 'dns';
}

type RunKind = 'enrolling' | 'reenrolling';

/** One enrollment run (attempts and backoffs), shared by every caller that waits for it. */
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

const now = (): number => performance.now();

const ipcpNameSchema = z
  .string({ error: 'must be a non-empty string' })
  .min(1, { error: 'must be a non-empty string' })
  .refine((name) => name.isWellFormed(), { error: 'must be well-formed Unicode (no lone surrogates)' });

const managerOptionsSchema = z
  .strictObject({
    shim: dependency<Shim>('Shim', ['send', 'onReceive', 'close']),
    rib: dependency<Rib>('Rib', ['read', 'write', 'delete', 'list']),
    discovery: srvDiscoverySchema.optional(),
    ipcpName: ipcpNameSchema.optional(),
    difName: z.string({ error: 'must be a non-empty string' }).min(1, { error: 'must be a non-empty string' }).optional(),
    config: enrollmentConfigSchema.prefault({}),
    lowerDifs: z
      .array(z.string({ error: 'must be a DIF name (string)' }).min(1, { error: 'must not be empty' }), {
        error: 'must be an array of DIF names',
      })
      .default([]),
    random: z.custom<() => number>((v) => typeof v === 'function', { error: 'must be a function returning a number in [0, 1)' }).optional(),
    auth: authOptionsSchema.default({ mechanism: 'none' }),
    logger: dependency<Logger>('Logger', ['debug', 'info', 'warn', 'error']).optional(),
  })
  .refine((o) => o.auth.mechanism !== 'hmac-sha256' || o.difName !== undefined, {
    path: ['difName'],
    error: 'is required with hmac-sha256 authentication (the proofs are bound to the DIF)',
  });

/** The IP version of a shim address that is an IP literal with a port, else undefined. */
function ipFamily(address: string): 4 | 6 | undefined {
  try {
    return parseUdpAddress(address).family;
  } catch {
    return undefined;
  }
}

/** Resolves after `ms` on an unref'd timer; rejects with the signal's reason on abort. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    timer.unref?.();
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Enrols a member IPCP with a bootstrap and keeps it enrolled.
 *
 * Only one enrollment runs at a time: concurrent calls share it.
 */
export class EnrollmentManager extends EventEmitter<EnrollmentEvents> {
  /** The validated configuration, defaults applied. */
  readonly config: Readonly<EnrollmentConfig>;
  readonly #shim: Shim;
  readonly #rib: Rib;
  readonly #lowerDifs: readonly string[];
  readonly #targetDif: string | undefined;
  readonly #auth: AuthOptions;
  readonly #logger: Logger | undefined;
  readonly #random: () => number;
  readonly #ticker: Ticker = sharedTicker;
  readonly #ids = new InvokeIds(1);
  readonly #bootstraps = new Map<string, BootstrapStatus & { failures: number; blockedUntil: number }>();
  readonly #metrics = new MetricsRecorder();
  readonly #pendingKeepalives = new Map<number, number>();
  #ipcpName: string | undefined;
  #state: EnrollmentState = { type: 'idle' };
  #bootstrap: string | undefined;
  #address: number | undefined;
  #difName: string | undefined;
  #lastHeartbeat: number | undefined;
  /**
   * With `hmac-sha256`: the channel of the last enrollment completed with each
   * enroller (one per known bootstrap). The current enrollment's is
   * `#channels.get(#bootstrap)`; the others answer the liveness probes of
   * enrollers this member left (a newcomer claiming its name there).
   */
  readonly #channels = new Map<string, SecureChannel>();
  /** The channel of an attempt that succeeded and is being stored, until it completes. */
  #completing: { readonly bootstrap: string; readonly channel: SecureChannel } | undefined;
  #run: Run | undefined;
  #attempt: EnrollmentAttempt | undefined;
  #monitor: { running: boolean; stop(): void } | undefined;
  #deadlineEntry: TickerEntry | undefined;
  #keepaliveEntry: TickerEntry | undefined;
  /** `performance.now()` when the current outage was detected. */
  #outageAt: number | undefined;
  /** Set by a detected loss while still formally enrolled, until the next enrollment. */
  #lostConnection = false;
  /** The `srv:` entries of `config.bootstraps`, in order, with what each resolved to last (undefined: never resolved). */
  readonly #srv: Array<{ readonly entry: string; readonly name: string; addresses: readonly string[] | undefined }> = [];
  /** How the `srv:` entries are resolved. */
  readonly #discovery: SrvDiscoveryOptions;
  /** Consecutive discoveries that left no bootstrap to try; the next one waits until `#discoveryBlockedUntil`. */
  #discoveryFailures = 0;
  #discoveryBlockedUntil = 0;
  /** Bootstraps that failed since the last lookup of the `srv:` entries or the last enrollment: all of them failing calls for a new lookup. */
  readonly #failedSinceDiscovery = new Set<string>();
  readonly #unsubscribe: () => void;

  /** Throws `ConfigError` for invalid options or configuration, naming each offending field. */
  constructor(options: EnrollmentManagerOptions) {
    super();
    const o = parseWith(managerOptionsSchema, options);
    this.config = Object.freeze(o.config);
    this.#shim = o.shim;
    this.#rib = o.rib;
    this.#random = o.random ?? Math.random;
    this.#lowerDifs = o.lowerDifs;
    this.#targetDif = o.difName;
    this.#auth = o.auth;
    this.#logger = o.logger;
    for (const entry of this.config.bootstraps) {
      if (isSrvBootstrap(entry)) this.#srv.push({ entry, name: parseSrvBootstrap(entry), addresses: undefined });
      else this.#learn(entry, 'config');
    }
    const family = o.discovery?.family ?? ipFamily(o.shim.localAddress);
    this.#discovery = family === undefined ? { ...o.discovery } : { ...o.discovery, family };
    if (o.ipcpName !== undefined) this.#ipcpName = o.ipcpName;
    this.#unsubscribe = o.shim.onReceive((pdu, from) => this.#onPdu(pdu, from));
  }

  /** Sets the member's IPCP name (a non-empty, well-formed string). */
  setIpcpName(name: string): void {
    if (this.#state.type === 'closed') throw new ManagerClosedError();
    this.#ipcpName = parseWith(ipcpNameSchema, name, 'ipcpName');
  }

  /** The member's IPCP name, if set. */
  get ipcpName(): string | undefined {
    return this.#ipcpName;
  }

  /** The DIF address from the last successful enrollment (kept while re-enrolling). */
  get address(): number | undefined {
    return this.#address;
  }

  /** The DIF's name from the last successful enrollment. */
  get difName(): string | undefined {
    return this.#difName;
  }

  /** The shim address of the bootstrap of the last successful enrollment: where `reEnroll()` goes first. */
  get bootstrapAddress(): string | undefined {
    return this.#bootstrap;
  }

  /** Where the member stands now. */
  get state(): EnrollmentState {
    return this.#state;
  }

  /** `performance.now()` of the last heartbeat, if any. */
  get lastHeartbeat(): number | undefined {
    return this.#lastHeartbeat;
  }

  /** Every bootstrap known (configured, used, or advertised by an enroller), with its failure state. */
  bootstraps(): BootstrapStatus[] {
    return [...this.#bootstraps.values()].map((b) => ({ ...b }));
  }

  /** Connection-quality figures since the manager was made. */
  metrics(): ConnectionMetrics {
    return this.#metrics.snapshot(this.#state.type === 'enrolled');
  }

  /**
   * Enrols with the bootstrap at shim address `bootstrap`; resolves with the
   * DIF's name. Each attempt is bounded by `timeoutMs`; up to `maxRetries`
   * attempts, waiting `initialBackoffMs` and doubling. Rejects with
   * `EnrollmentTimeoutError`, `EnrollmentRejectedError` (final, not retried),
   * `EnrollmentAbortedError`, `IpcpNameNotSetError` or `RibError`.
   */
  enrolWithBootstrap(bootstrap: string, options: OperationOptions = {}): Promise<string> {
    if (typeof bootstrap !== 'string' || bootstrap === '') {
      return Promise.reject(new ConfigError([{ field: 'bootstrap', rule: 'must be a non-empty shim address' }]));
    }
    return this.#enrol('enrolling', bootstrap, options.signal);
  }

  /**
   * Enrols with the configured bootstraps (`config.bootstraps`, and any an
   * enroller advertised), moving to the next one when an attempt times out.
   * Rejects with `NoBootstrapPeersError` when none is known.
   */
  enrol(options: OperationOptions = {}): Promise<string> {
    return this.#enrol('enrolling', undefined, options.signal);
  }

  /**
   * Enrols again, with the last bootstrap first, asking for the same address
   * back; resolves with the DIF's name. Concurrent calls share one
   * re-enrollment. Rejects with `NoBootstrapPeersError` when the member never
   * enrolled.
   */
  reEnroll(options: OperationOptions = {}): Promise<string> {
    if (this.#state.type !== 'closed' && this.#run === undefined && this.#bootstrap === undefined) {
      return Promise.reject(new NoBootstrapPeersError());
    }
    return this.#enrol('reenrolling', undefined, options.signal);
  }

  /** Records that the bootstrap is alive now (every message from it does this by itself). */
  updateHeartbeat(): void {
    if (this.#state.type !== 'closed') this.#heartbeat();
  }

  /**
   * Records a heartbeat, unless the monitor should already have declared the
   * connection lost (the check runs up to one tick late): then the silence
   * did exceed the timeout, and the loss is declared first. Returns whether
   * the heartbeat counted.
   */
  #heartbeat(): boolean {
    const t = now();
    const last = this.#lastHeartbeat;
    if (
      this.#state.type === 'enrolled' &&
      this.#monitor?.running &&
      !this.#lostConnection &&
      last !== undefined &&
      t - last >= this.config.connectionTimeoutSecs * 1000
    ) {
      this.#lost('timeout');
      return false;
    }
    this.#lastHeartbeat = t;
    return true;
  }

  /** True while enrolled and the last heartbeat is less than `connectionTimeoutSecs` old. */
  isConnectionHealthy(): boolean {
    return (
      this.#state.type === 'enrolled' &&
      !this.#lostConnection &&
      this.#lastHeartbeat !== undefined &&
      now() - this.#lastHeartbeat < this.config.connectionTimeoutSecs * 1000
    );
  }

  /**
   * Starts the monitor: `connection:lost` fires once `connectionTimeoutSecs`
   * pass without a heartbeat (never earlier, at most 40 ms later), then the
   * member re-enrolls by itself, one re-enrollment at a time, moving across
   * the known bootstraps with jittered backoff until it is back. Calling it
   * again returns the running monitor. With `heartbeatIntervalSecs` 0
   * monitoring is disabled and the returned monitor is not running. Throws
   * `NotEnrolledError` before a first enrollment.
   */
  startConnectionMonitoring(): ConnectionMonitor {
    if (this.#state.type === 'closed') throw new ManagerClosedError();
    if (this.#monitor?.running) return this.#monitor;
    if (this.config.heartbeatIntervalSecs === 0) return { stop: () => undefined, running: false };
    if (this.#bootstrap === undefined) throw new NotEnrolledError('enrol with a bootstrap before monitoring the connection');
    const monitor = {
      running: true,
      stop: () => {
        if (!monitor.running) return;
        monitor.running = false;
        if (this.#monitor === monitor) this.#monitor = undefined;
        this.#ticker.cancel(this.#deadlineEntry);
        this.#deadlineEntry = undefined;
        if (this.#run?.recovery) this.#detach(this.#run, new EnrollmentAbortedError('monitoring stopped'));
      },
    };
    this.#monitor = monitor;
    if (this.#state.type === 'enrolled') this.#armDeadline();
    else if (this.#run === undefined) this.#startRecovery();
    return monitor;
  }

  /**
   * Leaves: stops the monitor, keepalives and any enrollment in progress (its
   * callers get `EnrollmentAbortedError`), sends M_RELEASE to the bootstrap
   * when enrolled, and stops listening on the shim (which stays open: it is
   * the caller's).
   */
  async close(): Promise<void> {
    if (this.#state.type === 'closed') return;
    const attempt = this.#attempt;
    const attemptAt = attempt === undefined ? undefined : (this.#state as { bootstrap?: string }).bootstrap;
    this.#setState({ type: 'closed' });
    this.#monitor?.stop();
    this.#run?.controller.abort(new ManagerClosedError());
    this.#unsubscribe();
    // Also after a loss or during a re-enrollment: the bootstrap may still list us.
    // Also to the enroller of an attempt in progress, through its channel: it may have bound an address for it.
    const release = (to: string, channel: SecureChannel | undefined) =>
      this.#sendNow(to, { opCode: OpCode.M_RELEASE, invokeId: this.#ids.next() }, channel).catch(() => undefined);
    if (this.#bootstrap !== undefined) await release(this.#bootstrap, this.#channels.get(this.#bootstrap));
    if (attempt?.channel !== undefined && attemptAt !== undefined) await release(attemptAt, attempt.channel);
  }

  // ---- runs -----------------------------------------------------------------

  #enrol(kind: RunKind, target: string | undefined, signal: AbortSignal | undefined): Promise<string> {
    if (this.#state.type === 'closed') return Promise.reject(new ManagerClosedError());
    if (this.#ipcpName === undefined) return Promise.reject(new IpcpNameNotSetError());
    if (signal?.aborted) return Promise.reject(new EnrollmentAbortedError(undefined, { cause: signal.reason }));
    let run = this.#run;
    if (run !== undefined && target !== undefined && run.recovery) {
      // An explicit bootstrap pre-empts the monitor's recovery, which resumes if it fails.
      this.#detachQuietly(run);
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
    if (target !== undefined) this.#learn(target, 'explicit');
    else if (this.#bootstraps.size === 0 && this.#srv.length === 0) return Promise.reject(new NoBootstrapPeersError());
    return this.#join(this.#startRun(kind, target, false), signal);
  }

  /** The monitor's recovery after a loss: unlimited attempts until enrolled, closed or the monitor stops. */
  #startRecovery(): void {
    if (this.#run !== undefined || this.#state.type === 'closed' || (this.#bootstraps.size === 0 && this.#srv.length === 0)) return;
    // Failures are reported through events; nobody awaits this promise.
    this.#startRun('reenrolling', undefined, true).promise.catch(() => undefined);
  }

  /** Starts attempts with backoff, shared by every caller through {@link #join}. */
  #startRun(kind: RunKind, target: string | undefined, recovery: boolean): Run {
    const controller = new AbortController();
    const previousAddress = this.#address;
    const startedAt = now();
    let attempts = 0;
    let current = target ?? '';
    let nextDelayMs = 0;
    const retryable = (err: unknown): boolean =>
      recovery ? !(err instanceof EnrollmentAbortedError || err instanceof NoBootstrapPeersError) : err instanceof AttemptTimeout;

    const attemptOnce = async (): Promise<AttemptResult> => {
      attempts++;
      if (target === undefined && this.#srv.length > 0) {
        // A lookup may come first: show the re-enrollment from its start, not after it.
        if (kind === 'reenrolling' && this.#state.type === 'enrolled' && this.#bootstraps.size > 0) {
          this.#setState({ type: 'reenrolling', bootstrap: this.#pick().address, attempt: attempts, previousAddress });
        }
        try {
          await this.#discoverIfNeeded(controller.signal, recovery);
        } catch (err) {
          if (err instanceof DiscoveryError) current = `${SRV_BOOTSTRAP_PREFIX}${err.srvName}`;
          throw err;
        }
      }
      let status = this.#learn(target ?? this.#pick().address, 'explicit');
      if (recovery) {
        // Every bootstrap may be blocked by its backoff: wait for the first to come free.
        const wait = status.blockedUntil - now();
        if (wait > 0) {
          this.#setState({ type: 'reenrolling', bootstrap: status.address, attempt: attempts, previousAddress });
          await sleep(wait, controller.signal);
          status = this.#learn(this.#pick().address, 'explicit');
        }
      }
      const bootstrap = status.address;
      current = bootstrap;
      // Drawn up front for re-enrollments, so the attempt event can announce it.
      nextDelayMs = kind === 'reenrolling' ? this.#backoff(status.failures + 1) : Number.NaN;
      const state: EnrollmentState =
        kind === 'enrolling'
          ? { type: 'enrolling', bootstrap, attempt: attempts }
          : { type: 'reenrolling', bootstrap, attempt: attempts, previousAddress };
      const shown = this.#state;
      if (
        shown.type !== state.type ||
        (shown as { bootstrap?: string }).bootstrap !== bootstrap ||
        (shown as { attempt?: number }).attempt !== attempts
      ) {
        this.#setState(state);
      }
      publish(diagnosticsChannels.enrollmentStart, { ipcpName: this.#ipcpName, bootstrap, attempt: attempts, kind });
      if (kind === 'reenrolling') {
        this.#metrics.reenrollAttempt();
        this.#emit('reenroll:attempt', { attempt: attempts, bootstrap, nextDelayMs });
      }
      const attempt = new EnrollmentAttempt({
        ipcpName: this.#ipcpName ?? '',
        bootstrap,
        difName: this.#targetDif,
        auth: this.#auth,
        requestedAddress: this.#address ?? 0,
        lowerDifs: this.#lowerDifs,
        config: this.config,
        ids: this.#ids,
        send: (msg, channel) => this.#sendNow(bootstrap, msg, channel),
      });
      this.#attempt = attempt;
      try {
        const result = await attempt.run(controller.signal);
        if (this.#attempt === attempt) this.#attempt = undefined;
        this.#completing = result.channel === undefined ? undefined : { bootstrap, channel: result.channel };
        // Storing what the enroller synced is part of the attempt: if the RIB
        // refuses, the attempt failed, with backoff like any other failure.
        await this.#store(result, controller.signal);
        status.failures = 0;
        status.blockedUntil = 0;
        return result;
      } catch (err) {
        status.failures++;
        this.#failedSinceDiscovery.add(status.address);
        status.blockedUntil = now() + (Number.isNaN(nextDelayMs) ? this.#backoff(status.failures) : nextDelayMs);
        throw err;
      } finally {
        if (this.#attempt === attempt) this.#attempt = undefined;
      }
    };

    const promise = pRetry(attemptOnce, {
      retries: recovery ? Number.POSITIVE_INFINITY : this.config.maxRetries - 1,
      minTimeout: recovery ? 0 : this.config.initialBackoffMs,
      factor: recovery ? 1 : 2,
      maxTimeout: MAX_TIMER_MS,
      randomize: false,
      unref: true,
      signal: controller.signal,
      shouldRetry: ({ error }) => retryable(error),
      onFailedAttempt: async ({ error, retriesLeft }) => {
        const willRetry = retriesLeft > 0 && retryable(error) && !controller.signal.aborted;
        const retryInMs = !willRetry
          ? undefined
          : recovery
            ? Math.max(0, this.#nextTryAt() - now())
            : Math.min(MAX_TIMER_MS, this.config.initialBackoffMs * 2 ** (attempts - 1));
        if (kind === 'reenrolling' && !(error instanceof EnrollmentAbortedError)) {
          this.#metrics.reenrollFailure();
          this.#emit('reenroll:failure', {
            attempt: attempts,
            bootstrap: current,
            error: this.#failure(error, attempts, current, controller.signal),
            retryInMs,
          });
        }
      },
    })
      .then((result) => this.#complete(current, result, kind, { attempts, previousAddress, startedAt, signal: controller.signal }))
      .catch((err: unknown) => {
        const error = this.#failure(err, attempts, current, controller.signal);
        publish(diagnosticsChannels.enrollmentFailure, { ipcpName: this.#ipcpName, bootstrap: current, error });
        if (!(error instanceof EnrollmentAbortedError)) {
          log(
            this.#logger,
            'warn',
            { event: 'enrollment:failure', ipcpName: this.#ipcpName, bootstrap: current, code: error.code, error: error.message },
            `enrollment with ${current} failed: ${error.message}`,
          );
        }
        throw error;
      })
      .finally(() => {
        if (this.#run !== run) return; // detached when aborted: the state was settled then
        this.#run = undefined;
        if (this.#state.type === 'enrolling' || this.#state.type === 'reenrolling') {
          this.#setState({ type: 'idle' });
          // A failed manual run while monitoring: the monitor takes over.
          this.#handOver();
        } else if (this.#lostConnection && this.#state.type === 'enrolled' && this.#monitor?.running) {
          // Lost again between its completion and now (released at once, a refused
          // keepalive): recovery could not start while this run held the place.
          this.#startRecovery();
        }
      });
    const run: Run = { kind, target, recovery, promise, controller, waiters: 0 };
    this.#run = run;
    return run;
  }

  /** Writes what the enroller synced and the assigned address into the RIB, unless closed or aborted meanwhile. */
  async #store(result: AttemptResult, signal: AbortSignal): Promise<void> {
    const stillWanted = (): void => {
      if (this.#state.type === 'closed') throw new EnrollmentAbortedError('enrollment aborted: the manager was closed');
      if (signal.aborted) throw new EnrollmentAbortedError(undefined, { cause: signal.reason });
    };
    try {
      for (const object of result.objects) {
        stillWanted();
        await this.#rib.write(object);
      }
      stillWanted();
      await this.#rib.write({ name: RibNames.address, class: 'address', value: { int64val: BigInt(result.address) } });
    } catch (err) {
      throw err instanceof EnrollmentError
        ? err
        : new RibError(`cannot store the enrolled state: ${(err as Error).message}`, { cause: err });
    }
    stillWanted();
  }

  /** The attempt succeeded and the RIB holds it: confirm to the enroller and become enrolled. */
  #complete(
    bootstrap: string,
    result: AttemptResult,
    kind: RunKind,
    run: { attempts: number; previousAddress: number | undefined; startedAt: number; signal: AbortSignal },
  ): string {
    if (this.#state.type === 'closed') throw new EnrollmentAbortedError('enrollment aborted: the manager was closed');
    if (run.signal.aborted) throw new EnrollmentAbortedError(undefined, { cause: run.signal.reason });
    const synced = result.objects.find((o) => o.name === RibNames.difName)?.value.strval;
    const difName = result.difName ?? synced ?? bootstrap;
    this.#completing = undefined;
    if (result.channel !== undefined) this.#channels.set(bootstrap, result.channel);
    this.#send(bootstrap, replyTo(result.stop), result.channel);
    this.#learnAdvertised(result.alternates, bootstrap);
    const previous = this.#address;
    this.#bootstrap = bootstrap;
    this.#address = result.address;
    this.#difName = difName;
    this.#lastHeartbeat = now();
    this.#lostConnection = false;
    this.#failedSinceDiscovery.clear();
    this.#pendingKeepalives.clear();
    this.#setState({ type: 'enrolled', bootstrap, address: result.address, difName, since: Date.now() });
    this.#metrics.enrolled();
    if (previous !== undefined && previous !== result.address && this.#state.type === 'enrolled') {
      this.#emit('address:change', { previous, address: result.address, bootstrap });
    }
    this.#emit('enrolled', { address: result.address, difName, bootstrap });
    // Any enrollment that ends an outage is its recovery, however it was started.
    if (kind === 'reenrolling' || this.#outageAt !== undefined) {
      const recoveryMs = now() - (this.#outageAt ?? run.startedAt);
      if (this.#outageAt !== undefined) this.#metrics.recovered(recoveryMs);
      this.#outageAt = undefined;
      this.#metrics.reenrollSuccess();
      if (this.#state.type === 'enrolled') {
        this.#emit('reenroll:success', {
          attempts: run.attempts,
          bootstrap,
          address: result.address,
          previousAddress: run.previousAddress,
          recoveryMs,
        });
      }
    }
    // A listener may have closed the manager meanwhile: then no timer is armed.
    if (this.#state.type === 'enrolled') {
      this.#armKeepalive();
      if (this.#monitor?.running) this.#armDeadline();
    }
    return difName;
  }

  #failure(err: unknown, attempts: number, bootstrap: string, signal: AbortSignal): EnrollmentError {
    if (err instanceof AttemptTimeout) return new EnrollmentTimeoutError(attempts, bootstrap, { cause: err.cause });
    if (signal.aborted) {
      if (signal.reason instanceof ManagerClosedError) {
        return new EnrollmentAbortedError('enrollment aborted: the manager was closed', { cause: signal.reason });
      }
      return err instanceof EnrollmentAbortedError ? err : new EnrollmentAbortedError(undefined, { cause: signal.reason });
    }
    if (err instanceof EnrollmentError) return err;
    return new EnrollmentError('PROTOCOL_ERROR', `enrollment failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }

  /** Waits for `run` on behalf of one caller; the caller's signal only ends its own wait, unless it was the last one. */
  #join(run: Run, signal: AbortSignal | undefined): Promise<string> {
    if (signal?.aborted) return Promise.reject(new EnrollmentAbortedError(undefined, { cause: signal.reason }));
    run.waiters++;
    if (signal === undefined) return run.promise;
    return new Promise<string>((resolve, reject) => {
      const onAbort = (): void => {
        reject(new EnrollmentAbortedError(undefined, { cause: signal.reason }));
        run.waiters--;
        if (run.waiters === 0 && !run.recovery) this.#detach(run, signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      run.promise.then(
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

  /**
   * Aborts a run and lets go of it at once, so that a caller arriving now
   * starts a fresh run rather than joining one that is winding down.
   */
  #detach(run: Run, reason: unknown): void {
    run.controller.abort(reason);
    if (this.#run !== run) return;
    this.#run = undefined;
    this.#attempt = undefined;
    if (this.#state.type === 'enrolling' || this.#state.type === 'reenrolling') {
      this.#setState({ type: 'idle' });
      this.#handOver();
    }
  }

  /** Lets go of a run without settling the state (the caller starts another at once). */
  #detachQuietly(run: Run): void {
    run.controller.abort(new EnrollmentAbortedError('superseded by an explicit enrollment'));
    if (this.#run === run) {
      this.#run = undefined;
      this.#attempt = undefined;
    }
  }

  /**
   * The member is not enrolled and nothing is running: if the monitor runs,
   * it takes over, opening an outage first if none is open (so every
   * recovery pairs with one loss).
   */
  #handOver(): void {
    if (!this.#monitor?.running || this.#run !== undefined || this.#state.type !== 'idle') return;
    if (this.#outageAt === undefined && this.#bootstrap !== undefined) {
      this.#outageAt = now();
      this.#metrics.outage(now() - (this.#lastHeartbeat ?? now()));
      this.#emit('connection:lost', {
        bootstrap: this.#bootstrap,
        silentMs: now() - (this.#lastHeartbeat ?? now()),
        reason: 'reenroll-failed',
      });
    }
    this.#startRecovery();
  }

  // ---- bootstraps and backoff ---------------------------------------------

  /** `performance.now()` time of recovery's next try: the bootstrap unblocked soonest, or the next discovery. */
  #nextTryAt(): number {
    return this.#bootstraps.size === 0 ? this.#discoveryBlockedUntil : this.#pick().blockedUntil;
  }

  /**
   * Resolves the `srv:` entries before an attempt when none was ever
   * resolved, when none is known, or when every known bootstrap has failed
   * since the last lookup (or the last enrollment): one lookup per round
   * through them. Recovery waits for the discovery backoff when nothing is
   * known, so that a failing DNS is not asked in a loop.
   */
  async #discoverIfNeeded(signal: AbortSignal, recovery: boolean): Promise<void> {
    if (this.#srv.length === 0) return;
    const t = now();
    const known = [...this.#bootstraps.keys()];
    const due =
      known.length === 0 ||
      known.every((address) => this.#failedSinceDiscovery.has(address)) ||
      this.#srv.every((srv) => srv.addresses === undefined);
    if (!due) return;
    if (recovery && known.length === 0 && this.#discoveryBlockedUntil > t) await sleep(this.#discoveryBlockedUntil - t, signal);
    await this.#discover(signal);
  }

  /**
   * Resolves every `srv:` entry and learns the enrollers listed, in RFC 2782
   * order. An entry whose lookup fails keeps what it resolved to before.
   * Throws `DiscoveryError` only when no bootstrap is left to try.
   */
  async #discover(signal: AbortSignal): Promise<void> {
    const results = await Promise.allSettled(
      this.#srv.map((srv) =>
        resolveSrvBootstraps(srv.entry, { ...this.#discovery, random: this.#random, timeoutMs: this.config.timeoutMs, signal }),
      ),
    );
    if (signal.aborted) throw signal.reason;
    let failure: DiscoveryError | undefined;
    const failed: DiscoveryError[] = [];
    results.forEach((result, i) => {
      const srv = this.#srv[i];
      if (srv === undefined) return;
      if (result.status === 'fulfilled') {
        srv.addresses = result.value;
        const found = result.value.length === 0 ? 'the service is not available there' : result.value.join(', ');
        log(
          this.#logger,
          'debug',
          { event: 'discovery', ipcpName: this.#ipcpName, srv: srv.name, bootstraps: result.value },
          `${srv.name}: ${found}`,
        );
        return;
      }
      const error =
        result.reason instanceof DiscoveryError
          ? result.reason
          : new DiscoveryError(srv.name, (result.reason as Error)?.message ?? String(result.reason), { cause: result.reason });
      failure ??= error;
      failed.push(error);
    });
    this.#arrangeBootstraps();
    // A failed lookup is worth a warning when the member goes on without it; when it ends the
    // attempt, the attempt's failure says it (once), and the lookup's own line is detail.
    const level = this.#bootstraps.size > 0 ? 'warn' : 'debug';
    for (const error of failed) {
      log(this.#logger, level, { event: 'discovery', ipcpName: this.#ipcpName, srv: error.srvName, error: error.message }, error.message);
    }
    this.#failedSinceDiscovery.clear();
    if (this.#bootstraps.size > 0) {
      this.#discoveryFailures = 0;
      this.#discoveryBlockedUntil = 0;
      return;
    }
    this.#discoveryFailures++;
    this.#discoveryBlockedUntil = now() + this.#backoff(this.#discoveryFailures);
    throw failure ?? new DiscoveryError(this.#srv[0]?.name ?? '', 'the service is not available at this domain (SRV target ".")');
  }

  /**
   * Puts the known bootstraps in order of preference: `config.bootstraps`
   * with each `srv:` entry replaced by the enrollers it resolved to last, then
   * the others (explicit, advertised) in the order learnt. An enroller the
   * DNS no longer lists is forgotten, unless it is the one of the last
   * enrollment; every status kept keeps its failures and backoff.
   */
  #arrangeBootstraps(): void {
    const previous = new Map(this.#bootstraps);
    this.#bootstraps.clear();
    const keep = (address: string, source: BootstrapStatus['source']): void => {
      if (this.#bootstraps.has(address) || (source === 'dns' && address === this.#shim.localAddress)) return;
      this.#bootstraps.set(address, previous.get(address) ?? { address, failures: 0, blockedUntil: 0, source });
    };
    let next = 0;
    for (const entry of this.config.bootstraps) {
      if (!isSrvBootstrap(entry)) keep(entry, 'config');
      else for (const address of this.#srv[next++]?.addresses ?? []) keep(address, 'dns');
    }
    for (const [address, status] of previous) {
      if (status.source !== 'dns' || address === this.#bootstrap) keep(address, status.source);
    }
  }

  #learn(address: string, source: BootstrapStatus['source']): BootstrapStatus & { failures: number; blockedUntil: number } {
    let status = this.#bootstraps.get(address);
    if (status === undefined) {
      status = { address, failures: 0, blockedUntil: 0, source };
      this.#bootstraps.set(address, status);
    }
    return status;
  }

  /**
   * The enroller's list of the other live enrollers is the member's view of
   * them: advertised ones it no longer lists are dropped (dead, or gone from
   * the DIF), and new ones are learnt in a random order, so that the members
   * of an enroller that dies spread over the others instead of all moving to
   * the first one listed.
   */
  #learnAdvertised(alternates: readonly string[], bootstrap: string): void {
    // never ourselves: an enroller that lists us would have us enrol with ourselves
    const listed = alternates.filter((a) => a !== '' && a !== this.#shim.localAddress);
    const keep = new Set([...listed, bootstrap]);
    for (const [address, status] of this.#bootstraps) {
      if (status.source === 'advertised' && !keep.has(address)) this.#bootstraps.delete(address);
    }
    for (let i = listed.length - 1; i > 0; i--) {
      const j = Math.floor(this.#random() * (i + 1));
      [listed[i], listed[j]] = [listed[j] as string, listed[i] as string];
    }
    const fresh = listed.filter((a) => !this.#bootstraps.has(a));
    for (const address of listed) this.#learn(address, 'advertised');
    if (fresh.length > 0) {
      log(
        this.#logger,
        'debug',
        { event: 'bootstraps:advertised', ipcpName: this.#ipcpName, bootstrap, learned: fresh },
        `${bootstrap} advertised ${fresh.join(', ')}`,
      );
    }
  }

  /**
   * The bootstrap to try next: the one free to try for the longest time
   * (the earliest `blockedUntil`; one that never failed has 0), the last one
   * that worked first among equals, then the order learnt. When none is
   * free yet, that is the one unblocked soonest.
   *
   * First come, first served: a bootstrap tried and failed is blocked until
   * a time later than every bootstrap already free, so once a live enroller
   * is free to try, each other bootstrap is tried at most once before it.
   * That is what bounds recovery (see docs/RECOVERY.md); and a dead
   * bootstrap whose backoff ran out does not win over a live one that has
   * not failed.
   */
  #pick(): BootstrapStatus {
    const ordered = [...this.#bootstraps.values()];
    const last = this.#bootstrap === undefined ? undefined : this.#bootstraps.get(this.#bootstrap);
    if (last !== undefined) ordered.unshift(last);
    const first = ordered.reduce<BootstrapStatus | undefined>(
      (best, b) => (best === undefined || b.blockedUntil < best.blockedUntil ? b : best),
      undefined,
    );
    if (first === undefined) throw new NoBootstrapPeersError('no bootstrap is known: configure bootstraps or enrol with one');
    return first;
  }

  /**
   * Full jitter after the n-th consecutive failure (n >= 1):
   * `random(0, min(cap, base * 2^(n-1)))`, never below `retransmitMs`.
   */
  #backoff(n: number): number {
    const { reenrollBackoffBaseMs: base, reenrollBackoffCapMs: cap, retransmitMs } = this.config;
    const ceiling = Math.min(cap, base * 2 ** Math.min(n - 1, 52));
    return Math.max(retransmitMs, Math.floor(this.#random() * ceiling));
  }

  // ---- liveness -------------------------------------------------------------

  /** Sends `M_READ keepalive` every `heartbeatIntervalSecs` while enrolled. */
  #armKeepalive(): void {
    this.#ticker.cancel(this.#keepaliveEntry);
    this.#keepaliveEntry = undefined;
    const interval = this.config.heartbeatIntervalSecs * 1000;
    if (interval === 0) return;
    let due = now() + interval;
    const tick = (): void => {
      if (this.#state.type !== 'enrolled' || this.#bootstrap === undefined) {
        this.#keepaliveEntry = undefined;
        return;
      }
      const t = now();
      for (const [id, sentAt] of this.#pendingKeepalives) {
        if (t - sentAt > this.config.connectionTimeoutSecs * 1000) this.#pendingKeepalives.delete(id);
      }
      const invokeId = this.#ids.next();
      this.#pendingKeepalives.set(invokeId, t);
      this.#send(this.#bootstrap, keepaliveRequest(invokeId), this.#channels.get(this.#bootstrap));
      // Next one a whole interval after this one was due, so tick lateness does not add up.
      due = Math.max(due + interval, t);
      this.#keepaliveEntry = this.#ticker.schedule(due, tick);
    };
    this.#keepaliveEntry = this.#ticker.schedule(due, tick);
  }

  /** Checks for a loss exactly when the connection timeout would expire; re-arms itself lazily. */
  #armDeadline(): void {
    this.#ticker.cancel(this.#deadlineEntry);
    const timeoutMs = this.config.connectionTimeoutSecs * 1000;
    const check = (): void => {
      this.#deadlineEntry = undefined;
      if (this.#state.type !== 'enrolled' || !this.#monitor?.running) return;
      const last = this.#lastHeartbeat ?? 0;
      if (now() - last >= timeoutMs) this.#lost('timeout');
      else this.#deadlineEntry = this.#ticker.schedule(last + timeoutMs, check);
    };
    this.#deadlineEntry = this.#ticker.schedule((this.#lastHeartbeat ?? now()) + timeoutMs, check);
  }

  /** The connection is lost: one event, then recovery if the monitor runs. */
  #lost(reason: LossReason): void {
    if (this.#state.type !== 'enrolled' || this.#lostConnection || this.#bootstrap === undefined) return;
    const silentMs = now() - (this.#lastHeartbeat ?? now());
    this.#lostConnection = true;
    this.#outageAt = now();
    this.#metrics.outage(silentMs);
    this.#ticker.cancel(this.#deadlineEntry);
    this.#ticker.cancel(this.#keepaliveEntry);
    this.#deadlineEntry = undefined;
    this.#keepaliveEntry = undefined;
    const bootstrap = this.#bootstrap;
    // The bootstrap that went silent is left alone for a jittered while, so
    // that members losing it together do not all come back at once.
    const status = this.#learn(bootstrap, 'explicit');
    status.failures++;
    this.#failedSinceDiscovery.add(bootstrap);
    status.blockedUntil = now() + this.#backoff(status.failures);
    this.#emit('connection:lost', { bootstrap, silentMs, reason });
    if (this.#monitor?.running) this.#startRecovery();
    else if (this.#state.type === 'enrolled') this.#setState({ type: 'idle' });
  }

  // ---- messages ---------------------------------------------------------------

  #onPdu(received: Uint8Array, from: string): void {
    if (this.#state.type === 'closed') return;
    const attempt = this.#attempt;
    const expected = attempt !== undefined ? (this.#state as { bootstrap?: string }).bootstrap : this.#bootstrap;
    const opened =
      this.#auth.mechanism === 'hmac-sha256'
        ? this.#authenticate(received, from, attempt, expected)
        : { pdu: received, channel: undefined };
    if (opened === undefined) return;
    // Every answer goes back through the channel that opened the request: unsealed in, unsealed out.
    const { pdu, channel } = opened;
    if (from !== expected) {
      // A known enroller asking whether this IPCP is alive (a newcomer claims its name there) gets the truth.
      if (this.#bootstraps.has(from)) this.#answerProbe(pdu, from, channel);
      return;
    }
    let msg: CdapMessage;
    try {
      msg = decodeCdapMessage(pdu);
    } catch (err) {
      attempt?.noteProblem(err as Error);
      // With hmac-sha256, an unsealed PDU gets no answer: the answer would be sealed by nothing it proved.
      const answerable = this.#auth.mechanism !== 'hmac-sha256' || channel !== undefined;
      if (answerable && err instanceof ProtocolError && err.opCode !== undefined && !isReply(err.opCode as OpCode) && err.invokeId) {
        this.#send(from, replyTo({ opCode: err.opCode as OpCode, invokeId: err.invokeId }, Result.FAILED, err.message), channel);
      }
      return;
    }
    if (attempt !== undefined) {
      attempt.handle(msg);
      return;
    }
    if (this.#state.type !== 'enrolled') {
      // Between attempts, or storing what an attempt brought: still alive.
      if (isKeepaliveRequest(msg)) this.#send(from, replyTo(msg), channel);
      return;
    }
    if (msg.opCode === OpCode.M_READ_R && msg.objClass === KEEPALIVE_OBJECT.objClass) {
      this.#onKeepaliveReply(msg, from);
      return;
    }
    this.#heartbeat();
    void this.#serve(msg, from, channel);
  }

  /**
   * With `hmac-sha256`: the CDAP bytes of a PDU sealed by a channel this
   * member holds with `from` (the attempt's, or the enrollment's), or
   * undefined (dropped, and counted) for any other. Unsealed, only the
   * handshake's answers to the attempt in progress pass: M_CONNECT_R, which
   * carries the enroller's proof, and M_START_R "not connected", which only
   * makes the attempt connect again.
   */
  #authenticate(
    pdu: Uint8Array,
    from: string,
    attempt: EnrollmentAttempt | undefined,
    expected: string | undefined,
  ): { pdu: Uint8Array; channel: SecureChannel | undefined } | undefined {
    const split = splitTag(pdu);
    if (split === undefined) {
      if (attempt !== undefined && from === expected && isHandshakeAnswer(pdu)) return { pdu, channel: undefined };
      this.#metrics.dropped('unauthenticated');
      return undefined;
    }
    const channels: SecureChannel[] = [];
    if (attempt?.channel !== undefined && from === expected) channels.push(attempt.channel);
    if (this.#completing !== undefined && from === this.#completing.bootstrap) channels.push(this.#completing.channel);
    const enrolled = this.#channels.get(from);
    if (enrolled !== undefined) channels.push(enrolled);
    let failure: OpenFailure = 'unauthenticated';
    for (const channel of channels) {
      const opened = channel.openParts(split);
      if ('body' in opened) return { pdu: opened.body, channel };
      if (opened.failure === 'replayed') failure = 'replayed';
    }
    this.#metrics.dropped(failure);
    return undefined;
  }

  /** Answers a keepalive M_READ from a known enroller that is not the current one; anything else from it is ignored. */
  #answerProbe(pdu: Uint8Array, from: string, channel: SecureChannel | undefined): void {
    let msg: CdapMessage;
    try {
      msg = decodeCdapMessage(pdu);
    } catch {
      return;
    }
    if (isKeepaliveRequest(msg)) this.#send(from, replyTo(msg), channel);
  }

  #onKeepaliveReply(msg: CdapMessage, from: string): void {
    const sentAt = this.#pendingKeepalives.get(msg.invokeId ?? 0);
    if (sentAt === undefined) return; // not ours, or too old
    this.#pendingKeepalives.delete(msg.invokeId ?? 0);
    if ((msg.result ?? 0) !== 0) {
      // The enroller no longer knows us (it restarted, or let our lease expire).
      this.#lost('keepalive-refused');
      return;
    }
    if (!this.#heartbeat()) return;
    const t = now();
    const rttMs = t - sentAt;
    this.#metrics.rtt(rttMs);
    this.#emit('keepalive:rtt', { rttMs, bootstrap: from });
  }

  /** Answers what the bootstrap asks of an enrolled member: RIB updates, keepalives, a repeated M_STOP. */
  async #serve(msg: CdapMessage, from: string, channel: SecureChannel | undefined): Promise<void> {
    switch (msg.opCode) {
      case OpCode.M_STOP:
        // Our M_STOP_R was lost: the enroller asks again.
        this.#send(from, isEnrollmentObject(msg) ? replyTo(msg) : replyTo(msg, Result.FAILED, 'unknown object'), channel);
        return;
      case OpCode.M_READ:
        this.#send(from, msg.objClass === KEEPALIVE_OBJECT.objClass ? replyTo(msg) : replyTo(msg, Result.FAILED, 'not readable'), channel);
        return;
      case OpCode.M_CREATE:
      case OpCode.M_WRITE:
      case OpCode.M_DELETE: {
        const { objName, objClass, objValue } = msg;
        try {
          if (objName === undefined) throw new RibError('no object name');
          if (msg.opCode === OpCode.M_DELETE) await this.#rib.delete(objName);
          else if (objClass === undefined || objValue === undefined) throw new RibError('a RIB object needs a class and a value');
          else await this.#rib.write({ name: objName, class: objClass, value: objValue });
          this.#send(from, replyTo(msg), channel);
        } catch (err) {
          this.#send(from, replyTo(msg, Result.FAILED, (err as Error).message), channel);
        }
        return;
      }
      case OpCode.M_RELEASE:
        this.#send(from, replyTo(msg), channel);
        this.#lost('released');
        return;
      default:
        if (!isReply(msg.opCode)) this.#send(from, replyTo(msg, Result.FAILED, 'operation not supported by the member'), channel);
    }
  }

  /** Encodes, seals through `channel` if there is one, and sends; rejects with `ProtocolError` or the shim's `ShimError`. */
  async #sendNow(to: string, msg: CdapMessage, channel: SecureChannel | undefined): Promise<void> {
    const pdu = encodeCdapMessage(msg);
    await this.#shim.send(to, channel === undefined ? pdu : channel.seal(pdu));
  }

  /**
   * Sends a reply or a keepalive, sealed by `channel` (with `hmac-sha256`:
   * the one that opened the request, or the enrollment's for a keepalive);
   * one that cannot be sent is a lost datagram, which the peer survives.
   */
  #send(to: string, msg: CdapMessage, channel: SecureChannel | undefined): void {
    this.#sendNow(to, msg, channel).catch(() => undefined);
  }

  #setState(state: EnrollmentState): void {
    const previous = this.#state;
    if (previous.type === 'enrolled' && state.type !== 'enrolled') {
      this.#metrics.leftEnrolled();
      this.#ticker.cancel(this.#keepaliveEntry);
      this.#keepaliveEntry = undefined;
    }
    if (state.type === 'closed') {
      this.#ticker.cancel(this.#deadlineEntry);
      this.#deadlineEntry = undefined;
    }
    this.#state = state;
    this.#emit('state:change', state, previous);
  }

  /** Every event goes three ways: to listeners, to its diagnostics channel, and to the logger. */
  #emit<E extends keyof EnrollmentEvents>(event: E, ...args: EnrollmentEvents[E]): void {
    this.#diagnose(event, args);
    safeEmit(this as EventEmitter<EnrollmentEvents>, event, ...(args as never));
  }

  #diagnose<E extends keyof EnrollmentEvents>(event: E, args: EnrollmentEvents[E]): void {
    const ipcpName = this.#ipcpName;
    switch (event) {
      case 'state:change': {
        const state = args[0] as EnrollmentState;
        log(this.#logger, 'info', { event, ipcpName, ...state }, describeState(state));
        return;
      }
      case 'enrolled':
        publish(diagnosticsChannels.enrollmentSuccess, { ipcpName, ...(args[0] as object) });
        return;
      case 'connection:lost': {
        const i = args[0] as EnrollmentEvents['connection:lost'][0];
        publish(diagnosticsChannels.connectionLost, { ipcpName, ...i });
        const why =
          i.reason === 'released'
            ? `released by ${i.bootstrap}: it stopped serving this member (released)`
            : `lost ${i.bootstrap}: silent for ${i.silentMs.toFixed(0)} ms (${i.reason})`;
        log(this.#logger, 'warn', { event, ipcpName, ...i }, why);
        return;
      }
      case 'reenroll:attempt': {
        const i = args[0] as EnrollmentEvents['reenroll:attempt'][0];
        publish(diagnosticsChannels.reenroll, { ipcpName, outcome: 'attempt', ...i });
        log(this.#logger, 'debug', { event, ipcpName, ...i }, `re-enrollment attempt ${i.attempt} with ${i.bootstrap}`);
        return;
      }
      case 'reenroll:failure': {
        const i = args[0] as EnrollmentEvents['reenroll:failure'][0];
        publish(diagnosticsChannels.reenroll, { ipcpName, outcome: 'failure', ...i });
        const next = i.retryInMs === undefined ? '' : `; next in ${i.retryInMs.toFixed(0)} ms`;
        log(
          this.#logger,
          'warn',
          { event, ipcpName, ...i, error: i.error.message },
          `attempt ${i.attempt} with ${i.bootstrap} failed (${i.error.message})${next}`,
        );
        return;
      }
      case 'reenroll:success': {
        const i = args[0] as EnrollmentEvents['reenroll:success'][0];
        publish(diagnosticsChannels.reenroll, { ipcpName, outcome: 'success', ...i });
        log(
          this.#logger,
          'info',
          { event, ipcpName, ...i },
          `back with address ${i.address} via ${i.bootstrap} after ${i.recoveryMs.toFixed(0)} ms`,
        );
        return;
      }
      case 'address:change': {
        const i = args[0] as EnrollmentEvents['address:change'][0];
        publish(diagnosticsChannels.addressChange, { ipcpName, ...i });
        log(
          this.#logger,
          'warn',
          { event, ipcpName, ...i },
          `address changed from ${i.previous} to ${i.address} (assigned by ${i.bootstrap})`,
        );
        return;
      }
      case 'keepalive:rtt': {
        const i = args[0] as EnrollmentEvents['keepalive:rtt'][0];
        publish(diagnosticsChannels.keepalive, { ipcpName, ...i });
        log(this.#logger, 'debug', { event, ipcpName, ...i }, `keepalive answered in ${i.rttMs.toFixed(2)} ms`);
        return;
      }
    }
  }
}

/** A keepalive M_READ (an enroller's liveness probe). */
/** Whether an unsealed PDU is an answer of the handshake that `hmac-sha256` lets through (see `#authenticate`). */
function isHandshakeAnswer(pdu: Uint8Array): boolean {
  try {
    const msg = decodeCdapMessage(pdu);
    return msg.opCode === OpCode.M_CONNECT_R || (msg.opCode === OpCode.M_START_R && msg.result === Result.NOT_CONNECTED);
  } catch {
    return true; // malformed: the attempt notes the problem, as it does without authentication
  }
}

function isKeepaliveRequest(msg: CdapMessage): boolean {
  return msg.opCode === OpCode.M_READ && msg.objClass === KEEPALIVE_OBJECT.objClass && msg.invokeId !== undefined && msg.invokeId !== 0;
}

/** One line describing a state, for logs. */
function describeState(state: EnrollmentState): string {
  switch (state.type) {
    case 'enrolling':
      return `enrolling with ${state.bootstrap} (attempt ${state.attempt})`;
    case 'enrolled':
      return `enrolled in ${state.difName} as address ${state.address} via ${state.bootstrap}`;
    case 'reenrolling':
      return `re-enrolling with ${state.bootstrap} (attempt ${state.attempt}, asking for address ${state.previousAddress ?? 'any'})`;
    default:
      return state.type;
  }
}
