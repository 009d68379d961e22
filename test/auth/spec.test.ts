/**
 * src/auth against docs/PROTOCOL.md, computed here from the text of §5 (the
 * proofs) and §9 (the channel keys and tags) with node:crypto alone: a change
 * to a label, a role, the order or framing of the parts, or a bound, changes
 * the wire and fails here even when both ends of the library change alike.
 */
import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { authOptionsSchema, EnrollerAuth, memberAuth } from '../../src/auth/auth.js';
import { ENROLLER_WINDOW, MEMBER_WINDOW, SecureChannel, splitTag } from '../../src/auth/channel.js';
import { AuthType } from '../../src/cdap/types.js';
import { encodeCdapMessage, OpCode } from '../../src/index.js';

const KEY = 'correct horse battery staple';

/** P(x): x's length as 4 bytes big-endian, then x (strings as UTF-8). */
function P(...parts: Array<string | Uint8Array>): Buffer {
  return Buffer.concat(
    parts.flatMap((x) => {
      const bytes = typeof x === 'string' ? Buffer.from(x, 'utf8') : Buffer.from(x);
      const length = Buffer.alloc(4);
      length.writeUInt32BE(bytes.length);
      return [length, bytes];
    }),
  );
}

interface Names {
  nm: Uint8Array;
  ne: Uint8Array;
  member: string;
  enroller: string;
  dif: string;
}

/** §5: proof(role) = HMAC-SHA256(K, P(label) ‖ P(role) ‖ P(Nm) ‖ P(Ne) ‖ P(member) ‖ P(enroller) ‖ P(DIF)). */
function proof(key: string | Uint8Array, role: string, n: Names): Buffer {
  return createHmac('sha256', key)
    .update(P('rina-enrollment/hmac-sha256/v1', role, n.nm, n.ne, n.member, n.enroller, n.dif))
    .digest();
}

/** §9: K_dir = HKDF-SHA256(K, salt Nm ‖ Ne, info P(label) ‖ P(dir) ‖ P(member) ‖ P(enroller) ‖ P(DIF), 32). */
function channelKey(key: string | Uint8Array, dir: string, n: Names): Buffer {
  const info = P('rina-enrollment/hmac-sha256/v1/channel', dir, n.member, n.enroller, n.dif);
  return Buffer.from(hkdfSync('sha256', key, Buffer.concat([n.nm, n.ne]), info, 32));
}

/** §9: a2 06 18, then the sequence number (8 bytes big-endian) and HMAC-SHA256(K_dir, seq ‖ body)[0..16). */
function sealAs(key: Buffer, seq: bigint, body: Uint8Array): Uint8Array {
  const seqBytes = Buffer.alloc(8);
  seqBytes.writeBigUInt64BE(seq);
  const mac = createHmac('sha256', key).update(seqBytes).update(body).digest().subarray(0, 16);
  return Buffer.concat([body, Buffer.of(0xa2, 0x06, 0x18), seqBytes, mac]);
}

function names(over: Partial<Names> = {}): Names {
  return { nm: randomBytes(32), ne: randomBytes(32), member: 'm1', enroller: 'e1', dif: 'spec.DIF', ...over };
}

function channelParts(n: Names, key: string | Uint8Array = KEY) {
  return { key, memberNonce: n.nm, enrollerNonce: n.ne, member: n.member, enroller: n.enroller, dif: n.dif };
}

/** What opening gave: 'body' when it is exactly `body`, else why not. */
function outcome(r: ReturnType<SecureChannel['open']>): string {
  if (!('body' in r)) return r.failure;
  return Buffer.from(r.body).equals(body) ? 'body' : 'another body';
}

const body = Buffer.from(encodeCdapMessage({ opCode: OpCode.M_READ, invokeId: 7, objClass: 'keepalive', objName: '/mgmt/keepalive' }));

