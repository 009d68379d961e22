/**
 * The enroller's parts, made once from its settings and wired to each
 * other: each is given the narrow view of the others it needs.
 *
 * @module
 */
import { MAX_ALTERNATES } from '../cdap/messages.js';
import { diagnosticsChannels } from '../diagnostics.js';
import type { EventEmitter } from 'eventemitter3';
import { EnrollerAuth } from '../auth/auth.js';
import { ConfigError } from '../errors.js';
import { isWildcardUdpAddress, namesUdpSocket } from '../shim/udp-address.js';
import { MemoryAddressStore } from '../store/address-store.js';
import { Telemetry } from '../util/telemetry.js';
import { type Ticker, tickerFor } from '../util/ticker.js';
import { ConnectAnswerer } from './admission.js';
import { AddressAssigner } from './assignment.js';
import { ChannelOpener } from './channels.js';
import { describeEnrollerEvent, type EnrollerEvents, type EnrollerStats, zeroStats } from './events.js';
import { AddressLedger, type LedgerHost } from './ledger.js';
import { Liveness } from './liveness.js';
import { MemberRegistry } from './members.js';
import type { EnrollerSettings } from './options.js';
import { Outbox } from './outbox.js';
import { RateLimiter } from './rate-limiter.js';
import { QueueProbe } from './queue-probe.js';
import { longestStopIntervalMs, type Session, SessionTable } from './sessions.js';

/** Every part of one enroller. */
export interface EnrollerParts {
  /** Listeners, diagnostics channel and logger. */
  readonly telemetry: Telemetry<EnrollerEvents>;
  /** The counters. */
  readonly stats: EnrollerStats;
  /** The credentials' judge. */
  readonly auth: EnrollerAuth;
  /** The flood guard. */
  readonly rate: RateLimiter;
  /** The sending side. */
  readonly outbox: Outbox;
  /** Store, pool, holds and fence. */
  readonly ledger: AddressLedger;
  /** Enrollments in progress. */
  readonly sessions: SessionTable;
  /** Enrolled members. */
  readonly members: MemberRegistry;
  /** Liveness probes of a name's rivals. */
  readonly liveness: Liveness;
  /** Which channel opens a PDU. */
  readonly channels: ChannelOpener;
  /** M_CONNECT's answers. */
  readonly connects: ConnectAnswerer;
  /** M_START's answers. */
  readonly assigner: AddressAssigner;
  /** The receive queue's delay, measured by datagrams to itself. */
  readonly probe: QueueProbe;
}

/** The ledger of the enroller's store; a shared store needs an address other enrollers can send members to. */
function makeLedger(s: EnrollerSettings, ticker: Ticker, telemetry: Telemetry<EnrollerEvents>, host: LedgerHost): AddressLedger {
  const { addressPool, holdMs, ipcpName, random } = s;
  const store = s.store ?? new MemoryAddressStore();
  const ledger = new AddressLedger(
    store,
    { addressPool, holdMs, ipcpName, localAddress: s.advertisedAddress, random },
    ticker,
    telemetry,
    host,
  );
  if (ledger.shared && isWildcardUdpAddress(s.advertisedAddress)) {
    // Other enrollers would send members to it: nobody can reach a wildcard address.
    throw new ConfigError([
      {
        field: 'advertisedAddress',
        rule: `is required with a shared store while the shim listens on the wildcard ${s.advertisedAddress}: give the address members reach this enroller at`,
      },
    ]);
  }
  return ledger;
}

/**
 * How an enrollment that never completes ends, and how one takes the place of a member record let go while it is
 * past its M_START (`MemberRegistryHost.takeOver`). The parts are asked for only once they exist.
 */
function sessionEndings(ledger: AddressLedger, parts: () => EnrollerParts) {
  return {
    // (an enrollment past M_START owns the name's mark, bound or being bound: it takes a retired record's place)
    takeOver(name: string): boolean {
      const { sessions } = parts();
      const session = sessions.serving(name) ? sessions.holding(name) : undefined;
      if (session !== undefined) session.tookOver = true;
      return session !== undefined;
    },
    /**
     * An enrollment that never completed gives its address back ({@link AddressLedger.giveBack}): held if its member
     * was told it (and may hold it). One with no address that took a record's place lets the name go as the record
     * would have (its mark left, its address held); so does one with no address for whose name the pool has learned a
     * binding meanwhile (its idle event may have come while this enrollment served the name: nothing else holds it).
     */
    giveBack(session: Session): void {
      const { members, sessions } = parts();
      if (members.has(session.name)) return;
      if (session.address !== undefined) {
        ledger.giveBack(session.name, session.newBinding === true && session.told !== true, session.heldUntil);
      } else if (
        (session.tookOver === true || ledger.addressOf(session.name) !== undefined) &&
        session.binding !== true &&
        !sessions.serving(session.name) &&
        !ledger.holding(session.name)
      ) {
        ledger.leave(session.name);
        ledger.hold(session.name);
      }
    },
  };
}

