/**
 * How the enroller sends: replies and requests encoded, sealed by the
 * channel they belong to, and handed to the shim without waiting (a datagram
 * that cannot be sent is a lost datagram: the peer retransmits).
 *
 * @module
 */
import type { SecureChannel } from '../auth/channel.js';
import { encodeCdapMessage } from '../cdap/codec.js';
import { encodeKeepaliveAnswer, encodeKeepaliveRequest, InvokeIds, Result, replyTo } from '../cdap/messages.js';
import { type CdapMessage, isReply, OpCode } from '../cdap/types.js';
import { ProtocolError } from '../errors.js';
import type { Shim } from '../shim/shim.js';
import { type Clock, settleWithin, sleep } from '../util/clock.js';

/** `pdu` sealed by `channel`, or as it is without one. */
export const sealed = (pdu: Uint8Array, channel: SecureChannel | null): Uint8Array => (channel === null ? pdu : channel.seal(pdu));

/** How long stop() waits for the shim to take its M_RELEASEs, after the last went, in ms. */
const RELEASE_SEND_MS = 1000;
/** stop() releases `releasePerSecond` members at once, then as many again every this many ms. */
const RELEASE_SLICE_MS = 1000;

/** Who hears of a stop, and through which channel; `told` is what is returned when one M_RELEASE went. */
export interface Farewell<T> {
  /** Where the member listens. */
  readonly shimAddress: string;
  /** What the caller wants back once an M_RELEASE was taken by the shim (a member record), if anything. */
  readonly told: T | undefined;
  /** The channel the member listens on (null: unsealed). */
  readonly channel: SecureChannel | null;
}

/**
 * Who hears of a stop: enrollments in progress that were told their address
 * (first), and the members (each one `told`). An enrollment in progress from a
 * member's address is the newer one: its channel is the one the member
 * listens on.
 */
export function farewellsOf<M extends { readonly shimAddress: string; readonly channel: SecureChannel | null }>(
  members: Iterable<M>,
  sessions: Iterable<[string, { readonly address?: number | undefined; readonly channel: SecureChannel | null }]>,
): Array<Farewell<M>> {
  const byMember = new Map<string, M>();
  for (const member of members) byMember.set(member.shimAddress, member);
  // Enrollments in progress first: a stop releases its members a slice a second, and an attempt waits on its own timeout.
  const farewells = new Map<string, Farewell<M>>();
  for (const [shimAddress, session] of sessions) {
    if (session.address !== undefined)
      farewells.set(shimAddress, { shimAddress, told: byMember.get(shimAddress), channel: session.channel });
  }
  for (const [shimAddress, member] of byMember)
    if (!farewells.has(shimAddress)) farewells.set(shimAddress, { shimAddress, told: member, channel: member.channel });
  return [...farewells.values()];
}

/** The enroller's sending side, over one shim. */
export class Outbox {
  readonly #shim: Shim;
  readonly #clock: Clock;
  /** Invoke ids of the requests the enroller makes by itself (probes, M_RELEASE). */
  readonly #ids = new InvokeIds(1);

  constructor(shim: Shim, clock: Clock) {
    this.#shim = shim;
    this.#clock = clock;
  }

  /** Answers `request`, sealed by `channel`: the one that opened the request (null: unsealed, as it came). */
  reply(to: string, request: CdapMessage, result: number, reason: string | undefined, channel: SecureChannel | null): void {
    this.send(to, replyTo(request, result, reason), channel);
  }

  /** Encodes and sends `msg`; one that cannot be encoded (e.g. a reply to a request without invoke id) is not sent. */
  send(to: string, msg: CdapMessage, channel: SecureChannel | null): void {
    let pdu: Uint8Array;
    try {
      pdu = encodeCdapMessage(msg);
    } catch {
      return;
    }
    this.sendBytes(to, pdu, channel);
  }

