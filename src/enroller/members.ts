/**
 * The member registry: who is enrolled, from where, and since when; each
 * member's lease; and the one way a member leaves the list ({@link
 * MemberRegistry.retire}).
 *
 * @module
 */
import type { SecureChannel } from '../auth/channel.js';
import type { Clock } from '../util/clock.js';
import type { Telemetry } from '../util/telemetry.js';
import type { Ticker, TickerEntry } from '../util/ticker.js';
import type { EnrollerEvents, MemberInfo } from './events.js';
import type { AddressLedger } from './ledger.js';
import type { Peer } from './sessions.js';

/** One enrolled member. */
export interface MemberRecord extends Peer {
  /** The DIF address assigned to it. */
  readonly address: number;
  /** When its enrollment completed, in ms since the epoch (a Date only in {@link memberInfo}). */
  readonly enrolledAtMs: number;
  /** When the enroller last received a message from it, in ms since the epoch: a number, as it changes with every datagram. */
  lastSeenMs: number;
  /** The lease check, re-armed lazily when it fires. */
  lease: TickerEntry | undefined;
  /** With HMAC-SHA256: its enrollment's channel, which its keepalives, probes and M_RELEASE go through. */
  readonly channel: SecureChannel | null;
}

/**
 * Why a member leaves the list. `gone` (silent past its lease, or a silent
 * holder of a name a newcomer takes over) and `released` (M_RELEASE) are
 * told as events; the others are not: `unproven` (a shared store does not
 * confirm its binding), `unvouched` (a keepalive while the enroller cannot
 * vouch for it), `replaced` (another enrollment completed from its address).
 */
export type RetireReason = 'gone' | 'released' | 'unproven' | 'unvouched' | 'replaced';

/** The most bindings proven at once (see {@link MemberRegistry.prove}): a store that just lost a lease is not sent thousands of transactions together. */
export const PROVING_AT_ONCE = 64;

/** The event each reason is told as. */
const RETIRE_EVENTS: Partial<Record<RetireReason, 'member:gone' | 'member:released'>> = {
  gone: 'member:gone',
  released: 'member:released',
};

/** The public view of a member record. */
export const memberInfo = (m: MemberRecord): MemberInfo => ({
  name: m.name,
  address: m.address,
  shimAddress: m.shimAddress,
  enrolledAt: new Date(m.enrolledAtMs),
  lastSeen: new Date(m.lastSeenMs),
});

/** What the registry needs of the enroller. */
export interface MemberRegistryHost {
  /** The clock leases are measured on. */
  readonly clock: Clock;
  /** The wheel that checks leases. */
  readonly ticker: Ticker;
  /** The lease, in ms. */
  readonly leaseMs: number;
  /** The enroller's IPCP name (in log lines). */
  readonly ipcpName: string;
  /** Whether the enroller serves now (a lease ends only then). */
  running(): boolean;
  /**
   * Whether an enrollment of `name` in progress here is past its M_START
   * (its address is being bound, or was), which then takes the place of the
   * record let go: the name's mark is that enrollment's (its bind writes
   * it), and its end gives the binding back, or, with no address, lets the
   * name go as the record would have.
   */
  takeOver(name: string): boolean;
}

/** The enrolled members, by name and by shim address. */
export class MemberRegistry {
  readonly #host: MemberRegistryHost;
  readonly #ledger: AddressLedger;
  readonly #telemetry: Telemetry<EnrollerEvents>;
  readonly #members = new Map<string, MemberRecord>();
  readonly #byShim = new Map<string, string>();
  /** The revalidation under way, if any: the fence it lifts, and the members proven so far under the new lease. */
  #revalidation: { readonly token: number; readonly proven: Set<MemberRecord> } | undefined;

  constructor(host: MemberRegistryHost, ledger: AddressLedger, telemetry: Telemetry<EnrollerEvents>) {
    this.#host = host;
    this.#ledger = ledger;
    this.#telemetry = telemetry;
  }

  /** How many members are listed. */
  get size(): number {
    return this.#members.size;
  }

  /** Whether `name` is listed. */
  has(name: string): boolean {
    return this.#members.has(name);
  }

  /** The member named `name`. */
  get(name: string): MemberRecord | undefined {
    return this.#members.get(name);
  }

  /** The member enrolled from `shimAddress`. */
  at(shimAddress: string): MemberRecord | undefined {
    const name = this.#byShim.get(shimAddress);
    return name === undefined ? undefined : this.#members.get(name);
  }

