/**
 * Who may have a name: two live IPCPs with one name would share one
 * address, so the first keeps it; but an IPCP that crashed and restarts
 * comes back from a new address, so a newcomer's rivals for its name are
 * probed, and the silent ones let go.
 *
 * @module
 */
import type { SecureChannel } from '../auth/channel.js';
import { Result } from '../cdap/messages.js';
import type { Clock } from '../util/clock.js';
import type { Ticker, TickerEntry } from '../util/ticker.js';
import type { MemberRegistry } from './members.js';
import type { Outbox } from './outbox.js';
import type { Peer, SessionTable } from './sessions.js';

/** How long an enrolled member has to answer a liveness probe before a newcomer with its name takes over, in ms. */
export const PROBE_MS = 1000;

/** What a probe found of a peer: it spoke since (`alive`), stayed silent `PROBE_MS` (`gone`), or not yet known. */
export type ProbeVerdict = 'alive' | 'gone' | 'checking';

/** Another holder of a name a newcomer asks for. */
export interface Rival {
  /** The holder. */
  readonly peer: Peer;
  /** What it is doing with the name, in words (`enrolling`, `enrolled`). */
  readonly doing: string;
  /** Lets it go: the newcomer takes the name over. */
  readonly gone: () => void;
}

/** Why a newcomer may not have a name (now). */
export interface ClaimRefusal {
  /** The result code: NAME_IN_USE or BUSY. */
  readonly result: number;
  /** Why, in words. */
  readonly reason: string;
}

/** A probe sent: when, its second M_READ still to go, and when it is forgotten. */
interface Probe {
  readonly sentAt: number;
  again: TickerEntry | undefined;
  expiry: TickerEntry | undefined;
}

/** The liveness probes of peers holding a name a newcomer asks for, by the probed peer's shim address. */
export class Liveness {
  readonly #clock: Clock;
  readonly #ticker: Ticker;
  readonly #sessions: SessionTable;
  readonly #members: MemberRegistry;
  readonly #outbox: Outbox;
  readonly #probes = new Map<string, Probe>();

  constructor(clock: Clock, ticker: Ticker, sessions: SessionTable, members: MemberRegistry, outbox: Outbox) {
    this.#clock = clock;
    this.#ticker = ticker;
    this.#sessions = sessions;
    this.#members = members;
    this.#outbox = outbox;
  }

  /** The others that hold `name` (an enrollment in progress, an enrolled member) from another shim address than `from`. */
  rivalsOf(name: string, from: string): Rival[] {
    const rivals: Rival[] = [];
    const session = this.#sessions.holding(name);
    if (session !== undefined && session.shimAddress !== from) {
      rivals.push({ peer: session, gone: () => this.#sessions.abandon(session.shimAddress, session), doing: 'enrolling' });
    }
    const holder = this.#members.get(name);
    if (holder !== undefined && holder.shimAddress !== from) {
      // the newcomer's enrollment ends the hold; if it never completes, the address is freed
      rivals.push({ peer: holder, gone: () => this.#members.retire(holder, 'gone'), doing: 'enrolled' });
    }
    return rivals;
  }

  /**
   * Whether the newcomer at `from` may have `name`: every other holder is
   * asked whether it is still there (one probe per shim address, all at
   * once). Undefined when the name is the newcomer's (a silent holder was
   * let go); else the refusal.
   */
  claim(name: string, from: string): ClaimRefusal | undefined {
    const rivals = this.rivalsOf(name, from);
    if (rivals.length === 0) return undefined; // the usual case: nobody else has the name
    const byShim = new Map<string, ProbeVerdict>();
    for (const { peer } of rivals) if (!byShim.has(peer.shimAddress)) byShim.set(peer.shimAddress, this.probe(peer.shimAddress));
    const verdicts = rivals.map(({ peer }) => byShim.get(peer.shimAddress));
    const alive = rivals.find((_, i) => verdicts[i] === 'alive');
    if (alive !== undefined)
      return { result: Result.NAME_IN_USE, reason: `IPCP name "${name}" is ${alive.doing} from another shim address` };
    const checking = rivals.find((_, i) => verdicts[i] === 'checking');
    if (checking !== undefined) {
      return {
        result: Result.BUSY,
        reason: `busy: IPCP name "${name}" is ${checking.doing} from ${checking.peer.shimAddress}; checking whether that IPCP is still alive, try again`,
      };
    }
    // None answered: this is their new incarnation, which takes the name (and its address) over.
    for (const rival of rivals) rival.gone();
    return undefined;
  }

  /**
   * Whether the peer at `shimAddress` is still there: a keepalive M_READ
   * goes to it (twice, in case one is lost); anything it sends from then on
   * proves it alive, and silence for `PROBE_MS` proves it gone. `checking`
   * until then.
   */
  probe(shimAddress: string): ProbeVerdict {
    const t = this.#clock.now();
    const probe = this.#probes.get(shimAddress);
    if (probe === undefined || t - probe.sentAt > PROBE_MS * 10) {
      if (probe !== undefined) this.#forget(shimAddress, probe);
      const sent: Probe = { sentAt: t, again: undefined, expiry: undefined };
      this.#probes.set(shimAddress, sent);
      const ask = (): void => {
        sent.again = undefined;
        if (this.#probes.get(shimAddress) !== sent || this.#heardAt(shimAddress) === undefined) return;
        this.#outbox.sendProbe(shimAddress, this.#session(shimAddress)?.channel ?? this.#members.at(shimAddress)?.channel ?? null);
      };
      ask();
      sent.again = this.#ticker.after(PROBE_MS / 2, ask);
      // Forgotten once no claim can use it (one older is asked again): a probe of a peer that left is not kept for ever.
      sent.expiry = this.#ticker.schedule(t + PROBE_MS * 10 + 1, () => {
        if (this.#probes.get(shimAddress) === sent) this.#forget(shimAddress, sent);
      });
      return 'checking';
    }
    const alive = (this.#heardAt(shimAddress) ?? Number.NEGATIVE_INFINITY) > probe.sentAt;
    if (!alive && t - probe.sentAt < PROBE_MS) return 'checking';
    // Decided: the second M_READ, if not sent yet, is not needed (and no timer outlives the probe).
    this.#forget(shimAddress, probe);
    return alive ? 'alive' : 'gone';
  }

  /** How many probes are kept. */
  get size(): number {
    return this.#probes.size;
  }

  /** Forgets every probe (a stop). */
  clear(): void {
    for (const [shimAddress, probe] of this.#probes) this.#forget(shimAddress, probe);
  }

  #forget(shimAddress: string, probe: Probe): void {
    this.#ticker.cancel(probe.again);
    this.#ticker.cancel(probe.expiry);
    this.#probes.delete(shimAddress);
  }

  /** The enrollment in progress at `shimAddress` that proved itself (with HMAC-SHA256, a PDU its channel opened), if any. */
  #session(shimAddress: string): (Peer & { readonly channel: SecureChannel | null }) | undefined {
    const session = this.#sessions.get(shimAddress);
    return session !== undefined && (session.channel === null || session.proven === true) ? session : undefined;
  }

  /** When the enrolled or enrolling peer at `shimAddress` last sent anything; undefined when there is none. */
  #heardAt(shimAddress: string): number | undefined {
    const session = this.#session(shimAddress);
    const member = this.#members.at(shimAddress);
    if (session === undefined) return member?.lastSeenAt;
    return member === undefined ? session.lastSeenAt : Math.max(session.lastSeenAt, member.lastSeenAt);
  }
}
