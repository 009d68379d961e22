/**
 * Authenticated messages for `hmac-sha256`: once M_CONNECT and M_CONNECT_R
 * have exchanged both nonces, each side derives a session key from the
 * pre-shared key and the nonces, and every PDU after M_CONNECT_R carries a
 * tag: a sequence number and a MAC over it and the PDU. A PDU whose tag is
 * missing or wrong is dropped; one whose sequence number was seen already (a
 * replay, or a duplicate the network made) is dropped too.
 *
 * On the wire the tag is one more protobuf record appended to the encoded
 * CDAPMessage, field 100 (bytes), 24 bytes long:
 *
 *     seq (8 bytes, big-endian, 1, 2, 3, ... per direction)
 *     HMAC-SHA256(K_dir, seq || the CDAPMessage bytes before this record), first 16 bytes
 *
 * with `K_dir` = HKDF-SHA256(ikm = pre-shared key, salt = Nm || Ne,
 * info = label, direction, member, enroller, DIF; each part length-prefixed),
 * one key per direction (`member->enroller`, `enroller->member`), so a PDU
 * cannot be reflected back to its sender. A decoder that does not know field
 * 100 skips it, as protobuf skips any unknown field.
 *
 * The receiver keeps a window of the last sequence numbers (as IPsec's
 * anti-replay window, RFC 6479's ring of bits): datagrams may arrive out of
 * order within it; older ones, and any number seen before, are refused. The
 * member's window is 16,384 wide, the enroller's 256.
 *
 * @module
 */
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { crypto } from '../util/builtins.js';

/** The CDAPMessage field number of the tag (ours; see docs/PROTOCOL.md). */
export const TAG_FIELD = 100;
const SEQ_BYTES = 8;
const MAC_BYTES = 16;
const TAG_BYTES = SEQ_BYTES + MAC_BYTES;
/** The record's key: field 100, wire type 2 (length-delimited), as a varint: 0xa2 0x06; then the length, 24. */
const RECORD_HEAD = Uint8Array.of(0xa2, 0x06, TAG_BYTES);
/**
 * Anti-replay window of each end, in sequence numbers. The member's is wide:
 * the enroller's answer to M_START is a burst (M_START_R, one M_CREATE per
 * RIB object, M_STOP) whose first PDU, the one that matters most, has the
 * lowest number, and datagrams of a burst may arrive in any order. The
 * enroller's is narrow (it holds one channel per member): what members send
 * in bursts are M_CREATE_R answers, harmless to drop.
 */
export const MEMBER_WINDOW = 16_384;
export const ENROLLER_WINDOW = 256;
const LABEL = 'rina-enrollment/hmac-sha256/v1/channel';

/** The parts both sides bind a channel to. */
export interface ChannelParts {
  readonly key: string | Uint8Array;
  readonly memberNonce: Uint8Array;
  readonly enrollerNonce: Uint8Array;
  readonly member: string;
  readonly enroller: string;
  readonly dif: string;
}

/** Why {@link SecureChannel.open} refused a PDU. */
export type OpenFailure = 'unauthenticated' | 'replayed';

function lengthPrefixed(parts: ReadonlyArray<string | Uint8Array>): Buffer {
  return Buffer.concat(
    parts.flatMap((part) => {
      const bytes = typeof part === 'string' ? Buffer.from(part, 'utf8') : Buffer.from(part);
      const length = Buffer.alloc(4);
      length.writeUInt32BE(bytes.length);
      return [length, bytes];
    }),
  );
}

function deriveKey(parts: ChannelParts, direction: 'member->enroller' | 'enroller->member'): Buffer {
  const salt = Buffer.concat([parts.memberNonce, parts.enrollerNonce]);
  const info = lengthPrefixed([LABEL, direction, parts.member, parts.enroller, parts.dif]);
  return Buffer.from(crypto().hkdfSync('sha256', parts.key, salt, info, 32));
}

function mac(key: Buffer, seq: Buffer, body: Uint8Array): Buffer {
  return crypto().createHmac('sha256', key).update(seq).update(body).digest().subarray(0, MAC_BYTES);
}

/** A sealed PDU as {@link splitTag} parts it: the CDAPMessage bytes, and the tag after them. */
export interface SealedPdu {
  readonly body: Uint8Array;
  readonly tag: Uint8Array;
}

/**
 * Splits a PDU into the CDAPMessage bytes before the tag and the tag, or
 * returns undefined when it carries no tag as its last record. Bytes that
 * are not a walkable protobuf message carry none.
 */
