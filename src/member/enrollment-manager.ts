/**
 * The member side: enrols with a bootstrap, holds the assigned address, sends
 * keepalives, notices a lost bootstrap on time and recovers by itself, moving
 * across bootstraps with jittered backoff.
 *
 * The manager is a facade: its jobs are parts of their own (see the README's
 * "Inside"): the state ({@link MemberState}), the known bootstraps
 * ({@link BootstrapSet}), DNS discovery, enrollment runs ({@link Runs}),
 * liveness, the answers to the enroller, and the secure channels.
 *
 * @module
 */
import type { SecureChannel } from '../auth/channel.js';
import { decodeCdapMessage } from '../cdap/codec.js';
import { KEEPALIVE_OBJECT } from '../cdap/messages.js';
import { type CdapMessage, OpCode } from '../cdap/types.js';
import { type EnrollmentConfig, sharedConfig } from '../config.js';
import { ConfigError, ManagerClosedError, NoBootstrapPeersError, NotEnrolledError } from '../errors.js';
import { settleWithin } from '../util/clock.js';
import { parseWith } from '../util/schema.js';
import { NodeCompatibleEmitter } from '../util/node-emitter.js';
import { signalOf } from '../util/schema.js';
import { MemberContext } from './assembly.js';
import { answerKeepalive, answerMalformed, answerProbe, serve } from './responder.js';
import type { Opened } from './channels.js';
import type { BootstrapStatus, ConnectionMonitor, EnrollmentEvents, EnrollmentState, OperationOptions } from './events.js';
import type { ConnectionMetrics } from './metrics.js';
import { type EnrollmentManagerOptions, ipcpNameSchema, managerOptionsSchema } from './options.js';

/** How long close() waits for its M_RELEASE sends, at most. */
const CLOSE_SEND_MS = 1000;

/**
 * Enrols a member IPCP with a bootstrap and keeps it enrolled.
 *
 * Only one enrollment runs at a time: concurrent calls share it.
 */
export class EnrollmentManager extends NodeCompatibleEmitter<EnrollmentEvents> {
  /** The validated configuration, defaults applied. */
  readonly config: Readonly<EnrollmentConfig>;
  /** The parts, and what they share. */
  readonly #ctx: MemberContext;
  readonly #unsubscribe: () => void;
  /** The one close(), once called. */
  #closing: Promise<void> | undefined;

  /** Throws `ConfigError` for invalid options or configuration, naming each offending field. */
  constructor(options: EnrollmentManagerOptions) {
    super();
    const o = parseWith(managerOptionsSchema, options);
    this.config = sharedConfig(o.config);
    this.#ctx = new MemberContext(this, o, this.config);
    this.#unsubscribe = o.shim.onReceive(this.#onPdu.bind(this)); // a bound function: smaller than a closure and its context
  }

