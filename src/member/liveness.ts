/**
 * Whether the member's bootstrap is alive: heartbeats, keepalives and their
 * round trips, the deadline that declares a loss exactly when the timeout
 * expires, the monitor's handle, and the loss itself (one event per outage).
 * Its only timers are two entries on the shared timing wheel.
 *
 * @module
 */
import type { InvokeIds } from '../cdap/messages.js';
import type { CdapMessage } from '../cdap/types.js';
import type { EnrollmentConfig } from '../config.js';
import { roundMs } from '../util/clock.js';
import type { Telemetry } from '../util/telemetry.js';
import type { Ticker, TickerEntry } from '../util/ticker.js';
import type { BootstrapSet } from './bootstrap-set.js';
import type { ConnectionMonitor, EnrollmentEvents, LossReason } from './events.js';
import type { MetricsRecorder } from './metrics.js';
import type { MemberState } from './state.js';

/** What liveness needs from the manager. */
export interface LivenessInit {
  readonly config: Readonly<EnrollmentConfig>;
  readonly ticker: Ticker;
  readonly state: MemberState;
  readonly bootstraps: BootstrapSet;
  readonly ids: InvokeIds;
  readonly metrics: MetricsRecorder;
  readonly telemetry: Telemetry<EnrollmentEvents>;
  /** Sends keepalive `invokeId` to the bootstrap of the enrollment, through its channel. */
  sendKeepalive(to: string, invokeId: number): void;
  /** The monitor runs and the connection was lost, or recovery is due: start it. */
  recover(): void;
  /** The monitor was stopped: its recovery, if running, ends. */
  monitorStopped(): void;
}

/** A monitor that does not run (monitoring disabled). */
const NOT_RUNNING: ConnectionMonitor = Object.freeze({ stop: () => undefined, running: false });

/**
 * The running monitor's handle. Stopping it tells its liveness once. `stop`
 * can be handed on alone (`signal.addEventListener('abort', monitor.stop)`):
 * it is a function of its own, made the first time it is read (always the
 * same one after that), so a monitor nobody stops holds none.
 */
class Monitor implements ConnectionMonitor {
  running = true;
  readonly #liveness: Liveness;
  #stop: (() => void) | undefined;

  constructor(liveness: Liveness) {
    this.#liveness = liveness;
  }

  get stop(): () => void {
    this.#stop ??= () => {
      if (!this.running) return;
      this.running = false;
      this.#liveness.onMonitorStopped();
    };
    return this.#stop;
  }
}

/**
 * One of a manager's two timers on the wheel (the keepalive, the loss
 * deadline): made once and re-armed with {@link Ticker.place}, so an idle
 * manager holds no closure and arms no new entry per keepalive.
 */
abstract class LivenessTimer implements TickerEntry {
  at = 0;
  bucket = -1;
  protected readonly liveness: Liveness;

  constructor(liveness: Liveness) {
    this.liveness = liveness;
  }

  abstract run(): void;
}

class KeepaliveTimer extends LivenessTimer {
  run(): void {
    this.liveness.keepaliveDue();
  }
}

class DeadlineTimer extends LivenessTimer {
  run(): void {
    this.liveness.deadlineDue();
  }
}

/** Heartbeats, keepalives, the loss deadline and the monitor. */
export class Liveness {
  readonly #init: LivenessInit;
  /**
   * Keepalives in flight (invoke id -> sent at). Made when one leaves and dropped once empty: an idle
   * manager, whose last keepalive was answered, holds no map (a Map's table is ~180 B).
   */
  #pending: Map<number, number> | undefined;
  /** The keepalive timer; its `at` is when the last keepalive armed was due. */
  readonly #keepalive = new KeepaliveTimer(this);
  readonly #deadline = new DeadlineTimer(this);
  #monitor: Monitor | undefined;
  /**
   * The clock's time of the last heartbeat, if any. As read, not rounded
   * (unlike the wheel's times, `wholeMs` in util/clock.ts): rounded up it would lie in
   * the future, and a loss declared in the same millisecond would report a
   * negative silence.
   */
  lastHeartbeat: number | undefined;
  /**
   * A deadline found the silence past the timeout while the process itself was late (see {@link deadlineDue}): the
   * member asked once more, and judges again one keepalive interval on; a heartbeat meanwhile counts.
   */
  #grace = false;