describe('authOptionsSchema: what each mechanism takes, and the message for what it refuses', () => {
  const message = (input: unknown) => {
    const result = authOptionsSchema.safeParse(input);
    return result.success ? 'ok' : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
  };

  it('names the three mechanisms for any other, and refuses extra keys', () => {
    expect(message({ mechanism: 'kerberos' })).toBe('mechanism: mechanism must be "none", "passwd" or "hmac-sha256"');
    expect(message({})).toBe('mechanism: mechanism must be "none", "passwd" or "hmac-sha256"');
    expect(message({ mechanism: 'none' })).toBe('ok');
    expect(message({ mechanism: 'none', password: 'x' })).toMatch(/password/);
  });

  it('passwd: a non-empty string', () => {
    expect(message({ mechanism: 'passwd', password: 'p' })).toBe('ok');
    expect(message({ mechanism: 'passwd', password: '' })).toBe('password: must not be empty');
    expect(message({ mechanism: 'passwd', password: 42 })).toBe('password: must be a string');
    expect(message({ mechanism: 'passwd' })).toBe('password: must be a string');
  });

  it('hmac-sha256: a string or Uint8Array of at least 16 bytes, a string counted in UTF-8 bytes', () => {
    const tooShort = 'key: must be at least 16 bytes';
    expect(message({ mechanism: 'hmac-sha256', key: 'x'.repeat(16) })).toBe('ok');
    expect(message({ mechanism: 'hmac-sha256', key: 'x'.repeat(15) })).toBe(tooShort);
    expect(message({ mechanism: 'hmac-sha256', key: new Uint8Array(16) })).toBe('ok');
    expect(message({ mechanism: 'hmac-sha256', key: new Uint8Array(15) })).toBe(tooShort);
    // 8 characters of 2 UTF-8 bytes each are 16 bytes; 15 ASCII characters with one of them are 16 too
    expect(message({ mechanism: 'hmac-sha256', key: 'é'.repeat(8) })).toBe('ok');
    expect(message({ mechanism: 'hmac-sha256', key: 'é'.repeat(7) })).toBe(tooShort);
    expect(message({ mechanism: 'hmac-sha256', key: `é${'x'.repeat(14)}` })).toBe('ok');
    expect(message({ mechanism: 'hmac-sha256', key: 42 })).toBe('key: must be a string or a Uint8Array');
    expect(message({ mechanism: 'hmac-sha256', key: new Uint16Array(16) })).toBe('key: must be a string or a Uint8Array');
  });
});