/** The shim's `selfAddress`, read once; none if it is no string (or its getter throws): that shim is not probed. */
function selfAddressOf(shim: EnrollerSettings['shim']): string | undefined {
  try {
    const self: unknown = shim.selfAddress;
    return typeof self === 'string' ? self : undefined;
  } catch {
    return undefined;
  }
}

/** The enrollments in progress, and the probe of the receive queue they wait in. */
function sessionParts(s: EnrollerSettings, outbox: Outbox, abandoned: (session: Session) => void, running: () => boolean) {
  const { clock, shim } = s;
  const self = selfAddressOf(shim);
  const probe = new QueueProbe({
    clock,
    maxMs: longestStopIntervalMs(s.retransmitMs),
    // (not to `localAddress`: that is where others reach it, maybe a relay's or a NAT's)
    sendToSelf: self === undefined ? undefined : (pdu) => shim.send(self, pdu),
  });
  const sessions = new SessionTable({
    queue: probe,
    clock,
    retransmitMs: s.retransmitMs,
    pendingTimeoutMs: s.pendingTimeoutMs,
    maxRefused: s.maxPendingEnrollments,
    running,
    abandoned,
    sendBytes: (to, pdu, channel) => outbox.sendBytes(to, pdu, channel),
  });
  return { probe, sessions };
}

/** Makes the parts of an enroller that emits through `emitter` and serves while `running()`. */
export function assembleParts(s: EnrollerSettings, emitter: EventEmitter<EnrollerEvents>, running: () => boolean): EnrollerParts {
  const { clock, shim } = s;
  const ticker = tickerFor(clock);
  const telemetry = new Telemetry<EnrollerEvents>(emitter, s.logger, describeEnrollerEvent(s.ipcpName), [diagnosticsChannels.enroller]);
  const stats = zeroStats();
  // The ledger asks the members and the sessions, made after it, through `parts` (only ever called once it exists).
  const ledger = makeLedger(s, ticker, telemetry, {
    serves: (name) => parts.members.has(name) || parts.sessions.serving(name),
    running,
    memberCount: () => parts.members.size,
    leaseBack: () => void parts.members.revalidate(),
    rebound: (name, address) => parts.members.rebound(name, address),
  });
  const outbox = new Outbox(shim, clock);
  const endings = sessionEndings(ledger, () => parts);
  const members = new MemberRegistry(
    { clock, ticker, leaseMs: s.leaseMs, ipcpName: s.ipcpName, running, takeOver: endings.takeOver },
    ledger,
    telemetry,
  );
  const { probe, sessions } = sessionParts(s, outbox, endings.giveBack, running);
  const liveness = new Liveness(clock, ticker, sessions, members, outbox);
  const auth = new EnrollerAuth(s.auth, s.ipcpName, s.difName);
  const common = { ledger, sessions, liveness, outbox, telemetry, stats, clock };
  const advertised = (): string[] => {
    const live = ledger.otherEnrollers;
    const all = live.length === 0 ? s.alternates : [...new Set([...s.alternates, ...live])];
    return all.length > MAX_ALTERNATES ? all.slice(0, MAX_ALTERNATES) : all; // (what a member keeps of a list at most)
  };
  const parts: EnrollerParts = {
    probe,
    telemetry,
    stats,
    auth,
    rate: new RateLimiter(s.ratePerSecond, s.rateBurst, s.maxTrackedPeers, clock),
    outbox,
    ledger,
    sessions,
    members,
    liveness,
    channels: new ChannelOpener(sessions, members, stats, outbox),
    connects: new ConnectAnswerer(
      { ...common, auth },
      // The advertised address, or the one the member sent to (any address at its port, on a wildcard socket).
      { ...s, isShimAddress: (name) => name === s.advertisedAddress || namesUdpSocket(shim.localAddress, name) },
    ),
    assigner: new AddressAssigner(
      { ...common, members, rib: s.rib },
      { difName: s.difName, dtConstants: s.dtConstants, maxMembers: s.maxMembers, alternates: advertised },
    ),
  };
  return parts;
}
