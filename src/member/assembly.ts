/**
 * How a manager's parts are built and wired to each other, from its
 * validated options: the one place that knows every part.
 *
 * @module
 */
import type { EventEmitter } from 'eventemitter3';
import type { SecureChannel } from '../auth/channel.js';
import type { InvokeIds } from '../cdap/messages.js';
import type { CdapMessage } from '../cdap/types.js';
import type { EnrollmentConfig } from '../config.js';
import { parseUdpAddress } from '../shim/udp-address.js';
import { fullJitterDelay } from '../util/backoff.js';
import { type Clock, clockFrom } from '../util/clock.js';
import { Telemetry } from '../util/telemetry.js';
import { tickerFor } from '../util/ticker.js';
import { BootstrapSet } from './bootstrap-set.js';
import { MemberChannels } from './channels.js';
import { Completion } from './completion.js';
import { Discovery } from './discovery.js';
import type { EnrollmentEvents } from './events.js';
import { Liveness } from './liveness.js';
import { MetricsRecorder } from './metrics.js';
import type { ManagerOptions } from './options.js';
import { describeMemberEvent } from './report.js';
import { Responder } from './responder.js';
import { Runs } from './runs.js';
import { isSrvBootstrap } from './srv.js';
import { MemberState } from './state.js';

/** The parts the manager's facade talks to. */
export interface MemberParts {
  readonly metrics: MetricsRecorder;
  readonly state: MemberState;
  readonly bootstraps: BootstrapSet;
  readonly channels: MemberChannels;
  readonly liveness: Liveness;
  readonly runs: Runs;
  readonly responder: Responder;
}

/** What the parts need from the facade. */
export interface MemberHooks {
  /** The member's IPCP name, if set (it may be set after construction). */
  ipcpName(): string | undefined;
  /** Encodes, seals through `channel` if any, and sends; rejects when it cannot. */
  sendNow(to: string, msg: CdapMessage, channel: SecureChannel | undefined): Promise<void>;
}

/** What every part shares. */
interface Common {
  readonly config: Readonly<EnrollmentConfig>;
  readonly clock: Clock;
  readonly random: () => number;
  readonly telemetry: Telemetry<EnrollmentEvents>;
  readonly ids: InvokeIds;
  backoff(failures: number): number;
  send(to: string, msg: CdapMessage, channel: SecureChannel | undefined): void;
}

/** The IP version of a shim address that is an IP literal with a port, else undefined. */
function ipFamily(address: string): 4 | 6 | undefined {
  try {
    return parseUdpAddress(address).family;
  } catch {
    return undefined;
  }
}

/** Builds the parts of a manager that emits its events on `emitter`. */
export function assembleMember(
  emitter: EventEmitter<EnrollmentEvents>,
  o: ManagerOptions,
  config: Readonly<EnrollmentConfig>,
  ids: InvokeIds,
  hooks: MemberHooks,
): MemberParts {
  const random = o.random ?? Math.random;
  const { reenrollBackoffBaseMs: baseMs, reenrollBackoffCapMs: capMs, retransmitMs: floorMs } = config;
  const common: Common = {
    config,
    clock: clockFrom(o.clock),
    random,
    telemetry: new Telemetry<EnrollmentEvents>(emitter, o.logger, describeMemberEvent(hooks.ipcpName)),
    ids,
    backoff: (n) => fullJitterDelay(n, { baseMs, capMs, floorMs }, random),
    send: (to, msg, channel) => void hooks.sendNow(to, msg, channel).catch(() => undefined),
  };
  const { clock, telemetry } = common;
  const metrics = new MetricsRecorder(() => clock.now());
  const state = new MemberState({
    leftEnrolled: () => {
      metrics.leftEnrolled();
      liveness.cancelKeepalive();
    },
    closed: () => liveness.cancelDeadline(),
    changed: (next, previous) => telemetry.emit('state:change', next, previous),
  });
  const bootstraps = new BootstrapSet({ localAddress: o.shim.localAddress, now: () => clock.now(), random, backoff: common.backoff });
  for (const entry of config.bootstraps) if (!isSrvBootstrap(entry)) bootstraps.learn(entry, 'config');
  const channels = new MemberChannels();
  const liveness: Liveness = new Liveness({
    ...common,
    ticker: tickerFor(clock),
    state,
    bootstraps,
    metrics,
    sendKeepalive: (to, msg) => common.send(to, msg, channels.get(to)),
    recover: () => runs.startRecovery(),
  });
  const runs = assembleRuns(o, common, hooks, { metrics, state, bootstraps, channels, liveness });
  const responder = new Responder({ rib: o.rib, send: common.send, released: () => liveness.lose('released') });
  return { metrics, state, bootstraps, channels, liveness, runs, responder };
}

/** Discovery, completion and the runs that use them. */
function assembleRuns(o: ManagerOptions, common: Common, hooks: MemberHooks, parts: Omit<MemberParts, 'runs' | 'responder'>): Runs {
  const { config } = common;
  const { state, bootstraps } = parts;
  const family = o.discovery?.family ?? ipFamily(o.shim.localAddress);
  const discovery = new Discovery({
    ...common,
    entries: config.bootstraps,
    options: family === undefined ? { ...o.discovery } : { ...o.discovery, family },
    timeoutMs: config.timeoutMs,
    bootstraps,
    ipcpName: hooks.ipcpName,
    last: () => state.record?.bootstrap,
  });
  const completion = new Completion({ ...common, ...parts, rib: o.rib, ipcpName: hooks.ipcpName });
  return new Runs({
    ...common,
    ...parts,
    auth: o.auth,
    difName: o.difName,
    lowerDifs: o.lowerDifs,
    discovery,
    completion,
    ipcpName: hooks.ipcpName,
    sendNow: hooks.sendNow,
  });
}
