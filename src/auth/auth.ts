/**
 * Authentication of enrollment (CACEP's `auth_mech` / `auth_value` on
 * M_CONNECT and M_CONNECT_R), with three mechanisms:
 *
 * - `none` (AUTH_NONE, 0): anyone may enrol.
 * - `passwd` (AUTH_PASSWD, 1): the member sends a password in clear, as rlite
 *   does. Plaintext: for trusted lower networks only.
 * - `hmac-sha256` (ours, 100, in the private range): mutual challenge-response
 *   over a pre-shared key. Each side sends a fresh 32-byte nonce; each proves
 *   it holds the key with an HMAC-SHA256 over both nonces, both IPCP names and
 *   the DIF's name. The secret never crosses the wire, a recorded exchange
 *   cannot be replayed (the other side's nonce is new each time), and proofs
 *   are compared in constant time.
 *
 * The exchange, with no round trip added:
 *
 *     M_CONNECT    auth_value.auth_other = Nm
 *     M_CONNECT_R  auth_value.auth_other = Ne | HMAC(K, "enroller", Nm, Ne, member, enroller, dif)
 *     M_START      EnrollmentInfo.auth_proof = HMAC(K, "member", Nm, Ne, member, enroller, dif)
 *
 * The member checks the enroller's proof before it sends M_START; the
 * enroller checks the member's before it assigns an address. From M_START on,
 * every PDU both ways is sealed with a session key derived from the key and
 * both nonces (src/auth/channel.ts): a sequence number and a MAC.
 *
 * @module
 */
import * as z from 'zod/mini';
import { type AuthValue, AuthType } from '../cdap/types.js';
import { crypto } from '../util/builtins.js';
import { SecureChannel } from './channel.js';

const NO_PROOF = { proof: undefined, channel: undefined } as const;

/** How a member proves itself, or what an enroller demands. Secrets stay out of errors, logs and events. */
export type AuthOptions =
  | {
      /** No authentication (AUTH_NONE, 0). */
      readonly mechanism: 'none';
    }
  | {
      /** A password sent in clear (AUTH_PASSWD, 1): for trusted lower networks only. */
      readonly mechanism: 'passwd';
      /** The password; not empty. */
      readonly password: string;
    }
  | {
      /** Mutual HMAC-SHA256 challenge-response over a pre-shared key (ours, 100). */
      readonly mechanism: 'hmac-sha256';
      /** The pre-shared key, at least 16 bytes (a string counts in UTF-8 bytes). */
      readonly key: string | Uint8Array;
    };

/** The zod schema of {@link AuthOptions}; never echoes a secret in its messages. */
export const authOptionsSchema = z.discriminatedUnion(
  'mechanism',
  [
    z.strictObject({
      /** No authentication (AUTH_NONE, 0). */
      mechanism: z.literal('none'),
    }),
    z.strictObject({
      /** A password sent in clear (AUTH_PASSWD, 1): for trusted lower networks only. */
      mechanism: z.literal('passwd'),
      /** The password; not empty. */
      password: z.string({ error: 'must be a string' }).check(z.minLength(1, { error: 'must not be empty' })),
    }),
    z.strictObject({
      /** Mutual HMAC-SHA256 challenge-response over a pre-shared key (ours, 100). */
      mechanism: z.literal('hmac-sha256'),
      /** The pre-shared key, at least 16 bytes (a string counts in UTF-8 bytes). */
      key: z
        .union([z.string(), z.custom<Uint8Array>((v) => v instanceof Uint8Array)], { error: 'must be a string or a Uint8Array' })
        .check(z.refine((k) => Buffer.byteLength(k) >= 16, { error: 'must be at least 16 bytes' })), // a string in UTF-8
    }),
  ],
  { error: 'mechanism must be "none", "passwd" or "hmac-sha256"' },
);

const NONCE_BYTES = 32;
const LABEL = 'rina-enrollment/hmac-sha256/v1';

/** The HMAC over the exchange, each part length-prefixed so that no two inputs encode alike. */
function proof(key: string | Uint8Array, role: 'enroller' | 'member', parts: HmacParts): Buffer {
  const mac = crypto().createHmac('sha256', key);
  for (const part of [LABEL, role, parts.memberNonce, parts.enrollerNonce, parts.member, parts.enroller, parts.dif]) {
    const bytes = typeof part === 'string' ? Buffer.from(part, 'utf8') : part;
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    mac.update(length);
    mac.update(bytes);
  }
  return mac.digest();
}

interface HmacParts {
  memberNonce: Uint8Array;
  enrollerNonce: Uint8Array;
  member: string;
  enroller: string;
  dif: string;
}

/** Equal in constant time, whatever the lengths (hashing first hides them). */
function sameSecret(a: string | Uint8Array, b: string | Uint8Array): boolean {
  const digest = (x: string | Uint8Array) => crypto().createHash('sha256').update(x).digest();
  return crypto().timingSafeEqual(digest(a), digest(b));
}

function sameMac(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && a.length === b.length && crypto().timingSafeEqual(a, b);
}

