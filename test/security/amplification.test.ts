/**
 * SECURITY.md: without the key, an attacker can "send datagrams from a spoofed
 * address, answered (unsealed M_CONNECT_R, or 'not connected' to a
 * sealed-looking M_START) to that address: about one datagram out per
 * datagram in, within the per-address rate limit". Random mixes of what such
 * an attacker can send, from a few spoofed addresses, at an enroller with
 * HMAC-SHA256 and an enrolled member: every datagram the enroller sends to a
 * spoofed address, now and for a minute after, is counted against what came
 * from it.
 */
import fc from 'fast-check';
import { afterEach, expect, it, vi } from 'vitest';
import { type CdapMessage, ENROLLMENT_OBJECT, encodeCdapMessage, encodeEnrollmentInfo, KEEPALIVE_OBJECT, OpCode } from '../../src/index.js';
import { cleanup, connectMsg, member, settle, withEnroller } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

const KEY = 'correct horse battery staple';
const SPOOFED = ['s1', 's2', 's3'];
/** A CDAP message with a tag record appended (field 100, 24 bytes) that no key made. */
const sealedLooking = (msg: CdapMessage, noise: Uint8Array) => Uint8Array.from([...encodeCdapMessage(msg), 0xa2, 0x06, 24, ...noise]);

/** What an attacker without the key can send: M_CONNECT (any name, the member's too), sealed-looking or plain steps, garbage. */
const attack = fc.record({
  from: fc.constantFrom(...SPOOFED),
  duplicate: fc.boolean(),
  invokeId: fc.integer({ min: 1, max: 1000 }),
  noise: fc.uint8Array({ minLength: 24, maxLength: 24 }),
  kind: fc.constantFrom('connect-m', 'connect-new', 'start-sealed', 'start-plain', 'stop-reply-sealed', 'read', 'garbage'),
});

function pduOf({ kind, invokeId, noise }: { kind: string; invokeId: number; noise: Uint8Array }): Uint8Array {
  const start: CdapMessage = {
    opCode: OpCode.M_START,
    invokeId,
    ...ENROLLMENT_OBJECT,
    objValue: { byteval: encodeEnrollmentInfo({ address: 0 }) },
  };
  switch (kind) {
    case 'connect-m':
      return encodeCdapMessage({ ...connectMsg(invokeId, 'm'), authMech: 100, authValue: { authOther: noise } });
    case 'connect-new':
      return encodeCdapMessage({ ...connectMsg(invokeId, `n${invokeId}`), authMech: 100, authValue: { authOther: noise } });
    case 'start-sealed':
      return sealedLooking(start, noise);
    case 'start-plain':
      return encodeCdapMessage(start);
    case 'stop-reply-sealed':
      return sealedLooking({ opCode: OpCode.M_STOP_R, invokeId, ...ENROLLMENT_OBJECT, result: 0 }, noise);
    case 'read':
      return encodeCdapMessage({ opCode: OpCode.M_READ, invokeId, ...KEEPALIVE_OBJECT });
    default:
      return noise;
  }
}

// Found by an audit (2026-12-06): nothing counted what the enroller sends back to a spoofed address.
it('a spoofed address gets at most one datagram per datagram it sent, within its rate limit, now and a minute later', async () => {
  vi.useFakeTimers();
  await fc.assert(
    fc.asyncProperty(fc.array(attack, { minLength: 1, maxLength: 60 }), async (attacks) => {
      await cleanup();
      const auth = { mechanism: 'hmac-sha256', key: KEY } as const;
      const { net, enroller } = await withEnroller({ auth, rateBurst: 20, ratePerSecond: 10 });
      const { mgr } = member(net, 'm', { heartbeatIntervalSecs: 1, connectionTimeoutSecs: 3 }, { difName: 'demo.DIF', auth });
      await mgr.enrolWithBootstrap('bootstrap');
      mgr.startConnectionMonitoring();
      const sent = new Map(SPOOFED.map((a) => [a, 0]));
      const answered = new Map(SPOOFED.map((a) => [a, 0]));
      net.tap(({ from, to, fate }) => {
        if (fate !== 'sent') return;
        if (to === 'bootstrap' && sent.has(from)) sent.set(from, (sent.get(from) ?? 0) + 1);
        if (from === 'bootstrap' && answered.has(to)) answered.set(to, (answered.get(to) ?? 0) + 1);
      });
      const spoofers = new Map(SPOOFED.map((a) => [a, net.attach(a)]));
      for (const a of attacks) {
        const pdu = pduOf(a);
        for (let i = 0; i < (a.duplicate ? 2 : 1); i++) await spoofers.get(a.from)?.send('bootstrap', pdu);
        await settle();
      }
      await vi.advanceTimersByTimeAsync(60_000); // whatever the enroller would send later (retransmissions, probes)
      for (const a of SPOOFED) {
        expect(answered.get(a), a).toBeLessThanOrEqual(sent.get(a) ?? 0);
        expect(answered.get(a), a).toBeLessThanOrEqual(20); // rateBurst: every attack comes at one instant of the fake clock
      }
      expect(enroller.members().map((m) => m.name)).toEqual(['m']);
      expect(mgr.state.type).toBe('enrolled');
    }),
    { numRuns: 40 },
  );
});
