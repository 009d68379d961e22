/**
 * How a manager's parts are built and wired: one context object that every
 * part shares (like js-libp2p's components). Each part declares, in its own
 * `...Init` interface, the few members of the context it uses; the context
 * satisfies them all. One object per manager, and no closure per part: ten
 * thousand idle managers stay small.
 *
 * @module
 */
import type { EventEmitter } from 'eventemitter3';
import type { AuthOptions } from '../auth/auth.js';
import type { SecureChannel } from '../auth/channel.js';
import { encodeCdapMessage } from '../cdap/codec.js';
import { encodeKeepaliveRequest, InvokeIds } from '../cdap/messages.js';
import type { CdapMessage } from '../cdap/types.js';
import type { EnrollmentConfig } from '../config.js';
import { EnrollmentAbortedError, EnrollmentError, ShimError } from '../errors.js';
import type { Rib } from '../rib/rib.js';
import type { Shim } from '../shim/shim.js';
import { tryParseUdpAddress } from '../shim/udp-address.js';
import { exponentialDelay, fullJitterDelay } from '../util/backoff.js';
import { type Clock, clockFrom } from '../util/clock.js';
import { Telemetry } from '../util/telemetry.js';
import { type Ticker, tickerFor } from '../util/ticker.js';
import { BootstrapSet } from './bootstrap-set.js';
import { MemberChannels, NO_CHANNELS } from './channels.js';
import { Discovery, type DiscoveryPart, NO_DISCOVERY } from './discovery.js';
import type { EnrollmentEvents, EnrollmentState } from './events.js';
import { Liveness } from './liveness.js';
import { MetricsRecorder } from './metrics.js';
import type { ManagerOptions } from './options.js';
import { describeMemberEvent, MEMBER_CHANNELS } from './report.js';
import { Runs } from './runs.js';
import { isSrvBootstrap, type SrvDiscoveryOptions } from './srv.js';
import { MemberState } from './state.js';

/**
 * Everything a manager's parts share: settings, time, the parts themselves,
 * and the few actions that cross parts. It is also the manager's
 * {@link Telemetry}: its events' one way out.
 */
export class MemberContext extends Telemetry<EnrollmentEvents> {
  readonly config: Readonly<EnrollmentConfig>;
  readonly shim: Shim;
  readonly rib: Rib;
  readonly auth: AuthOptions;
  /** The DIF named in M_CONNECT, if any. */
  readonly difName: string | undefined;
  readonly lowerDifs: readonly string[];
  readonly localAddress: string;
  /** The `discovery` option as given: read only by a member with `srv:` entries. */
  readonly #discovery: SrvDiscoveryOptions | undefined;
  readonly clock: Clock;
  readonly ticker: Ticker;
  readonly random: () => number;
  readonly ids = new InvokeIds(1);
  /** The member's IPCP name, if set. */
  ipcpName: string | undefined;
  readonly metrics: MetricsRecorder;
  readonly state: MemberState;
  readonly bootstraps: BootstrapSet;
  readonly channels: MemberChannels;
  readonly liveness: Liveness;
  readonly discovery: DiscoveryPart;
  readonly runs: Runs;

  constructor(emitter: EventEmitter<EnrollmentEvents>, o: ManagerOptions, config: Readonly<EnrollmentConfig>) {
    super(emitter, o.logger, describeMemberEvent, MEMBER_CHANNELS);
    this.config = config;
    this.shim = o.shim;
    this.rib = o.rib;
    this.auth = o.auth;
    // Only `hmac-sha256` has channels; the other members share one that keeps none.
    this.channels = o.auth.mechanism === 'hmac-sha256' ? new MemberChannels() : NO_CHANNELS;
    this.difName = o.difName;
    this.lowerDifs = o.lowerDifs;
    this.localAddress = o.shim.localAddress;
    this.#discovery = o.discovery;
    this.clock = clockFrom(o.clock);
    this.ticker = tickerFor(this.clock);
    this.random = o.random ?? Math.random;
    this.ipcpName = o.ipcpName;
    this.metrics = new MetricsRecorder(this.clock);
    this.state = new MemberState(this);
    this.bootstraps = new BootstrapSet(this);
    const configured = config.bootstraps.filter((entry) => !isSrvBootstrap(entry));
    this.bootstraps.arrange(
      configured.map((address) => ({ address, source: 'config' as const })),
      undefined,
    );
    this.liveness = new Liveness(this);
    // Most members have no `srv:` entry: they share one discovery that never looks anything up.
    this.discovery = config.bootstraps.some(isSrvBootstrap) ? new Discovery(this) : NO_DISCOVERY;
    this.runs = new Runs(this);
  }