  /** Sends encoded CDAP bytes, sealed by `channel`, as a datagram that may be lost. */
  sendBytes(to: string, pdu: Uint8Array, channel: SecureChannel | null): void {
    try {
      this.#shim.send(to, sealed(pdu, channel)).catch(() => undefined);
    } catch {
      // (a shim that throws instead of rejecting: the datagram is lost all the same, and what sent it carries on)
    }
  }

  /**
   * A PDU that broke the rules (`err`, from the decoder): answered with a
   * failure where a reply is due (through the channel that opened it, if
   * any), never acted on. An M_CONNECT's failure names `ipcpName` as its source.
   */
  replyInvalid(err: unknown, to: string, channel: SecureChannel | null, ipcpName: string): void {
    if (!(err instanceof ProtocolError)) return;
    const { opCode, invokeId } = err;
    // A reply gets no answer; nor does a PDU without op code or invoke id (a reply without one cannot be
    // encoded, and send() drops it).
    if (isReply(opCode as OpCode)) return;
    const request: CdapMessage = { opCode: opCode as OpCode, invokeId };
    if (opCode === OpCode.M_CONNECT) {
      request.srcApName = 'unknown';
      request.destApName = ipcpName;
    }
    this.reply(to, request, Result.FAILED, err.message, channel);
  }

  /** A keepalive M_READ to `to`: a liveness probe. */
  sendProbe(to: string, channel: SecureChannel | null): void {
    this.sendBytes(to, encodeKeepaliveRequest(this.#ids.next()), channel);
  }

  /** Answers a member's keepalive M_READ with OK (its bytes made once per process: {@link encodeKeepaliveAnswer}). */
  answerKeepalive(to: string, request: CdapMessage, channel: SecureChannel | null): void {
    let pdu: Uint8Array;
    try {
      pdu = encodeKeepaliveAnswer(request);
    } catch {
      return; // as send() does with what cannot be encoded
    }
    this.sendBytes(to, pdu, channel);
  }

  /**
   * Tells `to` it holds nothing here (any more): M_RELEASE (unsealed when the
   * enroller holds no channel with it: a member with authentication then
   * drops it, and finds out by its keepalives).
   */
  sendRelease(to: string, channel: SecureChannel | null): void {
    this.send(to, { opCode: OpCode.M_RELEASE, invokeId: this.#ids.next() }, channel);
  }

  /**
   * Sends M_RELEASE twice to each of `farewells`, `perSecond` of them at
   * once and as many again each second after, waiting at most
   * {@link RELEASE_SEND_MS} after the last for the shim to take them; returns
   * the `told` of those at least one went to.
   */
  async sendFarewells<T>(farewells: Array<Farewell<T>>, perSecond: number): Promise<T[]> {
    // The library's timers are unref'd, but a stop that releases in slices is awaited work: without a handle that
    // keeps the process alive, one with nothing else open (a memory shim) would exit before its last slice.
    const alive = farewells.length > perSecond ? setInterval(() => undefined, 2 ** 30) : undefined;
    try {
      return await this.#release(farewells, perSecond);
    } finally {
      clearInterval(alive);
    }
  }

  async #release<T>(farewells: Array<Farewell<T>>, perSecond: number): Promise<T[]> {
    const told = new Set<T>();
    const sends: Array<Promise<void>> = [];
    for (let from = 0; from < farewells.length; from += perSecond) {
      if (from > 0) await sleep(RELEASE_SLICE_MS, undefined, this.#clock);
      const slice = farewells.slice(from, from + perSecond);
      for (let copy = 0; copy < 2; copy++) {
        for (const { shimAddress, told: who, channel } of slice) {
          const pdu = sealed(encodeCdapMessage({ opCode: OpCode.M_RELEASE, invokeId: this.#ids.next() }), channel);
          const sent = (async () => this.#shim.send(shimAddress, pdu))();
          sends.push(
            sent.then(
              () => {
                if (who !== undefined) told.add(who);
              },
              () => undefined,
            ),
          );
        }
      }
    }
    await settleWithin(sends, RELEASE_SEND_MS, this.#clock);
    return [...told];
  }
}
