/**
 * With `hmac-sha256`: the member's secure channels, one per enroller it
 * completed an enrollment with, and which of them (or the attempt's) opens
 * an incoming PDU.
 *
 * @module
 */
import { type OpenFailure, type SecureChannel, splitTag } from '../auth/channel.js';
import { decodeCdapMessage } from '../cdap/codec.js';
import { Result } from '../cdap/messages.js';
import { OpCode } from '../cdap/types.js';

/** A PDU that passed: its CDAP bytes, and the channel that opened it (undefined: it came unsealed). */
export interface Opened {
  readonly pdu: Uint8Array;
  readonly channel: SecureChannel | undefined;
}

/** The channels of the member's enrollments and of the one being completed. */
export class MemberChannels {
  /**
   * The channel of the last enrollment completed with each enroller. The
   * current enrollment's is `get(bootstrap)`; the others answer the liveness
   * probes of enrollers this member left (a newcomer claiming its name there).
   */
  #enrolled: Map<string, SecureChannel> | undefined; // made on first use: only hmac-sha256 has channels
  /** The channel of an attempt that succeeded and is being stored, until it completes. */
  #completing: { readonly bootstrap: string; readonly channel: SecureChannel } | undefined;

  /** The channel of the enrollment completed with `bootstrap`, if any. */
  get(bootstrap: string): SecureChannel | undefined {
    return this.#enrolled?.get(bootstrap);
  }

  /** An attempt with `bootstrap` succeeded and its result is being stored (undefined channel: none). */
  completing(bootstrap: string, channel: SecureChannel | undefined): void {
    this.#completing = channel === undefined ? undefined : { bootstrap, channel };
  }

  /** The enrollment with `bootstrap` completed, through `channel` if any. */
  completed(bootstrap: string, channel: SecureChannel | undefined): void {
    this.#completing = undefined;
    if (channel === undefined) return;
    this.#enrolled ??= new Map();
    this.#enrolled.set(bootstrap, channel);
  }

  /**
   * The CDAP bytes of a PDU sealed by a channel this member holds with
   * `from` (the attempt's, the one being completed, or the enrollment's), or
   * the reason it is dropped. Unsealed, only the handshake's answers to the
   * attempt in progress pass (`attempting`: an attempt runs and `from` is
   * its bootstrap): M_CONNECT_R, which carries the enroller's proof, and
   * M_START_R "not connected", which only makes the attempt connect again.
   */
  open(pdu: Uint8Array, from: string, attempting: boolean, attemptChannel: SecureChannel | undefined): Opened | OpenFailure {
    const split = splitTag(pdu);
    if (split === undefined) {
      return attempting && isHandshakeAnswer(pdu) ? { pdu, channel: undefined } : 'unauthenticated';
    }
    const channels: SecureChannel[] = [];
    if (attemptChannel !== undefined && attempting) channels.push(attemptChannel);
    if (this.#completing !== undefined && from === this.#completing.bootstrap) channels.push(this.#completing.channel);
    const enrolled = this.#enrolled?.get(from);
    if (enrolled !== undefined) channels.push(enrolled);
    let failure: OpenFailure = 'unauthenticated';
    for (const channel of channels) {
      const opened = channel.openParts(split);
      if ('body' in opened) return { pdu: opened.body, channel };
      if (opened.failure === 'replayed') failure = 'replayed';
    }
    return failure;
  }
}

/**
 * The channels of a member without `hmac-sha256`, which never has one: every
 * such member shares this one, which keeps nothing.
 */
class NoChannels extends MemberChannels {
  override completing(): void {}
  override completed(): void {}
}

/** The one {@link MemberChannels} of every member without `hmac-sha256`. */
export const NO_CHANNELS: MemberChannels = new NoChannels();

/** Whether an unsealed PDU is an answer of the handshake that `hmac-sha256` lets through. */
function isHandshakeAnswer(pdu: Uint8Array): boolean {
  try {
    const msg = decodeCdapMessage(pdu);
    return msg.opCode === OpCode.M_CONNECT_R || (msg.opCode === OpCode.M_START_R && msg.result === Result.NOT_CONNECTED);
  } catch {
    return true; // malformed: the attempt notes the problem, as it does without authentication
  }
}