describe('the enroller side (EnrollerAuth)', () => {
  it('none: admits anything and answers AUTH_NONE, with no proof to check and no channel', () => {
    const auth = new EnrollerAuth({ mechanism: 'none' }, 'e1', 'spec.DIF');
    expect(auth.mechanism).toBe('none');
    for (const msg of [{}, { authMech: AuthType.AUTH_PASSWD, authValue: { authPassword: 'x' } }]) {
      expect(auth.connect(msg)).toEqual({
        ok: true,
        authMech: AuthType.AUTH_NONE,
        authValue: undefined,
        checkProof: undefined,
        channel: undefined,
      });
    }
  });

  it('passwd: the right password with AUTH_PASSWD; anything else refused with the reason PROTOCOL.md gives', () => {
    const auth = new EnrollerAuth({ mechanism: 'passwd', password: 'pw' }, 'e1', 'spec.DIF');
    expect(auth.mechanism).toBe('passwd');
    const ok = { ok: true, authMech: AuthType.AUTH_PASSWD, authValue: undefined, checkProof: undefined, channel: undefined };
    expect(auth.connect({ authMech: AuthType.AUTH_PASSWD, authValue: { authPassword: 'pw' } })).toEqual(ok);
    const required = { ok: false, reason: 'authentication required (AUTH_PASSWD)' };
    expect(auth.connect({ authValue: { authPassword: 'pw' } })).toEqual(required);
    expect(auth.connect({ authMech: AuthType.AUTH_HMAC_SHA256, authValue: { authPassword: 'pw' } })).toEqual(required);
    const refused = { ok: false, reason: "authentication failed: the enroller refused the member's password" };
    expect(auth.connect({ authMech: AuthType.AUTH_PASSWD, authValue: { authPassword: 'pw2' } })).toEqual(refused);
    expect(auth.connect({ authMech: AuthType.AUTH_PASSWD, authValue: {} })).toEqual(refused);
    expect(auth.connect({ authMech: AuthType.AUTH_PASSWD })).toEqual(refused);
  });

  it('hmac-sha256: refuses another mechanism, or a nonce that is not 32 bytes, with the reason PROTOCOL.md gives', () => {
    const auth = new EnrollerAuth({ mechanism: 'hmac-sha256', key: KEY }, 'e1', 'spec.DIF');
    expect(auth.mechanism).toBe('hmac-sha256');
    const nonce = randomBytes(32);
    const required = { ok: false, reason: 'authentication required (HMAC-SHA256)' };
    expect(auth.connect({ authMech: AuthType.AUTH_PASSWD, authValue: { authOther: nonce } })).toEqual(required);
    expect(auth.connect({ authValue: { authOther: nonce } })).toEqual(required);
    const noNonce = { ok: false, reason: 'authentication failed: the enroller refused an M_CONNECT without a 32-byte nonce' };
    for (const authValue of [undefined, {}, { authOther: randomBytes(31) }, { authOther: randomBytes(33) }]) {
      expect(auth.connect({ authMech: AuthType.AUTH_HMAC_SHA256, authValue, srcApName: 'm1' })).toEqual(noNonce);
    }
  });

  it('hmac-sha256: answers Ne ‖ proof("enroller") and accepts exactly proof("member") over the same parts', () => {
    const auth = new EnrollerAuth({ mechanism: 'hmac-sha256', key: KEY }, 'e1', 'spec.DIF');
    const nm = randomBytes(32);
    const verdict = auth.connect({ authMech: AuthType.AUTH_HMAC_SHA256, authValue: { authOther: nm }, srcApName: 'm1' });
    if (!verdict.ok) throw new Error(verdict.reason);
    expect(verdict.authMech).toBe(AuthType.AUTH_HMAC_SHA256);
    const other = Buffer.from(verdict.authValue?.authOther ?? []);
    expect(other).toHaveLength(64);
    const n = names({ nm, ne: other.subarray(0, 32) });
    expect(other.subarray(32)).toEqual(proof(KEY, 'enroller', n));
    const check = verdict.checkProof ?? (() => true);
    expect(check(proof(KEY, 'member', n))).toBe(true);
    expect(check(undefined)).toBe(false);
    expect(check(proof(KEY, 'member', n).subarray(0, 31))).toBe(false);
    expect(check(proof(KEY, 'enroller', n))).toBe(false); // a reflected proof
    expect(check(proof(KEY, 'member', { ...n, member: 'm2' }))).toBe(false);
    expect(check(proof('another key of 16+ bytes', 'member', n))).toBe(false);
    // A second M_CONNECT with the same nonce gets a fresh Ne: a recorded M_START's proof does not fit it.
    const again = auth.connect({ authMech: AuthType.AUTH_HMAC_SHA256, authValue: { authOther: nm }, srcApName: 'm1' });
    if (!again.ok) throw new Error(again.reason);
    expect(Buffer.from(again.authValue?.authOther ?? []).subarray(0, 32)).not.toEqual(n.ne);
    expect(again.checkProof?.(proof(KEY, 'member', n))).toBe(false);
    // An M_CONNECT without src_ap_name is proven with an empty member name.
    const anonymous = auth.connect({ authMech: AuthType.AUTH_HMAC_SHA256, authValue: { authOther: nm } });
    if (!anonymous.ok) throw new Error(anonymous.reason);
    const ne = Buffer.from(anonymous.authValue?.authOther ?? []).subarray(0, 32);
    expect(anonymous.checkProof?.(proof(KEY, 'member', { ...n, ne, member: '' }))).toBe(true);
  });
});

