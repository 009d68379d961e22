/**
 * Sequences of well-formed but wrong messages (STOP before START, replies
 * with unknown invoke ids, strangers, duplicates, steps out of order) thrown
 * at the enroller and at an enrolled member: nothing crashes, an enrolled
 * member's state never changes, and every request gets an answer.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type CdapMessage,
  EnrollmentManager,
  encodeCdapMessage,
  encodeEnrollmentInfo,
  ENROLLMENT_OBJECT,
  KEEPALIVE_OBJECT,
  MemoryRib,
  OpCode,
} from '../../src/index.js';
import { validMessage } from '../support/arbitraries.js';
import { cleanup, member, RawPeer, settle, withEnroller } from '../support/helpers.js';
import { fromHex, malformed } from '../cdap/vectors.js';

afterEach(cleanup);

/** Messages of the enrollment exchange, in any order and with any invoke id: the likely mistakes. */
const exchangeMessage: fc.Arbitrary<CdapMessage> = fc.oneof(
  fc.record({ invokeId: fc.integer({ min: 1, max: 50 }), name: fc.constantFrom('m', 'x', 'y') }).map(({ invokeId, name }) => ({
    opCode: OpCode.M_CONNECT,
    absSyntax: 73,
    version: 1n,
    invokeId,
    srcApName: name,
    destApName: 'bootstrap',
  })),
  fc.record({ invokeId: fc.integer({ min: 1, max: 50 }), address: fc.integer({ min: 0, max: 3000 }) }).map(({ invokeId, address }) => ({
    opCode: OpCode.M_START,
    invokeId,
    ...ENROLLMENT_OBJECT,
    objValue: { byteval: encodeEnrollmentInfo({ address }) },
  })),
  fc.integer({ min: 1, max: 50 }).map((invokeId) => ({ opCode: OpCode.M_STOP, invokeId, ...ENROLLMENT_OBJECT })),
  fc.integer({ min: 1, max: 50 }).map((invokeId) => ({ opCode: OpCode.M_STOP_R, invokeId, ...ENROLLMENT_OBJECT, result: 0 })),
  fc.integer({ min: 1, max: 50 }).map((invokeId) => ({ opCode: OpCode.M_READ, invokeId, ...KEEPALIVE_OBJECT })),
  fc.integer({ min: 1, max: 50 }).map((invokeId) => ({ opCode: OpCode.M_READ_R, invokeId, ...KEEPALIVE_OBJECT, result: 0 })),
  fc.integer({ min: 1, max: 50 }).map((invokeId) => ({ opCode: OpCode.M_RELEASE, invokeId })),
  validMessage,
);

const step = fc.record({ from: fc.constantFrom('x', 'y', 'z'), msg: exchangeMessage, duplicate: fc.boolean() });