/** The member's side of one CONNECT. */
export interface MemberAuthSession {
  readonly authMech: number;
  readonly authValue: AuthValue | undefined;
  /**
   * Checks M_CONNECT_R: returns the proof to put in M_START and the channel
   * every later PDU of the enrollment goes through (both undefined when the
   * mechanism has none), or `false` when the enroller failed to prove it
   * holds the key.
   */
  accept(reply: {
    authValue?: AuthValue | undefined;
    srcApName?: string | undefined;
  }): { readonly proof: Uint8Array | undefined; readonly channel: SecureChannel | undefined } | false;
}

/** Starts the member's side of one CONNECT. `difName` is required for `hmac-sha256`. */
export function memberAuth(options: AuthOptions, member: string, difName: string | undefined): MemberAuthSession {
  switch (options.mechanism) {
    case 'none':
      return { authMech: AuthType.AUTH_NONE, authValue: undefined, accept: () => NO_PROOF };
    case 'passwd':
      return {
        authMech: AuthType.AUTH_PASSWD,
        authValue: { authName: member, authPassword: options.password },
        accept: () => NO_PROOF,
      };
    case 'hmac-sha256': {
      const memberNonce = crypto().randomBytes(NONCE_BYTES);
      return {
        authMech: AuthType.AUTH_HMAC_SHA256,
        authValue: { authName: member, authOther: memberNonce },
        accept: (reply) => {
          const other = reply.authValue?.authOther;
          // (a reply of the wrong length fails the proof's own length check below)
          if (other === undefined || !reply.srcApName) return false;
          const parts: HmacParts = {
            memberNonce,
            enrollerNonce: other.subarray(0, NONCE_BYTES),
            member,
            enroller: reply.srcApName,
            dif: difName ?? '',
          };
          if (!sameMac(other.subarray(NONCE_BYTES), proof(options.key, 'enroller', parts))) return false;
          return { proof: proof(options.key, 'member', parts), channel: SecureChannel.forMember({ key: options.key, ...parts }) };
        },
      };
    }
  }
}

/** The enroller's verdict on an M_CONNECT. */
export type ConnectVerdict =
  | { readonly ok: false; readonly reason: string }
  | {
      readonly ok: true;
      /** What M_CONNECT_R carries back. */
      readonly authMech: number;
      readonly authValue: AuthValue | undefined;
      /** Checks the proof M_START carries; absent when the mechanism has none. */
      readonly checkProof: ((proof: Uint8Array | undefined) => boolean) | undefined;
      /** The channel every PDU after M_CONNECT_R goes through; absent when the mechanism has none. */
      readonly channel: SecureChannel | undefined;
    };

/** The enroller's side: what it demands of every member. */
export class EnrollerAuth {
  readonly #options: AuthOptions;
  readonly #enroller: string;
  readonly #dif: string;

  constructor(options: AuthOptions, enroller: string, dif: string) {
    this.#options = options;
    this.#enroller = enroller;
    this.#dif = dif;
  }

  /** The mechanism demanded. */
  get mechanism(): AuthOptions['mechanism'] {
    return this.#options.mechanism;
  }

  /** Judges an M_CONNECT's credentials; the reasons never name or hint at the secret. */
  connect(msg: { authMech?: number | undefined; authValue?: AuthValue | undefined; srcApName?: string | undefined }): ConnectVerdict {
    const o = this.#options;
    const mech = msg.authMech ?? AuthType.AUTH_NONE;
    if (o.mechanism === 'none')
      return { ok: true, authMech: AuthType.AUTH_NONE, authValue: undefined, checkProof: undefined, channel: undefined };
    if (o.mechanism === 'passwd') {
      if (mech !== AuthType.AUTH_PASSWD) return { ok: false, reason: 'authentication required (AUTH_PASSWD)' };
      const password = msg.authValue?.authPassword;
      if (password === undefined || !sameSecret(password, o.password)) {
        return { ok: false, reason: "authentication failed: the enroller refused the member's password" };
      }
      return { ok: true, authMech: AuthType.AUTH_PASSWD, authValue: undefined, checkProof: undefined, channel: undefined };
    }
    if (mech !== AuthType.AUTH_HMAC_SHA256) return { ok: false, reason: 'authentication required (HMAC-SHA256)' };
    const memberNonce = msg.authValue?.authOther;
    if (memberNonce === undefined || memberNonce.length !== NONCE_BYTES) {
      return { ok: false, reason: 'authentication failed: the enroller refused an M_CONNECT without a 32-byte nonce' };
    }
    const parts: HmacParts = {
      memberNonce,
      enrollerNonce: crypto().randomBytes(NONCE_BYTES),
      member: msg.srcApName ?? '',
      enroller: this.#enroller,
      dif: this.#dif,
    };
    const expected = proof(o.key, 'member', parts);
    return {
      ok: true,
      authMech: AuthType.AUTH_HMAC_SHA256,
      authValue: { authOther: Buffer.concat([parts.enrollerNonce, proof(o.key, 'enroller', parts)]) },
      checkProof: (given) => sameMac(given, expected),
      channel: SecureChannel.forEnroller({ key: o.key, ...parts }),
    };
  }
}