export function splitTag(pdu: Uint8Array): SealedPdu | undefined {
  const reader = new BinaryReader(pdu);
  try {
    while (reader.pos < reader.len) {
      const start = reader.pos;
      const [no, wireType] = reader.tag();
      if (no === TAG_FIELD && wireType === WireType.LengthDelimited) {
        const tag = reader.bytes();
        if (reader.pos !== reader.len || tag.length !== TAG_BYTES) return undefined;
        return { body: pdu.subarray(0, start), tag };
      }
      reader.skip(wireType, no);
    }
  } catch {
    // not a walkable protobuf message: no tag
  }
  return undefined;
}

/**
 * One side of an authenticated channel: seals what it sends, opens what it
 * receives. Made by {@link SecureChannel.forMember} or
 * {@link SecureChannel.forEnroller} from the same parts, the two ends match.
 */
export class SecureChannel {
  readonly #sendKey: Buffer;
  readonly #receiveKey: Buffer;
  #sent = 0;
  /** The highest sequence number accepted. */
  #highest = 0;
  /** One bit per sequence number `n` within the window, at `n % window` (RFC 6479's ring). */
  readonly #seen: Uint32Array;
  readonly #window: number;

  private constructor(sendKey: Buffer, receiveKey: Buffer, window: number) {
    this.#sendKey = sendKey;
    this.#receiveKey = receiveKey;
    this.#window = window;
    this.#seen = new Uint32Array(window / 32);
  }

  /** The member's end of the channel. */
  static forMember(parts: ChannelParts): SecureChannel {
    return new SecureChannel(deriveKey(parts, 'member->enroller'), deriveKey(parts, 'enroller->member'), MEMBER_WINDOW);
  }

  /** The enroller's end of the channel. */
  static forEnroller(parts: ChannelParts): SecureChannel {
    return new SecureChannel(deriveKey(parts, 'enroller->member'), deriveKey(parts, 'member->enroller'), ENROLLER_WINDOW);
  }

  /** The encoded CDAPMessage `body` with a fresh tag appended; every call takes the next sequence number. */
  seal(body: Uint8Array): Uint8Array {
    this.#sent++;
    const seq = Buffer.alloc(SEQ_BYTES);
    seq.writeBigUInt64BE(BigInt(this.#sent));
    const out = new Uint8Array(body.length + RECORD_HEAD.length + TAG_BYTES);
    out.set(body, 0);
    out.set(RECORD_HEAD, body.length);
    out.set(seq, body.length + RECORD_HEAD.length);
    out.set(mac(this.#sendKey, seq, body), body.length + RECORD_HEAD.length + SEQ_BYTES);
    return out;
  }

  /**
   * The CDAPMessage bytes of a PDU this channel's other end sealed, or why
   * not: no tag or a wrong one (`unauthenticated`), a sequence number seen
   * already or older than the window (`replayed`). Only an authentic PDU
   * moves the window.
   */
  open(pdu: Uint8Array): { readonly body: Uint8Array } | { readonly failure: OpenFailure } {
    const parts = splitTag(pdu);
    return parts === undefined ? { failure: 'unauthenticated' } : this.openParts(parts);
  }

  /** As {@link open}, for a PDU already split by {@link splitTag} (a receiver trying several channels splits it once). */
  openParts(parts: SealedPdu): { readonly body: Uint8Array } | { readonly failure: OpenFailure } {
    const seqBytes = Buffer.from(parts.tag.subarray(0, SEQ_BYTES));
    const expected = mac(this.#receiveKey, seqBytes, parts.body);
    if (!crypto().timingSafeEqual(expected, parts.tag.subarray(SEQ_BYTES))) return { failure: 'unauthenticated' };
    const seq = seqBytes.readBigUInt64BE();
    if (seq === 0n || seq > BigInt(Number.MAX_SAFE_INTEGER)) return { failure: 'unauthenticated' };
    const n = Number(seq);
    if (n > this.#highest) {
      // The numbers the window moves past are free again in the ring.
      if (n - this.#highest >= this.#window) this.#seen.fill(0);
      else for (let k = this.#highest + 1; k < n; k++) this.#clear(k);
      this.#highest = n;
      this.#clear(n);
    } else if (this.#highest - n >= this.#window) {
      return { failure: 'replayed' };
    }
    const slot = n % this.#window;
    const word = slot >>> 5;
    const bit = 1 << (slot & 31);
    if (((this.#seen[word] ?? 0) & bit) !== 0) return { failure: 'replayed' };
    this.#seen[word] = (this.#seen[word] ?? 0) | bit;
    return { body: parts.body };
  }

  #clear(n: number): void {
    const slot = n % this.#window;
    this.#seen[slot >>> 5] = (this.#seen[slot >>> 5] ?? 0) & ~(1 << (slot & 31));
  }
}
