/**
 * The member side: enrols with a bootstrap, holds the assigned address, tracks
 * heartbeats, monitors the connection and re-enrolls when it is lost.
 *
 * @module
 */
import { EventEmitter } from 'eventemitter3';
import pRetry from 'p-retry';
import { decodeCdapMessage, encodeCdapMessage } from '../cdap/codec.js';
import { InvokeIds, isEnrollmentObject, KEEPALIVE_OBJECT, Result, replyTo } from '../cdap/messages.js';
import { type CdapMessage, isReply, OpCode } from '../cdap/types.js';
import { type EnrollmentConfig, type EnrollmentConfigInput, resolveConfig } from '../config.js';
import {
  ConfigError,
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
import { type AttemptResult, AttemptTimeout, EnrollmentAttempt } from './attempt.js';

/** Dependencies and settings of an {@link EnrollmentManager}. */
export interface EnrollmentManagerOptions {
  /** The N-1 transport to the bootstrap. The caller keeps ownership: `close()` does not close it. */
  readonly shim: Shim;
  /** The member's RIB: enrollment writes the synced objects and `/mgmt/address` into it. */
  readonly rib: Rib;
  /** The member's IPCP name; or call {@link EnrollmentManager.setIpcpName} later. */
  readonly ipcpName?: string;
  /** Any subset of the configuration; the rest takes its defaults. Invalid values throw `ConfigError`. */
  readonly config?: EnrollmentConfigInput;
  /**
   * The DIFs the member can be reached through, sent in M_START.
   * @default []
   */
  readonly lowerDifs?: readonly string[];
}

/** Where the member stands; one discriminated union, read as `mgr.state`. */
export type EnrollmentState =
  | { readonly type: 'idle' }
  | { readonly type: 'enrolling'; readonly bootstrap: string; readonly attempt: number }
  | {
      readonly type: 'enrolled';
      readonly bootstrap: string;
      readonly address: number;
      readonly difName: string;
      /** `Date.now()` when the enrollment completed. */
      readonly since: number;
    }
  | { readonly type: 'reenrolling'; readonly bootstrap: string; readonly attempt: number; readonly previousAddress: number | undefined }
  | { readonly type: 'closed' };

/** Events of an {@link EnrollmentManager}. */
export interface EnrollmentEvents {
  /** Every change of {@link EnrollmentManager.state}. */
  'state:change': [state: EnrollmentState, previous: EnrollmentState];
  /** An enrollment or re-enrollment completed. */
  enrolled: [info: { address: number; difName: string; bootstrap: string }];
  /** The monitor found no heartbeat for `connectionTimeoutSecs`. */
  'connection:lost': [info: { bootstrap: string; silentMs: number }];
  /** A re-enrollment started by the monitor failed (it tries again at the next check). */
  'reenroll:failure': [error: EnrollmentError];
}

/** Options of the async operations. */
export interface OperationOptions {
  /** Aborts the wait; the enrollment itself stops when no caller waits for it any more. */
  readonly signal?: AbortSignal;
}

/** The handle of a running monitor. */
export interface ConnectionMonitor {
  /** Stops the monitor's timer. Idempotent. */
  stop(): void;
  /** False once stopped (or when monitoring is disabled). */
  readonly running: boolean;
}

/** One enrollment run (attempts and backoffs), shared by every caller that waits for it. */
interface Run {
  readonly bootstrap: string;
  readonly promise: Promise<string>;
  readonly controller: AbortController;
  waiters: number;
}

const now = (): number => performance.now();

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
  readonly #ids = new InvokeIds(1);
  #ipcpName: string | undefined;
  #state: EnrollmentState = { type: 'idle' };
  #bootstrap: string | undefined;
  #address: number | undefined;
  #difName: string | undefined;
  #lastHeartbeat: number | undefined;
  #run: Run | undefined;
  #attempt: EnrollmentAttempt | undefined;
  #monitor: (ConnectionMonitor & { timer: ReturnType<typeof setInterval> }) | undefined;
  readonly #unsubscribe: () => void;

  /** Throws `ConfigError` for an invalid configuration. */
  constructor(options: EnrollmentManagerOptions) {
    super();
    if (options === null || typeof options !== 'object') {
      throw new ConfigError([{ field: 'options', rule: 'must be an object with shim and rib' }]);
    }
    const { shim, rib } = options;
    if (shim === null || typeof shim !== 'object' || typeof shim.send !== 'function' || typeof shim.onReceive !== 'function') {
      throw new ConfigError([{ field: 'shim', rule: 'must implement Shim (send, onReceive, close)' }]);
    }
    if (rib === null || typeof rib !== 'object' || typeof rib.write !== 'function' || typeof rib.list !== 'function') {
      throw new ConfigError([{ field: 'rib', rule: 'must implement Rib (read, write, delete, list)' }]);
    }
    this.config = Object.freeze(resolveConfig(options.config));
    this.#shim = shim;
    this.#rib = rib;
    this.#lowerDifs = [...(options.lowerDifs ?? [])];
    if (options.ipcpName !== undefined) this.setIpcpName(options.ipcpName);
    this.#unsubscribe = shim.onReceive((pdu, from) => this.#onPdu(pdu, from));
  }

  /** Sets the member's IPCP name (must be a non-empty string). */
  setIpcpName(name: string): void {
    if (typeof name !== 'string' || name === '') {
      throw new ConfigError([{ field: 'ipcpName', rule: 'must be a non-empty string' }]);
    }
    this.#ipcpName = name;
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

  /** The shim address of the bootstrap of the last successful enrollment: where `reEnroll()` goes. */
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

  /**
   * Enrols with the bootstrap at shim address `bootstrap`; resolves with the
   * DIF's name. Each attempt is bounded by `timeoutMs`; up to `maxRetries`
   * attempts with backoff. Rejects with `EnrollmentTimeoutError`,
   * `EnrollmentRejectedError` (final, not retried), `EnrollmentAbortedError`,
   * `IpcpNameNotSetError` or `RibError`.
   */
  enrolWithBootstrap(bootstrap: string, options: OperationOptions = {}): Promise<string> {
    if (this.#state.type === 'closed') return Promise.reject(new ManagerClosedError());
    if (typeof bootstrap !== 'string' || bootstrap === '') {
      return Promise.reject(new ConfigError([{ field: 'bootstrap', rule: 'must be a non-empty shim address' }]));
    }
    if (this.#ipcpName === undefined) return Promise.reject(new IpcpNameNotSetError());
    const run = this.#run;
    if (run !== undefined) {
      if (run.bootstrap !== bootstrap) {
        return Promise.reject(
          new EnrollmentInProgressError(`an enrollment with "${run.bootstrap}" is in progress; cannot start one with "${bootstrap}"`),
        );
      }
      return this.#join(run, options.signal);
    }
    return this.#join(this.#startRun(bootstrap, 'enrolling', true), options.signal);
  }

  /**
   * Enrols again with the last bootstrap, asking for the same address back;
   * resolves with the DIF's name. Concurrent calls share one re-enrollment.
   * Rejects with `NoBootstrapPeersError` when the member never enrolled.
   */
  reEnroll(options: OperationOptions = {}): Promise<string> {
    return this.#reEnroll(options.signal, true);
  }

  #reEnroll(signal: AbortSignal | undefined, keepAlive: boolean): Promise<string> {
    if (this.#state.type === 'closed') return Promise.reject(new ManagerClosedError());
    if (this.#run !== undefined) return this.#join(this.#run, signal);
    if (this.#bootstrap === undefined) return Promise.reject(new NoBootstrapPeersError());
    return this.#join(this.#startRun(this.#bootstrap, 'reenrolling', keepAlive), signal);
  }

  /** Records that the bootstrap is alive now (every message from it does this by itself). */
  updateHeartbeat(): void {
    if (this.#state.type !== 'closed') this.#lastHeartbeat = now();
  }

  /** True while enrolled and the last heartbeat is less than `connectionTimeoutSecs` old. */
  isConnectionHealthy(): boolean {
    return (
      this.#state.type === 'enrolled' &&
      this.#lastHeartbeat !== undefined &&
      now() - this.#lastHeartbeat < this.config.connectionTimeoutSecs * 1000
    );
  }

  /**
   * Starts the monitor: every `heartbeatIntervalSecs / 2` it checks the
   * connection and re-enrolls (one re-enrollment at a time) when it is not
   * healthy. Calling it again returns the running monitor. With
   * `heartbeatIntervalSecs` 0 monitoring is disabled and the returned monitor
   * is not running. Throws `NotEnrolledError` before a first enrollment.
   */
  startConnectionMonitoring(): ConnectionMonitor {
    if (this.#state.type === 'closed') throw new ManagerClosedError();
    if (this.#monitor?.running) return this.#monitor;
    if (this.config.heartbeatIntervalSecs === 0) return { stop: () => undefined, running: false };
    if (this.#bootstrap === undefined) throw new NotEnrolledError('enrol with a bootstrap before monitoring the connection');
    const timer = setInterval(() => this.#check(), (this.config.heartbeatIntervalSecs * 1000) / 2);
    timer.unref?.();
    const monitor = {
      timer,
      running: true,
      stop: () => {
        clearInterval(timer);
        monitor.running = false;
        if (this.#monitor === monitor) this.#monitor = undefined;
      },
    };
    this.#monitor = monitor;
    return monitor;
  }

  /**
   * Leaves: stops the monitor and any enrollment in progress (its callers get
   * `EnrollmentAbortedError`), sends M_RELEASE to the bootstrap when enrolled,
   * and stops listening on the shim (which stays open: it is the caller's).
   */
  async close(): Promise<void> {
    if (this.#state.type === 'closed') return;
    const wasEnrolled = this.#state.type === 'enrolled';
    this.#monitor?.stop();
    this.#run?.controller.abort(new ManagerClosedError());
    this.#setState({ type: 'closed' });
    if (wasEnrolled && this.#bootstrap !== undefined) {
      await this.#shim.send(this.#bootstrap, encodeCdapMessage({ opCode: OpCode.M_RELEASE, invokeId: this.#ids.next() })).catch(() => undefined);
    }
    this.#unsubscribe();
  }

  #check(): void {
    if (this.#run !== undefined || this.#state.type === 'closed' || this.isConnectionHealthy()) return;
    if (this.#state.type === 'enrolled' && this.#bootstrap !== undefined) {
      this.emit('connection:lost', { bootstrap: this.#bootstrap, silentMs: now() - (this.#lastHeartbeat ?? 0) });
    }
    // In the background: its timers must not keep the process alive.
    this.#reEnroll(undefined, false).catch((err: unknown) => {
      if (err instanceof EnrollmentError && !(err instanceof ManagerClosedError) && this.#state.type !== 'closed') {
        this.emit('reenroll:failure', err);
      }
    });
  }

  /** Starts attempts with backoff; `keepAlive` says whether its timers hold the process open (a caller awaits it). */
  #startRun(bootstrap: string, kind: 'enrolling' | 'reenrolling', keepAlive: boolean): Run {
    const controller = new AbortController();
    const previousAddress = this.#address;
    let attempts = 0;
    const attemptOnce = async (): Promise<AttemptResult> => {
      attempts++;
      this.#setState(
        kind === 'enrolling' ? { type: 'enrolling', bootstrap, attempt: attempts } : { type: 'reenrolling', bootstrap, attempt: attempts, previousAddress },
      );
      const attempt = new EnrollmentAttempt({
        ipcpName: this.#ipcpName ?? '',
        bootstrap,
        requestedAddress: this.#address ?? 0,
        lowerDifs: this.#lowerDifs,
        config: this.config,
        ids: this.#ids,
        keepAlive,
        send: (msg) => this.#send(bootstrap, msg),
      });
      this.#attempt = attempt;
      try {
        return await attempt.run(controller.signal);
      } finally {
        if (this.#attempt === attempt) this.#attempt = undefined;
      }
    };
    const promise = pRetry(attemptOnce, {
      retries: this.config.maxRetries - 1,
      minTimeout: this.config.initialBackoffMs,
      factor: 2,
      randomize: false,
      unref: !keepAlive,
      signal: controller.signal,
      shouldRetry: ({ error }) => error instanceof AttemptTimeout,
    })
      .then((result) => this.#complete(bootstrap, result))
      .catch((err: unknown) => {
        throw this.#failure(err, attempts, bootstrap, controller.signal);
      })
      .finally(() => {
        if (this.#run === run) this.#run = undefined;
        if (this.#state.type === 'enrolling' || this.#state.type === 'reenrolling') this.#setState({ type: 'idle' });
      });
    const run: Run = { bootstrap, promise, controller, waiters: 0 };
    this.#run = run;
    return run;
  }

  async #complete(bootstrap: string, result: AttemptResult): Promise<string> {
    try {
      for (const object of result.objects) await this.#rib.write(object);
      await this.#rib.write({ name: RibNames.address, class: 'address', value: { int64val: BigInt(result.address) } });
    } catch (err) {
      throw err instanceof EnrollmentError ? err : new RibError(`cannot store the enrolled state: ${(err as Error).message}`, { cause: err });
    }
    const synced = result.objects.find((o) => o.name === RibNames.difName)?.value.strval;
    const difName = result.difName ?? synced ?? bootstrap;
    this.#send(bootstrap, replyTo(result.stop));
    if (this.#state.type === 'closed') throw new EnrollmentAbortedError('the manager was closed during enrollment');
    this.#bootstrap = bootstrap;
    this.#address = result.address;
    this.#difName = difName;
    this.#lastHeartbeat = now();
    this.#setState({ type: 'enrolled', bootstrap, address: result.address, difName, since: Date.now() });
    this.emit('enrolled', { address: result.address, difName, bootstrap });
    return difName;
  }

  #failure(err: unknown, attempts: number, bootstrap: string, signal: AbortSignal): EnrollmentError {
    if (err instanceof AttemptTimeout) return new EnrollmentTimeoutError(attempts, bootstrap, { cause: err.cause });
    if (signal.aborted) {
      return signal.reason instanceof ManagerClosedError
        ? new EnrollmentAbortedError('enrollment aborted: the manager was closed', { cause: signal.reason })
        : err instanceof EnrollmentAbortedError
          ? err
          : new EnrollmentAbortedError(undefined, { cause: signal.reason });
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
        if (run.waiters === 0) run.controller.abort(signal.reason);
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

  #onPdu(pdu: Uint8Array, from: string): void {
    const expected = this.#attempt !== undefined ? this.#run?.bootstrap : this.#bootstrap;
    if (from !== expected || this.#state.type === 'closed') return;
    let msg: CdapMessage;
    try {
      msg = decodeCdapMessage(pdu);
    } catch (err) {
      this.#attempt?.noteProblem(err as Error);
      if (err instanceof ProtocolError && err.opCode !== undefined && !isReply(err.opCode as OpCode) && err.invokeId) {
        this.#send(from, replyTo({ opCode: err.opCode as OpCode, invokeId: err.invokeId }, Result.FAILED, err.message));
      }
      return;
    }
    if (this.#attempt !== undefined) {
      this.#attempt.handle(msg);
      return;
    }
    if (this.#state.type !== 'enrolled') return;
    this.#lastHeartbeat = now();
    void this.#serve(msg, from);
  }

  /** Answers what the bootstrap asks of an enrolled member: RIB updates, keepalives, a repeated M_STOP. */
  async #serve(msg: CdapMessage, from: string): Promise<void> {
    switch (msg.opCode) {
      case OpCode.M_STOP:
        // Our M_STOP_R was lost: the enroller asks again.
        this.#send(from, isEnrollmentObject(msg) ? replyTo(msg) : replyTo(msg, Result.FAILED, 'unknown object'));
        return;
      case OpCode.M_READ:
        this.#send(from, msg.objClass === KEEPALIVE_OBJECT.objClass ? replyTo(msg) : replyTo(msg, Result.FAILED, 'not readable'));
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
          this.#send(from, replyTo(msg));
        } catch (err) {
          this.#send(from, replyTo(msg, Result.FAILED, (err as Error).message));
        }
        return;
      }
      case OpCode.M_RELEASE:
        this.#send(from, replyTo(msg));
        this.#setState({ type: 'idle' });
        return;
      default:
        if (!isReply(msg.opCode)) this.#send(from, replyTo(msg, Result.FAILED, 'operation not supported by the member'));
    }
  }

  #send(to: string, msg: CdapMessage): void {
    let pdu: Uint8Array;
    try {
      pdu = encodeCdapMessage(msg);
    } catch {
      return;
    }
    this.#shim.send(to, pdu).catch((err: unknown) => this.#attempt?.noteProblem(err as Error));
  }

  #setState(state: EnrollmentState): void {
    const previous = this.#state;
    this.#state = state;
    this.emit('state:change', state, previous);
  }
}