  /** The members, in order of enrollment. */
  values(): IterableIterator<MemberRecord> {
    return this.#members.values();
  }

  /** `member` proved it sent something now. */
  seen(member: MemberRecord): void {
    member.lastSeenMs = Date.now();
    member.lastSeenAt = this.#host.clock.now();
  }

  /**
   * An enrollment completed: `name` is a member at `address`, from
   * `shimAddress`. An earlier member of the name is forgotten, one at the
   * same shim address retired; the name's hold ends.
   */
  enrol(name: string, address: number, shimAddress: string, channel: SecureChannel | null): MemberRecord {
    const previous = this.#members.get(name);
    if (previous !== undefined) this.forget(previous);
    const stale = this.at(shimAddress);
    if (stale !== undefined) this.retire(stale, 'replaced');
    this.#ledger.endHold(name);
    const now = Date.now();
    const record: MemberRecord = {
      name,
      address,
      shimAddress,
      enrolledAtMs: now,
      lastSeenMs: now,
      lastSeenAt: this.#host.clock.now(),
      lease: undefined,
      channel,
    };
    this.#members.set(name, record);
    this.#byShim.set(shimAddress, name);
    this.#armLease(record);
    this.#telemetry.emit('member:enrolled', memberInfo(record));
    return record;
  }

  /**
   * Lets a member go: off the list, no longer served here (a shared store
   * is told), its address held; then the event of `reason`, if it has one.
   * While the same name enrols here again past its M_START (the old
   * record's lease ran out meanwhile, say), the record is only forgotten: a
   * leave would delete the mark the new enrollment's bind writes.
   */
  retire(member: MemberRecord, reason: RetireReason): void {
    this.forget(member);
    if (!this.#host.takeOver(member.name)) {
      this.#ledger.leave(member.name);
      this.#ledger.hold(member.name);
    }
    const event = RETIRE_EVENTS[reason];
    if (event !== undefined) this.#telemetry.emit(event, memberInfo(member));
  }