describe('the member side (memberAuth)', () => {
  it('none and passwd: what M_CONNECT carries, and nothing to prove afterwards', () => {
    const none = memberAuth({ mechanism: 'none' }, 'm1', undefined);
    expect([none.authMech, none.authValue]).toEqual([AuthType.AUTH_NONE, undefined]);
    expect(none.accept({})).toEqual({ proof: undefined, channel: undefined });
    const passwd = memberAuth({ mechanism: 'passwd', password: 'pw' }, 'm1', undefined);
    expect([passwd.authMech, passwd.authValue]).toEqual([AuthType.AUTH_PASSWD, { authName: 'm1', authPassword: 'pw' }]);
    expect(passwd.accept({})).toEqual({ proof: undefined, channel: undefined });
  });

  it('hmac-sha256: a fresh 32-byte nonce per CONNECT; proof("member") only for the right proof("enroller")', () => {
    const session = memberAuth({ mechanism: 'hmac-sha256', key: KEY }, 'm1', 'spec.DIF');
    expect(session.authMech).toBe(AuthType.AUTH_HMAC_SHA256);
    expect(session.authValue?.authName).toBe('m1');
    const nm = Buffer.from(session.authValue?.authOther ?? []);
    expect(nm).toHaveLength(32);
    expect(Buffer.from(memberAuth({ mechanism: 'hmac-sha256', key: KEY }, 'm1', 'spec.DIF').authValue?.authOther ?? [])).not.toEqual(nm);
    const n = names({ nm });
    const reply = (p: Uint8Array, srcApName = 'e1') => ({ authValue: { authOther: Buffer.concat([n.ne, p]) }, srcApName });
    const accepted = session.accept(reply(proof(KEY, 'enroller', n)));
    if (accepted === false) throw new Error('refused the right proof');
    expect(Buffer.from(accepted.proof ?? [])).toEqual(proof(KEY, 'member', n));
    expect(accepted.channel).toBeInstanceOf(SecureChannel);
    expect(session.accept(reply(proof(KEY, 'member', n)))).toBe(false); // its own proof reflected
    expect(session.accept(reply(proof(KEY, 'enroller', { ...n, enroller: 'e2' })))).toBe(false);
    expect(session.accept(reply(proof(KEY, 'enroller', n), 'e2'))).toBe(false);
    expect(session.accept({ authValue: reply(proof(KEY, 'enroller', n)).authValue })).toBe(false); // no src_ap_name
    expect(session.accept(reply(proof(KEY, 'enroller', n).subarray(0, 31)))).toBe(false);
    expect(session.accept({ srcApName: 'e1' })).toBe(false);
  });

  it('hmac-sha256 without a DIF name proves over an empty one', () => {
    const session = memberAuth({ mechanism: 'hmac-sha256', key: KEY }, 'm1', undefined);
    const n = names({ nm: Buffer.from(session.authValue?.authOther ?? []), dif: '' });
    const accepted = session.accept({ authValue: { authOther: Buffer.concat([n.ne, proof(KEY, 'enroller', n)]) }, srcApName: 'e1' });
    expect(accepted === false ? accepted : Buffer.from(accepted.proof ?? [])).toEqual(proof(KEY, 'member', n));
  });

  it('the member and the enroller of one exchange hold matching channels', () => {
    const session = memberAuth({ mechanism: 'hmac-sha256', key: KEY }, 'm1', 'spec.DIF');
    const verdict = new EnrollerAuth({ mechanism: 'hmac-sha256', key: KEY }, 'e1', 'spec.DIF').connect({
      authMech: session.authMech,
      authValue: session.authValue,
      srcApName: 'm1',
    });
    if (!verdict.ok) throw new Error(verdict.reason);
    const accepted = session.accept({ authValue: verdict.authValue, srcApName: 'e1' });
    if (accepted === false) throw new Error('refused');
    expect(verdict.checkProof?.(accepted.proof)).toBe(true);
    const opened = verdict.channel?.open(accepted.channel?.seal(body) ?? new Uint8Array());
    expect(opened === undefined ? opened : outcome(opened)).toBe('body');
  });
});

/** A fresh end of a channel: opens `seq` as the other end would seal it (§9), and says what came of it. */
function end(side: 'enroller' | 'member'): (seq: bigint | number) => string {
  const n = names();
  const key = channelKey(KEY, side === 'enroller' ? 'member->enroller' : 'enroller->member', n);
  const channel = side === 'enroller' ? SecureChannel.forEnroller(channelParts(n)) : SecureChannel.forMember(channelParts(n));
  return (seq) => outcome(channel.open(sealAs(key, BigInt(seq), body)));
}

