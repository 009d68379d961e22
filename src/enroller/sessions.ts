/**
 * The enrollments in progress, keyed by the shim address they come from,
 * and the one interval that sends M_STOP again while its M_STOP_R is missing
 * and forgets enrollments whose member has been silent for the pending timeout.
 *
 * @module
 */
import type { SecureChannel } from '../auth/channel.js';
import type { InvokeIds } from '../cdap/messages.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { ReturnSlots } from './return-slots.js';
import { RoundTrips } from './round-trips.js';

/**
 * An enrollment in progress is forgotten this many `pendingTimeoutMs` after
 * its M_CONNECT, however often its member speaks: a slow member has room to
 * complete, and a peer that keeps speaking without completing holds that
 * enrollment only so long (an M_CONNECT anew starts another, through
 * admission again).
 */
export const MAX_PENDING_SPANS = 4;

/** M_STOP's interval doubles up to this many `retransmitMs`; the round-trip window is at most as long. */
const MAX_STOP_INTERVALS = 8;

/** The longest interval between two M_STOPs to one member, for a `retransmitMs`: also the longest round-trip window and queue delay the enroller counts. */
export function longestStopIntervalMs(retransmitMs: number): number {
  return MAX_STOP_INTERVALS * retransmitMs;
}

/** A peer that holds a name here, enrolled or enrolling: what a liveness probe needs of it. */
export interface Peer {
  /** Its IPCP name. */
  readonly name: string;
  /** Where it speaks from. */
  readonly shimAddress: string;
  /** The clock's time of its last message. */
  lastSeenAt: number;
}

/** One member's enrollment in progress, keyed by its shim address. */
export interface Session extends Peer {
  /** Another holds the name: the newcomer contests it once its M_START proof is verified. */
  contested: boolean;
  /** The enroller's fence count when the address was bound: a fence since voids the binding for this enrollment. */
  fences: number;
  /** When the name's hold, cancelled by this enrollment, would have ended (the clock's time). */
  heldUntil?: number | undefined;
  /** The invoke id of its M_CONNECT (a repeated one is answered again). */
  readonly connectInvokeId: number;
  /** The M_CONNECT_R sent, encoded. */
  readonly connectReply: Uint8Array;
  /** Invoke ids of the enroller's requests in this enrollment (M_CREATE, M_STOP). */
  readonly ids: InvokeIds;
  /** When M_CONNECT was accepted. */
  readonly createdAt: number;
  /** The invoke id of the M_START being answered. */
  startInvokeId?: number | undefined;
  /** START_R, the M_CREATEs and M_STOP, encoded once and sent again for a repeated M_START. */
  burst?: Uint8Array[] | undefined;
  /** The invoke id of the M_STOP sent. */
  stopInvokeId?: number | undefined;
  /** The address bound for it. */
  address?: number | undefined;
  /** The fence count `address` was bound under (the enroller's `fences` then). */
  boundUnder?: number | undefined;
  /** Checks the member's proof in M_START (HMAC-SHA256 authentication). */
  checkProof?: ((proof: Uint8Array | undefined) => boolean) | undefined;
  /** With HMAC-SHA256: the channel every PDU of this enrollment after M_CONNECT_R goes through. */
  readonly channel: SecureChannel | null;
  /**
   * With HMAC-SHA256: a PDU its channel opened has come. Until then its M_CONNECT (which anyone can send, from any
   * address) is all there is: no sign of life of whoever is at that address, and no channel to probe them through.
   */
  proven?: boolean | undefined;
  /** The name had no address before this enrollment: if it never completes, the address goes back (at once, unless `told`). */
  newBinding?: boolean | undefined;
  /** A member record of its name was let go for it (see `MemberRegistryHost.takeOver`): ended with no address, it lets the name go as the record would have. */
  tookOver?: boolean | undefined;
  /** Its bind is in flight: the bind's answer, not the session's end, decides what becomes of the name. */
  binding?: boolean | undefined;
  /** An M_START of it is being answered (admitted, bound, its burst not sent yet): another one with a new invoke id waits for its retransmission. */
  answering?: boolean | undefined;
  /** Its member was told `address` (M_START_R and M_STOP went out, for this enrollment or one it took the binding over from). */
  told?: boolean | undefined;
  /** When M_CONNECT_R, the burst or M_STOP was last sent. */
  lastSentAt: number;
  /** The member's next step is no round-trip sample: something was sent twice, or the step was measured already (see `RoundTrips`). */
  unsampled?: boolean | undefined;
  /** The current retransmission interval of M_STOP. */
  retransmitMs: number;
  /** Its M_START was refused for good (see {@link SessionTable.refused}): kept to answer a repeat, but no longer in progress. */
  refused?: boolean | undefined;
}