  /** A stopping enroller told `member` goodbye: off the list, its hold runs from the next start. */
  dismiss(member: MemberRecord): void {
    if (this.#members.get(member.name) !== member) return;
    this.forget(member);
    this.#ledger.hold(member.name); // the enroller stops: the hold waits for the next start
  }

  /** Removes a member from the list and stops its lease. */
  forget(member: MemberRecord): void {
    this.#host.ticker.cancel(member.lease);
    member.lease = undefined;
    if (this.#members.get(member.name) === member) this.#members.delete(member.name);
    if (this.#byShim.get(member.shimAddress) === member.name) this.#byShim.delete(member.shimAddress);
  }

  /** Stops every lease (a stop). */
  pauseLeases(): void {
    for (const member of this.#members.values()) {
      this.#host.ticker.cancel(member.lease);
      member.lease = undefined;
    }
  }

  /** Leases start again from a (re)start. */
  resumeLeases(): void {
    const t = this.#host.clock.now();
    for (const member of this.#members.values()) {
      member.lastSeenAt = t;
      this.#armLease(member);
    }
  }

  /**
   * Asks the store to confirm every listed member's binding, at most
   * {@link PROVING_AT_ONCE} at a time (`onProof` hears each verdict; once
   * `abandoned()`, the rest are not asked: unproven); the members with their
   * verdicts.
   */
  async prove(onProof?: (member: MemberRecord) => void, abandoned = (): boolean => false): Promise<Array<[MemberRecord, boolean]>> {
    const members = [...this.#members.values()];
    const verdicts: boolean[] = members.map(() => false);
    let next = 0;
    const asking = async (): Promise<void> => {
      for (let i = next++; i < members.length && !abandoned(); i = next++) {
        const member = members[i] as MemberRecord;
        verdicts[i] = await this.#ledger.confirm({ name: member.name, address: member.address });
        if (verdicts[i]) onProof?.(member);
      }
    };
    await Promise.all(Array.from({ length: Math.min(PROVING_AT_ONCE, members.length) }, asking));
    return members.map((m, i) => [m, verdicts[i] as boolean]);
  }

  /**
   * Whether the pool still gives `name` `address` (a member's, or an
   * enrollment's in progress). With a shared store it may not: another
   * enroller's binding of the name, or of the address to another name,
   * reached the pool meanwhile (nobody is answered or completed at an
   * address the store holds otherwise).
   */
  holdsAddress(name: string, address: number): boolean {
    return !this.#ledger.shared || this.#ledger.addressOf(name) === address;
  }

  /**
   * Whether `member`'s keepalive may be answered as enrolled: the enroller
   * vouches, or it is proving its members again after a lapse and this one's
   * binding is proven under the new lease (which is proven too).
   */
  vouchesFor(member: MemberRecord): boolean {
    if (this.#ledger.vouching()) return true;
    const r = this.#revalidation;
    return r !== undefined && r.token === this.#ledger.fencing && r.proven.has(member) && !this.#ledger.doubted();
  }

  /**
   * Whether a keepalive not vouched for waits, unanswered, instead of being
   * refused: the store is asking whether its lease lives, or the members'
   * bindings are being proven again under a new one.
   */
  waits(): boolean {
    return this.#ledger.doubting || (this.#revalidation !== undefined && this.#revalidation.token === this.#ledger.fencing);
  }

  /**
   * A shared store binds `name` to `address` now, or to nothing: a member
   * listed at another address no longer holds its own (another enroller
   * moved or released the binding, and the old address may go to anyone). It is let go as unproven: its next
   * keepalive is refused, and it enrols again, with the store's address.
   * While an enrollment of the name here is past its M_START (its bind may
   * be what moved it: see {@link MemberRegistryHost.takeOver}), the record
   * is only forgotten.
   */
  rebound(name: string, address: number | undefined): void {
    const member = this.#members.get(name);
    if (member === undefined || member.address === address) return;
    if (this.#host.takeOver(name)) this.forget(member);
    else this.retire(member, 'unproven');
  }

  /** Retires the members still listed whose binding was not proven. */
  retireUnproven(proofs: Array<[MemberRecord, boolean]>): void {
    for (const [member, proven] of proofs) {
      if (!proven && this.#members.get(member.name) === member) this.retire(member, 'unproven');
    }
  }

  /**
   * A new lease: every member still listed is confirmed through the store,
   * which checks the binding is still its own, at the store's pace. Each is
   * answered again as soon as its own binding is proven; the others' keepalives
   * wait meanwhile (see {@link waits}). Those whose binding is gone or taken
   * are let go at the end (their next keepalive is refused, and they enrol
   * again, maybe with a new address).
   */
  async revalidate(): Promise<void> {
    const token = this.#ledger.fencing;
    if (token === undefined) return;
    // Its own record: a proof that comes back after a newer fence (made under a lease since lost) proves nothing now.
    const revalidation = { token, proven: new Set<MemberRecord>() };
    this.#revalidation = revalidation;
    const current = (): boolean => this.#ledger.fencing === token;
    let proofs: Array<[MemberRecord, boolean]>;
    try {
      proofs = await this.prove(
        (member) => {
          if (current()) revalidation.proven.add(member);
        },
        () => !current(),
      );
    } finally {
      if (this.#revalidation === revalidation) this.#revalidation = undefined;
    }
    // Fenced again, or stopped, meanwhile; or the new lease lapsed (not merely in doubt: then it is asked about): stay fenced.
    if (this.#ledger.fencing !== token || (this.#ledger.doubted() && !this.#ledger.doubting)) return;
    let dropped = 0;
    for (const [member, proven] of proofs) {
      const listed = this.#members.get(member.name) === member;
      if (proven && listed) continue;
      if (listed) this.retire(member, 'unproven');
      else if (proven && !this.#members.has(member.name)) this.#ledger.leave(member.name); // refused meanwhile: its new mark goes too
      dropped++;
    }
    this.#ledger.unfence(token);
    const confirmed = proofs.length - dropped;
    this.#telemetry.log(
      'info',
      { enroller: this.#host.ipcpName, event: 'enroller:unfenced', confirmed, dropped },
      `the shared store is back: ${confirmed} members' bindings confirmed, ${dropped} dropped (gone or taken meanwhile: they enrol again)`,
    );
  }

  /** Checks the member's lease when it would expire; re-arms itself while the member speaks. */
  #armLease(member: MemberRecord): void {
    const { ticker, leaseMs, clock } = this.#host;
    ticker.cancel(member.lease);
    const check = (): void => {
      member.lease = undefined;
      // (Only the listed record's lease fires: every way off the list goes through forget(), which cancels it.)
      if (!this.#host.running()) return;
      if (clock.now() - member.lastSeenAt >= leaseMs) this.retire(member, 'gone');
      else member.lease = ticker.schedule(member.lastSeenAt + leaseMs, check);
    };
    member.lease = ticker.schedule(member.lastSeenAt + leaseMs, check);
  }
}