  /**
   * Sets the member's IPCP name (a non-empty, well-formed string), used from
   * the next enrollment on. Set while enrolled, it renames nothing: the
   * enroller keeps the address bound to the old name (held after the member
   * is gone), and the next enrollment, under the new name, gets another
   * address. Set it before enrolling, or `close()` first.
   */
  setIpcpName(name: string): void {
    if (this.#ctx.state.type === 'closed') throw new ManagerClosedError();
    this.#ctx.ipcpName = parseWith(ipcpNameSchema, name, 'ipcpName');
  }

  /** The member's IPCP name, if set. */
  get ipcpName(): string | undefined {
    return this.#ctx.ipcpName;
  }

  /** The DIF address from the last successful enrollment (kept while re-enrolling). */
  get address(): number | undefined {
    return this.#ctx.state.record?.address;
  }

  /** The DIF's name from the last successful enrollment. */
  get difName(): string | undefined {
    return this.#ctx.state.record?.difName;
  }

  /** The shim address of the bootstrap of the last successful enrollment: where `reEnroll()` goes first. */
  get bootstrapAddress(): string | undefined {
    return this.#ctx.state.record?.bootstrap;
  }

  /** Where the member stands now. */
  get state(): EnrollmentState {
    return this.#ctx.state.current;
  }

  /** The clock's time (`performance.now()` unless a `clock` is given) of the last heartbeat, if any. */
  get lastHeartbeat(): number | undefined {
    return this.#ctx.liveness.lastHeartbeat;
  }

  /** Every bootstrap known (configured, used, or advertised by an enroller), with its failure state. */
  bootstraps(): BootstrapStatus[] {
    return this.#ctx.bootstraps.list();
  }

  /** Connection-quality figures since the manager was made. */
  metrics(): ConnectionMetrics {
    return this.#ctx.metrics.snapshot();
  }

  /**
   * Enrols with the bootstrap at shim address `bootstrap`; resolves with the
   * DIF's name. Each attempt is bounded by `timeoutMs`; up to `maxRetries`
   * attempts, waiting `initialBackoffMs` and doubling. Rejects with
   * `EnrollmentTimeoutError`, `EnrollmentRejectedError` (final, not retried),
   * `EnrollmentAbortedError`, `IpcpNameNotSetError`, `RibError`, `ShimError`
   * (the shim cannot send to `bootstrap`) or `ConfigError` (an argument or
   * option that is not one: `options` takes `signal` only).
   *
   * Called while enrolled, it moves the member: the keepalives to the
   * current bootstrap stop while it runs. Should it fail, the member is
   * `idle`, its address and last bootstrap kept: `reEnroll()` goes back
   * there asking for that address, and a running monitor does so by itself.
   */
  enrolWithBootstrap(bootstrap: string, options?: OperationOptions): Promise<string> {
    if (typeof bootstrap !== 'string' || bootstrap === '') {
      return Promise.reject(new ConfigError([{ field: 'bootstrap', rule: 'must be a non-empty shim address' }]));
    }
    const signal = signalOf(options);
    return signal instanceof ConfigError ? Promise.reject(signal) : this.#ctx.runs.enrol('enrolling', bootstrap, signal);
  }

  /**
   * Enrols with the configured bootstraps (`config.bootstraps`, and any an
   * enroller advertised), moving to the next one when an attempt times out
   * or the shim cannot send to it (an entry not of its kind of address).
   * Rejects as {@link enrolWithBootstrap} does (a `ShimError` only when no
   * other bootstrap is left to try), and with `NoBootstrapPeersError` when
   * none is known.
   */
  enrol(options?: OperationOptions): Promise<string> {
    const signal = signalOf(options);
    return signal instanceof ConfigError ? Promise.reject(signal) : this.#ctx.runs.enrol('enrolling', undefined, signal);
  }

  /**
   * Enrols again, with the last bootstrap first, asking for the same address
   * back; resolves with the DIF's name. Concurrent calls share one
   * re-enrollment. Rejects with `NoBootstrapPeersError` when the member never
   * enrolled.
   */
  reEnroll(options?: OperationOptions): Promise<string> {
    const signal = signalOf(options);
    if (signal instanceof ConfigError) return Promise.reject(signal);
    if (this.#ctx.state.type !== 'closed' && !this.#ctx.runs.running && this.#ctx.state.record === undefined) {
      return Promise.reject(new NoBootstrapPeersError());
    }
    return this.#ctx.runs.enrol('reenrolling', undefined, signal);
  }

  /** Records that the bootstrap is alive now (every message from it does this by itself). */
  updateHeartbeat(): void {
    if (this.#ctx.state.type !== 'closed') this.#ctx.liveness.heartbeat();
  }

  /** True while enrolled and the last heartbeat is less than `connectionTimeoutSecs` old. */
  isConnectionHealthy(): boolean {
    return this.#ctx.liveness.isHealthy();
  }

  /**
   * Starts the monitor: `connection:lost` fires once `connectionTimeoutSecs`
   * pass without a heartbeat (never earlier, at most 10 ms later), then the
   * member re-enrolls by itself, one re-enrollment at a time, moving across
   * the known bootstraps with jittered backoff until it is back. Calling it
   * again returns the running monitor. With `heartbeatIntervalSecs` 0
   * monitoring is disabled and the returned monitor is not running. Throws
   * `NotEnrolledError` before a first enrollment.
   */
  startConnectionMonitoring(): ConnectionMonitor {
    if (this.#ctx.state.type === 'closed') throw new ManagerClosedError();
    const running = this.#ctx.liveness.monitor;
    if (running !== undefined) return running;
    if (this.config.heartbeatIntervalSecs !== 0 && this.#ctx.state.record === undefined) {
      throw new NotEnrolledError('enrol with a bootstrap before monitoring the connection');
    }
    const monitor = this.#ctx.liveness.startMonitor();
    if (!monitor.running) return monitor;
    if (this.#ctx.state.type === 'enrolled') this.#ctx.liveness.armDeadline();
    else this.#ctx.runs.startRecovery();
    return monitor;
  }

  /**
   * Leaves: stops the monitor, keepalives and any enrollment in progress (its
   * callers get `EnrollmentAbortedError`), sends M_RELEASE to the bootstrap
   * when enrolled, and stops listening on the shim (which stays open: it is
   * the caller's). Resolves once the M_RELEASE is sent, or after a second if
   * the shim's send does not settle by then.
   */
  close(): Promise<void> {
    // Every caller waits for the one close: a second caller that closes the shim after it must not cut the M_RELEASE.
    // (Set before the close runs: a listener of the change to closed that calls close() again joins it.)
    if (this.#closing === undefined) {
      let adopt: (closing: Promise<void>) => void = () => undefined;
      this.#closing = new Promise<void>((resolve) => (adopt = resolve));
      adopt(this.#close());
    }
    return this.#closing;
  }

  async #close(): Promise<void> {
    const attempt = this.#ctx.runs.attempt;
    const attemptAt = this.#ctx.state.shownBootstrap;
    this.#ctx.state.set({ type: 'closed' });
    this.#ctx.liveness.monitor?.stop();
    this.#ctx.runs.close();
    this.#unsubscribe();
    // Also after a loss or during a re-enrollment: the bootstrap may still list us.
    // Also to the enroller of an attempt in progress, through its channel: it may have bound an address for it.
    const release = (to: string, channel: SecureChannel | undefined) =>
      this.#ctx.sendNow(to, { opCode: OpCode.M_RELEASE, invokeId: this.#ctx.ids.next() }, channel).catch(() => undefined);
    const bootstrap = this.#ctx.state.record?.bootstrap;
    const sends: Array<Promise<unknown>> = [];
    if (bootstrap !== undefined) sends.push(release(bootstrap, this.#ctx.channels.get(bootstrap)));
    if (attempt?.channel !== undefined && attemptAt !== undefined) sends.push(release(attemptAt, attempt.channel));
    // A shim whose send never settles delays close() by at most CLOSE_SEND_MS.
    await settleWithin(sends, CLOSE_SEND_MS, this.#ctx.clock);
  }

  /** `await using mgr = new EnrollmentManager(...)`: {@link close} at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Every PDU from the shim: authenticated, then to the attempt in flight, or answered. */
  #onPdu(received: Uint8Array, from: string): void {
    if (this.#ctx.state.type === 'closed') return;
    const attempt = this.#ctx.runs.attempt;
    const expected = attempt !== undefined ? this.#ctx.state.shownBootstrap : this.#ctx.state.record?.bootstrap;
    const opened = this.#open(received, from, attempt !== undefined && from === expected, attempt?.channel);
    if (opened === undefined) return;
    // Every answer goes back through the channel that opened the request: unsealed in, unsealed out.
    const { pdu, channel } = opened;
    if (from !== expected) {
      // A known enroller asking whether this IPCP is alive (a newcomer claims its name there) gets the truth.
      if (this.#ctx.bootstraps.has(from)) answerProbe(this.#ctx, pdu, from, channel);
      return;
    }
    let msg: CdapMessage;
    try {
      msg = decodeCdapMessage(pdu);
    } catch (err) {
      attempt?.noteProblem(err as Error);
      // With hmac-sha256, an unsealed PDU gets no answer: the answer would be sealed by nothing it proved.
      if (this.#ctx.auth.mechanism !== 'hmac-sha256' || channel !== undefined) answerMalformed(this.#ctx, err, from, channel);
      return;
    }
    if (attempt !== undefined) attempt.handle(msg);
    else if (this.#ctx.state.type !== 'enrolled') {
      // Between attempts, or storing what an attempt brought: still alive.
      answerKeepalive(this.#ctx, msg, from, channel);
    } else if (msg.opCode === OpCode.M_READ_R && msg.objClass === KEEPALIVE_OBJECT.objClass) {
      this.#ctx.liveness.onKeepaliveReply(msg, from);
    } else {
      this.#ctx.liveness.heartbeat();
      void serve(this.#ctx, msg, from, channel);
    }
  }

  /** With `hmac-sha256`, the PDU opened by one of the member's channels, or undefined (dropped and counted); else as it came. */
  #open(pdu: Uint8Array, from: string, attempting: boolean, attemptChannel: SecureChannel | undefined): Opened | undefined {
    if (this.#ctx.auth.mechanism !== 'hmac-sha256') return { pdu, channel: undefined };
    const opened = this.#ctx.channels.open(pdu, from, attempting, attemptChannel);
    if (typeof opened === 'object') return opened;
    this.#ctx.metrics.dropped(opened);
    return undefined;
  }
}