/**
 * `heir`, the same member's newer enrollment, takes over the address bound
 * for `from` (and what the binding was made under: whether it was new, the
 * hold it ended, the fence count).
 */
export function inherit(heir: Session, { address, newBinding, told, heldUntil, boundUnder }: Session): void {
  heir.address = address;
  heir.newBinding = newBinding;
  heir.told = told;
  heir.heldUntil = heldUntil;
  heir.boundUnder = boundUnder;
}

/** What the session table needs of the enroller. */
export interface SessionTableHost {
  /** The clock the sweep runs on. */
  readonly clock: Clock;
  /** Period of the sweep, and first retransmission interval of M_STOP, in ms. */
  readonly retransmitMs: number;
  /** Age at which an enrollment in progress is forgotten, in ms. */
  readonly pendingTimeoutMs: number;
  /** How many enrollments refused for good are kept to answer a repeat (`maxPendingEnrollments`); one more is forgotten at once. */
  readonly maxRefused: number;
  /** Whether the enroller serves (the sweep runs only then). */
  running(): boolean;
  /** An abandoned enrollment's address goes back (see {@link SessionTable.abandon}). */
  abandoned(session: Session): void;
  /** Sends encoded bytes sealed by `channel` (M_STOP again). */
  sendBytes(to: string, pdu: Uint8Array, channel: SecureChannel | null): void;
  /** The enroller's receive queue: how long a datagram waits in it now, measured while `watch`ed (see `QueueProbe`). */
  readonly queue: { readonly delayMs: number; watch(on: boolean): void };
}

/**
 * The enrollments in progress (one per shim address), the name each holds,
 * and with HMAC-SHA256 the newer enrollments waiting to prove themselves.
 * Its sweep runs while any is in progress.
 */
export class SessionTable {
  readonly #host: SessionTableHost;
  readonly #sessions = new Map<string, Session>();
  readonly #byName = new Map<string, string>();
  /**
   * With HMAC-SHA256: an enrollment that connected from an address whose
   * previous enrollment is still in progress. An M_CONNECT proves nothing, so
   * it does not end the other one; its first PDU that its own channel opens
   * does (see {@link promote}). One per address; forgotten after the pending timeout.
   */
  readonly #candidates = new Map<string, Session>();
  #sweep: TimerHandle | undefined;
  /** Sessions (candidates aside) whose M_START was refused for good. */
  #refused = 0;
  readonly #slots = new ReturnSlots();
  readonly #roundTrips: RoundTrips;

  constructor(host: SessionTableHost) {
    this.#host = host;
    this.#roundTrips = new RoundTrips(longestStopIntervalMs(host.retransmitMs));
  }

  /** Enrollments in progress (candidates aside, and those refused for good). */
  get size(): number {
    return this.#sessions.size - this.#refused;
  }

  /** Enrollments in progress, candidates included: what `maxPendingEnrollments` bounds. */
  get inProgress(): number {
    return this.size + this.#candidates.size;
  }