  /** How `srv:` entries are resolved: the `discovery` option, its family by default the shim address's. */
  get discoveryOptions(): SrvDiscoveryOptions {
    const family = this.#discovery?.family ?? tryParseUdpAddress(this.localAddress)?.family;
    return { ...this.#discovery, family };
  }

  /** The context is its own telemetry (parts ask for `telemetry`). */
  get telemetry(): Telemetry<EnrollmentEvents> {
    return this;
  }

  /** The clock's time. */
  now(): number {
    return this.clock.now();
  }

  /** The backoff after the n-th consecutive failure of a bootstrap: full jitter. */
  backoff(failures: number): number {
    const { reenrollBackoffBaseMs: baseMs, reenrollBackoffCapMs: capMs, retransmitMs: floorMs } = this.config;
    return fullJitterDelay(failures, { baseMs, capMs, floorMs }, this.random);
  }

  /**
   * The wait after the n-th "busy" answer within one attempt: what the
   * enroller asked for (`askedMs`, see {@link askedWait}); when it named
   * none, full jitter from `initialBackoffMs` up to `reenrollBackoffCapMs`,
   * never below `retransmitMs` (members that all started at once spread out).
   */
  busyBackoff(busyAnswers: number, askedMs?: number): number {
    const { initialBackoffMs: baseMs, reenrollBackoffCapMs: capMs, retransmitMs: floorMs } = this.config;
    if (askedMs !== undefined) return this.askedWait(false, busyAnswers, busyAnswers, askedMs);
    return fullJitterDelay(busyAnswers, { baseMs, capMs, floorMs }, this.random);
  }

  /**
   * The wait a "busy" enroller asked for (`askedMs`, its slot for this
   * member), within this member's own bounds: no longer than its own backoff
   * could wait after `failures` failures (`initialBackoffMs`, in `recovery`
   * `reenrollBackoffBaseMs`, doubling up to `reenrollBackoffCapMs`; at least
   * `retransmitMs`), so that refusals that pushed an enroller's slots far out
   * (a flood of M_CONNECTs) cost no more than the backoff did; no shorter
   * than 1 ms doubling with each of `busyInARow` "busy" answers in a row, so
   * that a hint of 0 cannot make it ask again and again at once.
   */
  askedWait(recovery: boolean, failures: number, busyInARow: number, askedMs: number): number {
    const { initialBackoffMs, reenrollBackoffBaseMs, reenrollBackoffCapMs: capMs, retransmitMs } = this.config;
    const base = recovery ? reenrollBackoffBaseMs : initialBackoffMs;
    const most = Math.max(retransmitMs, exponentialDelay(failures, base, capMs));
    const least = Math.min(most, exponentialDelay(busyInARow, 1, capMs));
    return Math.min(most, Math.max(least, askedMs));
  }

  /**
   * Encodes, seals through `channel` if there is one, and sends; rejects with
   * `ProtocolError`, or `ShimError` when the shim refuses (a user's shim that
   * throws anything else: a `ShimError` with it as the cause).
   */
  async sendNow(to: string, msg: CdapMessage, channel: SecureChannel | undefined): Promise<void> {
    const pdu = encodeCdapMessage(msg);
    try {
      await this.shim.send(to, channel === undefined ? pdu : channel.seal(pdu));
    } catch (err) {
      if (err instanceof EnrollmentError) throw err;
      throw new ShimError(`the shim could not send to ${to}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
    }
  }

  /** Sends a reply; one that cannot be encoded or sent is a lost datagram, which the peer survives. */
  send(to: string, msg: CdapMessage, channel: SecureChannel | undefined): void {
    let pdu: Uint8Array;
    try {
      pdu = encodeCdapMessage(msg);
    } catch {
      return;
    }
    this.#sendBytes(to, pdu, channel);
  }

  /** Sends keepalive `invokeId` through the channel of the enrollment with `to` (its bytes made once: {@link encodeKeepaliveRequest}). */
  sendKeepalive(to: string, invokeId: number): void {
    this.#sendBytes(to, encodeKeepaliveRequest(invokeId), this.channels.get(to));
  }

  /** Seals `pdu` through `channel` if there is one and sends it, as a datagram that may be lost. */
  #sendBytes(to: string, pdu: Uint8Array, channel: SecureChannel | undefined): void {
    try {
      this.shim.send(to, channel === undefined ? pdu : channel.seal(pdu)).catch(() => undefined);
    } catch {
      // (a shim that throws instead of rejecting: the datagram is lost all the same)
    }
  }

  /** The bootstrap of the last enrollment, if any. */
  lastBootstrap(): string | undefined {
    return this.state.record?.bootstrap;
  }

  /** Liveness found the connection lost (or recovery due) with the monitor running. */
  recover(): void {
    this.runs.startRecovery();
  }

  /** The monitor was stopped: its recovery, if running, ends. */
  monitorStopped(): void {
    this.runs.stopRecovery(new EnrollmentAbortedError('monitoring stopped'));
  }

  /** The enroller released the member. */
  released(): void {
    this.liveness.lose('released');
  }

  /** Exit action of `enrolled`: keepalives stop, uptime stops counting. */
  leftEnrolled(): void {
    this.metrics.leftEnrolled();
    this.liveness.cancelKeepalive();
  }

  /** Every change of state is an event. */
  changed(state: EnrollmentState, previous: EnrollmentState): void {
    this.telemetry.emit('state:change', state, previous);
  }
}