describe('the channel on the wire (PROTOCOL.md §9)', () => {
  it('seals as the text says: a2 06 18, sequence numbers 1, 2, ... and the MAC under K_dir', () => {
    const n = names();
    const member = SecureChannel.forMember(channelParts(n));
    const enroller = SecureChannel.forEnroller(channelParts(n));
    const toEnroller = channelKey(KEY, 'member->enroller', n);
    const toMember = channelKey(KEY, 'enroller->member', n);
    expect(Buffer.from(member.seal(body))).toEqual(Buffer.from(sealAs(toEnroller, 1n, body)));
    expect(Buffer.from(member.seal(body))).toEqual(Buffer.from(sealAs(toEnroller, 2n, body)));
    expect(Buffer.from(enroller.seal(body))).toEqual(Buffer.from(sealAs(toMember, 1n, body)));
    // and opens what the text says is sealed, in the right direction only
    expect(outcome(enroller.open(sealAs(toEnroller, 7n, body)))).toBe('body');
    expect(outcome(member.open(sealAs(toEnroller, 8n, body)))).toBe('unauthenticated');
    // a Uint8Array key is its bytes, as a string key is its UTF-8 bytes
    const bytes = SecureChannel.forMember(channelParts(n, Buffer.from(KEY)));
    expect(Buffer.from(bytes.seal(body))).toEqual(Buffer.from(sealAs(toEnroller, 1n, body)));
  });

  it('refuses sequence number 0 and numbers above 2^53 - 1, even with a valid MAC; 2^53 - 1 itself passes', () => {
    const open = end('enroller');
    expect(open(0n)).toBe('unauthenticated');
    expect(open(2n ** 53n)).toBe('unauthenticated');
    expect(open(2n ** 64n - 1n)).toBe('unauthenticated');
    expect(open(2n ** 53n - 1n)).toBe('body');
    expect(open(2n ** 53n - 1n)).toBe('replayed');
  });

  it('a jump far ahead is one step (no walk over the numbers skipped), and the window then starts there', () => {
    const open = end('member');
    expect(open(1n)).toBe('body');
    expect(open(2n ** 52n)).toBe('body');
    expect(open(2n ** 52n - BigInt(MEMBER_WINDOW) + 1n)).toBe('body');
    expect(open(2n ** 52n - BigInt(MEMBER_WINDOW))).toBe('replayed');
    expect(open(1n)).toBe('replayed');
  });

  it('the ring forgets the numbers the window moved past: after 1-10 and a jump to 300, 257-299 are new, 300 and older than 45 are not', () => {
    const open = end('enroller');
    for (let seq = 1; seq <= 10; seq++) expect(open(seq)).toBe('body');
    expect(open(300)).toBe('body');
    // 257-266 share ring slots with 1-10; 300 - 256 = 44 is the oldest number outside the window
    for (const seq of [257, 266, 299, 45]) expect(open(seq)).toBe('body');
    for (const seq of [300, 257, 44, 10, 1]) expect(open(seq)).toBe('replayed');
    expect(ENROLLER_WINDOW).toBe(256);
  });

  it('a jump within the window frees the slots it moves past: after 1-10, 200 and 260, 257-259 are new', () => {
    const open = end('enroller');
    for (let seq = 1; seq <= 10; seq++) expect(open(seq)).toBe('body');
    expect(open(200)).toBe('body');
    expect(open(260)).toBe('body'); // 257-259 share ring slots with 1-3
    for (const seq of [257, 258, 259, 199, 11]) expect(open(seq)).toBe('body');
    for (const seq of [257, 260, 200, 4, 3]) expect(open(seq)).toBe('replayed');
  });

  it('after a long run in order, every earlier number inside the window is still remembered', () => {
    const open = end('enroller');
    for (let seq = 1; seq <= 600; seq++) expect(open(seq)).toBe('body');
    for (const seq of [600, 599, 400, 345]) expect(open(seq)).toBe('replayed');
  });

  it('splitTag finds no tag in a last field-100 record of another length than 24', () => {
    for (const length of [0, 23, 25]) {
      const pdu = Buffer.concat([body, Buffer.of(0xa2, 0x06, length), randomBytes(length)]);
      expect(splitTag(pdu)).toBeUndefined();
      expect(outcome(SecureChannel.forEnroller(channelParts(names())).open(pdu))).toBe('unauthenticated');
    }
  });
});