  /**
   * `session`'s M_START was refused for good (`true`: a full pool or DIF, a name in use, a failed proof):
   * it stays to answer a repeat of that M_START alike until the pending timeout (at most `maxRefused` of them: one
   * more is forgotten at once), but no longer counts as in progress, so that refused newcomers do not take the
   * places of members who can enrol. `false`: counts again.
   */
  refused(session: Session, refused: boolean): void {
    if ((session.refused === true) === refused || this.#sessions.get(session.shimAddress) !== session) return;
    if (refused && this.#refused >= this.#host.maxRefused) {
      // (refused ones count for no place: a flood of M_CONNECTs and M_STARTs against a full pool must not pile them up)
      this.delete(session.shimAddress);
      return;
    }
    session.refused = refused;
    this.#refused += refused ? 1 : -1;
    this.#update();
  }

  /** The enrollment in progress from `from`. */
  get(from: string): Session | undefined {
    return this.#sessions.get(from);
  }

  /** The newer enrollment from `from` that has not proven itself yet. */
  candidate(from: string): Session | undefined {
    return this.#candidates.get(from);
  }

  /** Every enrollment in progress, by shim address. */
  entries(): IterableIterator<[string, Session]> {
    return this.#sessions.entries();
  }

  /** The enrollment in progress that holds `name` (a contested one does not). */
  holding(name: string): Session | undefined {
    const from = this.#byName.get(name);
    return from === undefined ? undefined : this.#sessions.get(from);
  }

  /** Whether an enrollment in progress has reached M_START for `name` (its address is being bound, or was). */
  serving(name: string): boolean {
    const session = this.holding(name);
    return session !== undefined && (session.startInvokeId !== undefined || session.address !== undefined);
  }

  /** Makes `session` the enrollment from `from`; it holds its name unless contested. */
  set(from: string, session: Session): void {
    const before = this.#sessions.get(from);
    if (before !== undefined && before !== session && before.refused === true) this.#refused--;
    this.#sessions.set(from, session);
    if (!session.contested) this.#byName.set(session.name, from);
    this.#update();
  }

  /** Keeps `session` as the unproven newer enrollment from `from`. */
  setCandidate(from: string, session: Session): void {
    this.#candidates.set(from, session);
    this.#update();
  }

  /** A contested enrollment won its name: it holds it now. */
  won(session: Session): void {
    session.contested = false;
    this.#byName.set(session.name, session.shimAddress);
  }

  /** The candidate from `from` proved itself: it replaces the enrollment it found there (see {@link replace}). */
  promote(from: string, candidate: Session): void {
    this.#candidates.delete(from);
    this.replace(from, candidate);
  }

  /**
   * Makes `session` the enrollment from `from`, in place of the one in
   * progress there. The same member asking again (the same name, not
   * contested) keeps the address bound for the enrollment it replaces: it
   * is not given back only to be bound again, two store transactions for
   * nothing, each retry of an overloaded enroller adding to its load. Any
   * other enrollment found there is abandoned.
   */
  replace(from: string, session: Session): void {
    const current = this.#sessions.get(from);
    if (current !== undefined && current.address !== undefined && current.name === session.name && !session.contested) {
      inherit(session, current);
      this.delete(from);
    } else if (current !== undefined) {
      this.abandon(from, current);
    }
    this.set(from, session);
  }

  /**
   * The enrollment from `from` completed: forgotten, and its time in
   * progress counted in the pace members refused "busy" are told to come
   * back at (see {@link retryInMs}).
   */
  complete(from: string, session: Session): void {
    this.roundTrip(session, session.lastSentAt); // the burst to this M_STOP_R
    this.delete(from);
    this.#slots.completed(this.#host.clock.now() - session.createdAt);
  }

  /**
   * `session`'s member took its next step, in answer to what was sent at `sentAt`: a round-trip sample, unless
   * something was sent twice since or this step was measured already.
   */
  roundTrip(session: Session, sentAt: number): void {
    if (!session.unsampled) this.#roundTrips.sample(this.#host.clock.now() - sentAt);
    session.unsampled = true;
  }

  /** `session`'s burst (M_START_R … M_STOP) goes out now: a new exchange, whose M_STOP_R is a round-trip sample. */
  burstSent(session: Session): void {
    session.lastSentAt = this.#host.clock.now();
    session.unsampled = false;
  }

  /**
   * `session`'s next step is no round-trip sample: something was sent to its member again (a copy of its request
   * came), or it completed in a way that measures nothing (a keepalive in place of a lost M_STOP_R).
   */
  unsampled(session: Session): void {
    session.unsampled = true;
  }

  /** In how many ms a member refused "busy" now should ask again: the next free slot (see `ReturnSlots`). */
  retryInMs(): number {
    return this.#slots.next(this.#host.clock.now(), this.inProgress);
  }

  /** Forgets the enrollment from `from` (completed, or abandoned). */
  delete(from: string): void {
    const session = this.#sessions.get(from);
    if (session === undefined) return;
    this.#sessions.delete(from);
    if (session.refused === true) this.#refused--;
    if (this.#byName.get(session.name) === from) this.#byName.delete(session.name);
    this.#update();
  }

  /** Forgets a half-finished enrollment; the host gives back an address it bound (see {@link SessionTableHost.abandoned}). */
  abandon(from: string, session: Session): void {
    if (this.#sessions.get(from) === session) this.delete(from);
    this.#host.abandoned(session);
  }

  /** Forgets everything, and stops the sweep. */
  clear(): void {
    this.#slots.reset();
    this.#sessions.clear();
    this.#refused = 0;
    this.#candidates.clear();
    this.#byName.clear();
    this.#update();
  }

  /**
   * Sends M_STOP again to members whose M_STOP_R is missing; forgets
   * enrollments whose member has been silent for the pending timeout (not
   * counted from M_CONNECT: on an overloaded machine a live member's M_START
   * and M_STOP_R can each take many seconds, and an enrollment forgotten
   * while its member completes it costs a release and a whole enrollment
   * more), and any enrollment {@link MAX_PENDING_SPANS} pending timeouts
   * after its M_CONNECT, however often its member speaks. Unproven
   * candidates go by age.
   */
  sweep(): void {
    const { clock, pendingTimeoutMs, retransmitMs } = this.#host;
    const t = clock.now();
    const queueMs = this.#host.queue.delayMs;
    for (const [from, candidate] of this.#candidates) {
      if (t - candidate.createdAt > pendingTimeoutMs) this.#candidates.delete(from);
    }
    for (const [from, session] of this.#sessions) {
      if (this.#expired(session, t)) {
        this.abandon(from, session);
        continue;
      }
      const stop = session.burst?.at(-1);
      if (session.stopInvokeId === undefined || stop === undefined) continue;
      // Not while its M_STOP_R may still wait in our own receive queue (its delay now, or the round-trip window),
      // yet within half the pending timeout: a lost M_STOP_R must be asked for again before the enrollment is forgotten.
      const waited = Math.min(pendingTimeoutMs / 2, Math.max(session.retransmitMs + queueMs, this.#roundTrips.windowMs));
      if (t - session.lastSentAt < Math.max(session.retransmitMs, waited)) continue;
      session.lastSentAt = t;
      session.unsampled = true;
      session.retransmitMs = Math.min(session.retransmitMs * 2, longestStopIntervalMs(retransmitMs));
      this.#host.sendBytes(from, stop, session.channel);
    }
    this.#update();
  }

  /** Whether the enrollment is over: its member silent for the pending timeout, or the enrollment {@link MAX_PENDING_SPANS} of them old. */
  #expired(session: Session, t: number): boolean {
    const { pendingTimeoutMs } = this.#host;
    return t - session.lastSeenAt > pendingTimeoutMs || t - session.createdAt > MAX_PENDING_SPANS * pendingTimeoutMs;
  }

  /** One interval timer, running only while enrollments are in progress and the enroller serves. */
  #update(): void {
    const { clock } = this.#host;
    if (this.inProgress === 0) {
      this.#slots.idle();
      this.#roundTrips.reset(); // whatever queued is over
    }
    // (the sweep also forgets sessions refused for good)
    const pending = this.#sessions.size + this.#candidates.size > 0 && this.#host.running();
    this.#host.queue.watch(pending && this.inProgress > 1); // (one enrollment alone has no queue to measure)
    if (pending && this.#sweep === undefined) {
      this.#sweep = clock.setInterval(() => this.sweep(), this.#host.retransmitMs);
    } else if (!pending && this.#sweep !== undefined) {
      clock.clearInterval(this.#sweep);
      this.#sweep = undefined;
    }
  }
}
