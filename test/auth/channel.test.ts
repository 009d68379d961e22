import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ENROLLER_WINDOW, MEMBER_WINDOW, SecureChannel, splitTag, TAG_FIELD } from '../../src/auth/channel.js';
import { decodeCdapMessage, encodeCdapMessage, OpCode } from '../../src/index.js';

const parts = {
  key: 'correct horse battery staple',
  memberNonce: randomBytes(32),
  enrollerNonce: randomBytes(32),
  member: 'm1',
  enroller: 'bootstrap',
  dif: 'demo.DIF',
};
const body = encodeCdapMessage({ opCode: OpCode.M_READ, invokeId: 7, objClass: 'keepalive', objName: '/mgmt/keepalive' });
const pair = () => ({ member: SecureChannel.forMember(parts), enroller: SecureChannel.forEnroller(parts) });
const opened = (r: ReturnType<SecureChannel['open']>) => ('body' in r ? r.body : r.failure);

describe('SecureChannel (hmac-sha256 session, src/auth/channel.ts)', () => {
  it('what one end seals the other opens, both ways; the sealed PDU still decodes as the same CDAP message (field 100 is skipped)', () => {
    const { member, enroller } = pair();
    const sealed = member.seal(body);
    expect(sealed.length).toBe(body.length + 27);
    expect(Buffer.from(opened(enroller.open(sealed)) as Uint8Array)).toEqual(Buffer.from(body));
    expect(Buffer.from(opened(member.open(enroller.seal(body))) as Uint8Array)).toEqual(Buffer.from(body));
    expect(decodeCdapMessage(sealed)).toEqual(decodeCdapMessage(body));
    expect(splitTag(sealed)?.body).toEqual(body);
    expect(TAG_FIELD).toBe(100);
  });

  it('refuses a PDU with any one byte changed, a missing tag, a truncated one, and one sealed for the other direction', () => {
    const { member, enroller } = pair();
    const sealed = member.seal(body);
    for (let i = 0; i < sealed.length; i++) {
      const altered = Uint8Array.from(sealed);
      altered[i] = (altered[i] ?? 0) ^ 0x01;
      expect(opened(enroller.open(altered)), `byte ${i}`).toBe('unauthenticated');
    }
    expect(opened(enroller.open(body))).toBe('unauthenticated');
    expect(opened(enroller.open(sealed.subarray(0, sealed.length - 1)))).toBe('unauthenticated');
    // reflected back to its sender: the directions have their own keys
    expect(opened(member.open(member.seal(body)))).toBe('unauthenticated');
    // nothing refused moved the window: the genuine one still opens
    expect(opened(enroller.open(sealed))).not.toBe('unauthenticated');
  });

  it('a channel of other nonces, another key, or other names cannot open it', () => {
    const sealed = SecureChannel.forMember(parts).seal(body);
    for (const other of [
      { ...parts, enrollerNonce: randomBytes(32) },
      { ...parts, memberNonce: randomBytes(32) },
      { ...parts, key: 'another key of enough bytes' },
      { ...parts, member: 'm2' },
      { ...parts, enroller: 'e2' },
      { ...parts, dif: 'other.DIF' },
    ]) {
      expect(opened(SecureChannel.forEnroller(other).open(sealed))).toBe('unauthenticated');
    }
  });

  it.each([
    ['member -> enroller', ENROLLER_WINDOW, (c: ReturnType<typeof pair>) => [c.member, c.enroller] as const],
    ['enroller -> member', MEMBER_WINDOW, (c: ReturnType<typeof pair>) => [c.enroller, c.member] as const],
  ])('%s: refuses a replay and a network duplicate, accepts reordering within the window (%i), refuses older', (_, window, ends) => {
    const [sender, receiver] = ends(pair());
    const n = 2 * window + 10;
    const sealed = Array.from({ length: n }, () => sender.seal(body));
    const open = (seq: number) => opened(receiver.open(sealed[seq - 1] as Uint8Array));
    expect(open(1)).toBeInstanceOf(Uint8Array);
    expect(open(1)).toBe('replayed');
    // 3..window+1 arrive before 2: 2 is still inside the window (window - 1 behind)
    for (let seq = 3; seq <= window + 1; seq++) expect(open(seq)).toBeInstanceOf(Uint8Array);
    expect(open(2)).toBeInstanceOf(Uint8Array);
    expect(open(2)).toBe('replayed');
    expect(open(n)).toBeInstanceOf(Uint8Array);
    // n is the top now: n - window + 1 is the oldest inside the window, n - window is out (neither seen before)
    expect(open(n - window + 1)).toBeInstanceOf(Uint8Array);
    expect(open(n - window)).toBe('replayed');
    expect(open(n - 1)).toBeInstanceOf(Uint8Array);
    expect(open(n - 1)).toBe('replayed');
    expect(open(n)).toBe('replayed');
    // a jump past the whole window forgets everything before it, and still refuses what it passed
    const far = Array.from({ length: 3 * window }, () => sender.seal(body));
    expect(opened(receiver.open(far.at(-1) as Uint8Array))).toBeInstanceOf(Uint8Array);
    expect(opened(receiver.open(far[0] as Uint8Array))).toBe('replayed');
    expect(opened(receiver.open(far.at(-2) as Uint8Array))).toBeInstanceOf(Uint8Array);
  });

  it('splitTag finds no tag in ordinary CDAP, in bytes that are not protobuf, or when field 100 is not last', () => {
    expect(splitTag(body)).toBeUndefined();
    expect(splitTag(Uint8Array.of(0xff, 0xff, 0xff))).toBeUndefined();
    expect(splitTag(new Uint8Array())).toBeUndefined();
    const sealed = pair().member.seal(body);
    expect(splitTag(Uint8Array.from([...sealed, ...body]))).toBeUndefined();
  });
});