  constructor(init: LivenessInit) {
    this.#init = init;
  }

  #now(): number {
    return this.#init.ticker.clock.now();
  }

  get #intervalMs(): number {
    return this.#init.config.heartbeatIntervalSecs * 1000;
  }

  get #timeoutMs(): number {
    return this.#init.config.connectionTimeoutSecs * 1000;
  }

  /** Whether the monitor runs. */
  get monitoring(): boolean {
    return this.#monitor?.running === true;
  }

  /** The running monitor, if any. */
  get monitor(): ConnectionMonitor | undefined {
    return this.#monitor?.running ? this.#monitor : undefined;
  }

  /**
   * Starts the monitor, or returns the running one (or one that does not run
   * when monitoring is disabled). Stopping it tells `monitorStopped()`, once.
   */
  startMonitor(): ConnectionMonitor {
    if (this.#monitor?.running) return this.#monitor;
    if (this.#init.config.heartbeatIntervalSecs === 0) return NOT_RUNNING;
    this.#monitor = new Monitor(this);
    return this.#monitor;
  }

  /** @internal The running monitor was stopped (once): the deadline goes, and the manager is told. */
  onMonitorStopped(): void {
    this.#monitor = undefined; // (the running monitor is the one stopped: another starts only once it stops)
    this.cancelDeadline();
    this.#init.monitorStopped();
  }

  /**
   * Records a heartbeat, unless the monitor should already have declared the
   * connection lost: a heartbeat read after the timeout while the wheel
   * keeps up (the deadline's check only waits for its bucket) came after the
   * silence exceeded the timeout, and the loss is declared first. Read while
   * the wheel is behind (the process itself was late, see
   * {@link Ticker.behind}), it may have arrived in time and waited to be
   * read: it counts, and the deadline's check judges the silence from it.
   * Returns whether the heartbeat counted.
   */
  heartbeat(): boolean {
    const t = this.#now();
    const last = this.lastHeartbeat;
    const { state, ticker } = this.#init;
    if (state.type === 'enrolled' && this.monitoring && !state.lost && last !== undefined) {
      if (t - last >= this.#timeoutMs && !ticker.behind() && !this.#grace) {
        this.lose('timeout');
        return false;
      }
    }
    this.lastHeartbeat = t;
    this.#grace = false;
    return true;
  }

  /** True while enrolled and the last heartbeat is less than the connection timeout old. */
  isHealthy(): boolean {
    const { state } = this.#init;
    return (
      state.type === 'enrolled' && !state.lost && this.lastHeartbeat !== undefined && this.#now() - this.lastHeartbeat < this.#timeoutMs
    );
  }

  /** An enrollment completed: the bootstrap is alive now, and old keepalives are forgotten. */
  enrolled(): void {
    this.lastHeartbeat = this.#now();
    this.#pending = undefined;
    this.#grace = false;
  }

  /** Enrolled: keepalives start, and the deadline if the monitor runs. */
  resume(): void {
    this.#armKeepalive();
    if (this.monitoring) this.armDeadline();
  }

  /** Sends `M_READ keepalive` every `heartbeatIntervalSecs` while enrolled. */
  #armKeepalive(): void {
    this.cancelKeepalive();
    const interval = this.#intervalMs;
    if (interval === 0) return;
    this.#init.ticker.place(this.#keepalive, this.#now() + interval);
  }

  /** @internal A keepalive is due: send it, forget those unanswered for a whole timeout, and arm the next. */
  keepaliveDue(): void {
    const { ticker, state } = this.#init;
    const bootstrap = state.record?.bootstrap;
    if (state.type !== 'enrolled' || bootstrap === undefined) return;
    const t = this.#now();
    // Next one a whole interval after this one was due, so tick lateness does not add up. Armed before the
    // send, so that whatever the send might stop (a loss, the manager closed) stops it.
    ticker.place(this.#keepalive, Math.max(this.#keepalive.at + this.#intervalMs, t));
    this.#sendKeepalive(bootstrap, t);
  }

  /** Sends a keepalive now, remembered as pending; those unanswered for a whole timeout are forgotten. */
  #sendKeepalive(bootstrap: string, t: number): void {
    this.#pending ??= new Map();
    const pending = this.#pending;
    for (const [id, sentAt] of pending) {
      if (t - sentAt > this.#timeoutMs) pending.delete(id);
    }
    const invokeId = this.#init.ids.next();
    pending.set(invokeId, t);
    this.#init.sendKeepalive(bootstrap, invokeId);
  }

  /** Checks for a loss exactly when the connection timeout would expire; re-arms itself lazily. */
  armDeadline(): void {
    this.#init.ticker.place(this.#deadline, (this.lastHeartbeat ?? this.#now()) + this.#timeoutMs);
  }

  /**
   * @internal The deadline came: the connection is lost if no heartbeat came since, else the check moves to the new
   * deadline. In a tick the process got to late (paused, starved: see `Ticker.late`), its own keepalives did not
   * go out meanwhile, so the silence is not all the bootstrap's: it sends a keepalive and judges again one
   * interval on (a heartbeat meanwhile counts), once per silence.
   */
  deadlineDue(): void {
    const { ticker, state } = this.#init;
    if (state.type !== 'enrolled' || !this.monitoring) return;
    const last = this.lastHeartbeat ?? 0;
    const t = this.#now();
    if (t - last < this.#timeoutMs) {
      ticker.place(this.#deadline, last + this.#timeoutMs);
    } else if (ticker.late && !this.#grace && state.record !== undefined) {
      this.#grace = true;
      ticker.place(this.#deadline, t + Math.min(this.#intervalMs, this.#timeoutMs));
      this.#sendKeepalive(state.record.bootstrap, t);
    } else {
      this.lose('timeout');
    }
  }

  /** Stops the keepalives. */
  cancelKeepalive(): void {
    this.#init.ticker.cancel(this.#keepalive);
  }

  /** Stops the loss deadline. */
  cancelDeadline(): void {
    this.#init.ticker.cancel(this.#deadline);
  }

  /** An M_READ_R of the keepalive object from the bootstrap. */
  onKeepaliveReply(msg: CdapMessage, from: string): void {
    const pending = this.#pending;
    const sentAt = pending?.get(msg.invokeId ?? 0);
    if (pending === undefined || sentAt === undefined) return; // not ours, or too old
    pending.delete(msg.invokeId ?? 0);
    if (pending.size === 0) this.#pending = undefined;
    if ((msg.result ?? 0) !== 0) {
      // The enroller no longer knows us (it restarted, or let our lease expire).
      this.lose('keepalive-refused');
      return;
    }
    if (!this.heartbeat()) return;
    const rttMs = roundMs(this.#now() - sentAt);
    this.#init.metrics.rtt(rttMs);
    this.#init.telemetry.emit('keepalive:rtt', { rttMs, bootstrap: from });
  }

  /** The connection is lost: one event, then recovery if the monitor runs. */
  lose(reason: LossReason): void {
    const { state, bootstraps } = this.#init;
    const bootstrap = state.record?.bootstrap;
    if (state.type !== 'enrolled' || state.lost || bootstrap === undefined) return;
    const silentMs = this.#silentMs();
    state.lost = true;
    this.cancelDeadline();
    this.cancelKeepalive();
    // The bootstrap that went silent is left alone for a jittered while, so
    // that members losing it together do not all come back at once.
    const status = bootstraps.learn(bootstrap, 'explicit');
    this.#openOutage(bootstrap, silentMs, reason, () => bootstraps.failed(status));
    if (this.monitoring) this.#init.recover();
    else if (state.type === 'enrolled') state.set({ type: 'idle' });
  }

  /**
   * Not enrolled, nothing running, the monitor takes over: an outage opens
   * first if none is open, so that every recovery pairs with one loss.
   */
  openOutageIfNone(): void {
    const { state } = this.#init;
    const bootstrap = state.record?.bootstrap;
    if (state.outageAt !== undefined || bootstrap === undefined) return;
    this.#openOutage(bootstrap, this.#silentMs(), 'reenroll-failed');
  }

  #silentMs(): number {
    const t = this.#now();
    return roundMs(t - (this.lastHeartbeat ?? t));
  }

  /** Opens an outage: its time, its figure, then (after `before`) its one event. */
  #openOutage(bootstrap: string, silentMs: number, reason: LossReason, before?: () => void): void {
    this.#init.state.outageAt = this.#now();
    this.#init.metrics.outage(silentMs);
    before?.();
    this.#init.telemetry.emit('connection:lost', { bootstrap, silentMs, reason });
  }
}