describe('fuzzing the enroller', () => {
  it('wrong messages from strangers never disturb an enrolled member, never crash, and every request is answered', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 40 }), async (steps) => {
        await cleanup();
        const { net, enroller } = await withEnroller({ addressPool: { first: 1, last: 20 } });
        const { mgr } = member(net, 'm');
        await mgr.enrolWithBootstrap('bootstrap');
        await settle();
        const before = enroller.members().map(({ name, address, shimAddress }) => ({ name, address, shimAddress }));
        const peers = new Map(['x', 'y', 'z'].map((a) => [a, new RawPeer(net.attach(a))]));
        let requests = 0;
        for (const { from, msg, duplicate } of steps) {
          const peer = peers.get(from);
          if (peer === undefined) continue;
          const pdu = encodeCdapMessage(msg);
          const answerable = msg.opCode % 2 === 0 && !!msg.invokeId;
          for (let i = 0; i < (duplicate ? 2 : 1); i++) {
            await peer.sendRaw('bootstrap', pdu);
            if (answerable && !duplicate) requests++;
          }
          await settle();
        }
        await settle(100);
        expect(enroller.running).toBe(true);
        // the enrolled member is untouched
        const after = enroller
          .members()
          .filter((m) => m.name === 'm')
          .map(({ name, address, shimAddress }) => ({ name, address, shimAddress }));
        expect(after).toEqual(before);
        expect(mgr.state).toMatchObject({ type: 'enrolled', address: before[0]?.address });
        // every (non-duplicated) request got at least one answer
        const replies = [...peers.values()].reduce((n, p) => n + p.received.filter((r) => r.msg.opCode % 2 === 1).length, 0);
        expect(replies).toBeGreaterThanOrEqual(requests);
        // and the member still gets its keepalives answered
        await mgr.reEnroll();
        expect(mgr.address).toBe(before[0]?.address);
      }),
      { numRuns: 60 },
    );
  });

  // Found by an audit (2026-12-06): the fuzzing above sends from strangers only; SECURITY.md says the same of duplicates
  // and steps out of order, which come from the member's own shim address.
  it("the member's own datagrams replayed from its shim address, reordered and duplicated, with stray replies: its record stays", async () => {
    /** What a member may send that SECURITY.md says cannot change its record: its own steps again, replies no one asked for. */
    const kinds = ['own', 'stopReply', 'readReply', 'stop'] as const;
    const stray = (kind: (typeof kinds)[number], invokeId: number): CdapMessage =>
      kind === 'stopReply'
        ? { opCode: OpCode.M_STOP_R, invokeId, ...ENROLLMENT_OBJECT, result: 0 }
        : kind === 'readReply'
          ? { opCode: OpCode.M_READ_R, invokeId, ...KEEPALIVE_OBJECT, result: 0 }
          : { opCode: OpCode.M_STOP, invokeId, ...ENROLLMENT_OBJECT };
    const ownStep = fc.record({
      kind: fc.constantFrom(...kinds),
      pick: fc.nat(),
      invokeId: fc.integer({ min: 1, max: 60 }),
      duplicate: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(ownStep, { minLength: 1, maxLength: 30 }), async (steps) => {
        await cleanup();
        const { net, enroller } = await withEnroller({ addressPool: { first: 1, last: 20 } });
        const own: Uint8Array[] = []; // the member's M_CONNECT, M_START, M_CREATE_R, M_STOP_R
        const untap = net.tap((p) => {
          if (p.from === 'm' && p.to === 'bootstrap') own.push(p.pdu);
        });
        const shim = net.attach('m');
        const mgr = new EnrollmentManager({ shim, rib: new MemoryRib(), ipcpName: 'm' });
        try {
          await mgr.enrolWithBootstrap('bootstrap');
          untap();
          await settle();
          const record = () => enroller.members().map(({ name, address, shimAddress }) => ({ name, address, shimAddress }));
          const before = record();
          expect(before).toHaveLength(1);
          for (const { kind, pick, invokeId, duplicate } of steps) {
            const pdu = kind === 'own' ? (own[pick % own.length] as Uint8Array) : encodeCdapMessage(stray(kind, invokeId));
            for (let i = 0; i < (duplicate ? 2 : 1); i++) await shim.send('bootstrap', pdu); // from the member's own address
            await settle();
          }
          await settle(100);
          expect(enroller.running).toBe(true);
          expect(record()).toEqual(before);
          expect(mgr.state).toMatchObject({ type: 'enrolled', address: before[0]?.address });
          await mgr.reEnroll();
          expect(mgr.address).toBe(before[0]?.address);
        } finally {
          await mgr.close();
        }
      }),
      { numRuns: 40 },
    );
  });

  it('every malformed vector, thrown at a running enroller, is dropped without harm', async () => {
    const { net, enroller } = await withEnroller();
    const peer = new RawPeer(net.attach('x'));
    for (const row of malformed) await peer.sendRaw('bootstrap', fromHex(row.hex));
    await settle();
    expect(enroller.stats().malformed).toBe(malformed.length);
    await expect(member(net, 'm').mgr.enrolWithBootstrap('bootstrap')).resolves.toBe('demo.DIF');
  });
});

describe('fuzzing the member', () => {
  it('strangers, and unknown replies from its own bootstrap, never change an enrolled member', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ stranger: fc.boolean(), msg: exchangeMessage }), { minLength: 1, maxLength: 40 }),
        fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 10 }),
        async (steps, garbage) => {
          await cleanup();
          const { net, enroller } = await withEnroller();
          const { mgr, rib } = member(net, 'm');
          await mgr.enrolWithBootstrap('bootstrap');
          const state = mgr.state;
          const ribBefore = rib.list();
          // Speak as the bootstrap too: replace it with a raw peer at its address.
          net.detach('bootstrap'); // gone without a word (a crash), not a graceful stop
          await enroller.stop();
          const asBootstrap = new RawPeer(net.attach('bootstrap'));
          const stranger = new RawPeer(net.attach('x'));
          for (const { stranger: fromStranger, msg } of steps) {
            // From the bootstrap, only replies (requests from it legitimately change the RIB).
            if (!fromStranger && msg.opCode % 2 === 0) continue;
            // Unknown invoke ids: far from any the member used.
            const sent = { ...msg, invokeId: msg.invokeId === undefined ? undefined : 1_000_000 + (Math.abs(msg.invokeId) % 1_000_000) };
            await (fromStranger ? stranger : asBootstrap).send('m', sent);
          }
          for (const bytes of garbage) await stranger.sendRaw('m', bytes);
          await settle(100);
          expect(mgr.state).toBe(state);
          expect(rib.list()).toEqual(ribBefore);
          expect(stranger.received).toEqual([]); // strangers get nothing
          expect(asBootstrap.received.every((r) => r.msg.opCode % 2 === 1 || r.msg.opCode === OpCode.M_READ)).toBe(true);
        },
      ),
      { numRuns: 60 },
    );
  });
});
