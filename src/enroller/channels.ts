/**
 * With HMAC-SHA256: which of the channels the enroller holds with a shim
 * address opens a received PDU, and so what the PDU may act on.
 *
 * @module
 */
import { type OpenFailure, type SecureChannel, splitTag } from '../auth/channel.js';
import { decodeCdapMessage } from '../cdap/codec.js';
import { Result } from '../cdap/messages.js';
import { OpCode } from '../cdap/types.js';
import type { EnrollerStats } from './events.js';
import type { MemberRegistry } from './members.js';
import type { Outbox } from './outbox.js';
import type { SessionTable } from './sessions.js';

/**
 * Which channel opened a received PDU: `plain` without HMAC-SHA256; with it,
 * `unsealed` (M_CONNECT, or bytes that are not CDAP), `session` (the
 * enrollment in progress from the sender), `candidate` (a newer enrollment
 * from there, until it proves itself) or `member` (the member enrolled there).
 */
export type Via = 'plain' | 'unsealed' | 'session' | 'candidate' | 'member';

/** A received PDU as authentication left it: the CDAP bytes, and the channel that opened them. */
export interface Opened {
  /** The CDAP bytes. */
  readonly pdu: Uint8Array;
  /** Which channel opened them. */
  readonly via: Via;
  /** That channel (null: none). */
  readonly channel: SecureChannel | null;
}

/** The op code of an unsealed PDU, or undefined when it is not CDAP (the decoder then answers it as malformed). */
function opCodeOf(pdu: Uint8Array): OpCode | undefined {
  try {
    return decodeCdapMessage(pdu).opCode;
  } catch {
    return undefined;
  }
}

/** Opens received PDUs with the channels of the enrollments and members at their sender's address. */
export class ChannelOpener {
  readonly #sessions: SessionTable;
  readonly #members: MemberRegistry;
  readonly #stats: EnrollerStats;
  readonly #outbox: Outbox;

  constructor(sessions: SessionTable, members: MemberRegistry, stats: EnrollerStats, outbox: Outbox) {
    this.#sessions = sessions;
    this.#members = members;
    this.#stats = stats;
    this.#outbox = outbox;
  }

  /**
   * The CDAP bytes of a PDU sealed by a channel this enroller holds with
   * `from`, and which one opened it: the enrollment in progress from there
   * (`session`; a newer one that connected meanwhile is tried too, and takes
   * its place once a PDU proves it), or the member enrolled there
   * (`member`). Undefined (dropped, and counted) for any other PDU.
   * Unsealed, only M_CONNECT passes (it opens a channel, and proves nothing
   * by itself), and what is not CDAP at all (answered unsealed, as
   * malformed). A sealed M_START that no channel opens (this enroller
   * restarted, or forgot the enrollment) is answered "not connected",
   * unsealed: the member connects again within its attempt.
   */
  open(pdu: Uint8Array, from: string): Opened | undefined {
    const split = splitTag(pdu);
    if (split === undefined) {
      const opCode = opCodeOf(pdu);
      if (opCode === OpCode.M_CONNECT || opCode === undefined) return { pdu, via: 'unsealed', channel: null };
      this.#stats.unauthenticated++;
      return undefined;
    }
    const candidate = this.#sessions.candidate(from);
    const tries: Array<[Via, SecureChannel | null | undefined]> = [
      ['session', this.#sessions.get(from)?.channel],
      ['candidate', candidate?.channel],
      ['member', this.#members.at(from)?.channel],
    ];
    let failure: OpenFailure = 'unauthenticated';
    for (const [via, channel] of tries) {
      if (channel == null) continue;
      const result = channel.openParts(split);
      if ('body' in result) {
        if (via !== 'candidate' || candidate === undefined) return { pdu: result.body, via, channel };
        // The newer enrollment proved it holds the key: it replaces the one it found.
        this.#sessions.promote(from, candidate);
        return { pdu: result.body, via: 'session', channel };
      }
      if (result.failure === 'replayed') failure = 'replayed';
    }
    this.#stats[failure]++;
    if (failure === 'unauthenticated') this.#notConnected(split.body, from);
    return undefined;
  }

  /** A sealed M_START no channel opens: "not connected", unsealed. */
  #notConnected(body: Uint8Array, from: string): void {
    try {
      const msg = decodeCdapMessage(body);
      if (msg.opCode === OpCode.M_START && msg.invokeId) {
        this.#outbox.reply(from, msg, Result.NOT_CONNECTED, 'not connected: send M_CONNECT first', null);
      }
    } catch {
      // not even CDAP: dropped
    }
  }
}
