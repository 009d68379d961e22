/**
 * AddressAssigner's checks of an M_START with HMAC-SHA256: the member's
 * proof, and a name another member holds (contested), answered by a member
 * built by hand (test/support/hmac-peer.ts) so that a wrong proof can be
 * sent, and an incumbent can answer a probe or stay silent.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type CdapMessage, KEEPALIVE_OBJECT, MemoryAddressStore, OpCode } from '../../src/index.js';
import { cleanup, settle, stopReply, withEnroller } from '../support/helpers.js';
import { HmacPeer } from '../support/hmac-peer.js';
import { ManualClock } from './manual-clock.js';

afterEach(cleanup);

const KEY = 'correct horse battery staple';
const AUTH = { mechanism: 'hmac-sha256', key: KEY } as const;

/** The results and reasons of the M_START_Rs `peer` received. */
const startReplies = (peer: HmacPeer) => peer.ofType(OpCode.M_START_R).map((m) => ({ result: m.result, reason: m.resultReason }));

describe("AddressAssigner: the member's proof", () => {
  it('an M_START with a wrong proof is refused -6 once, counted, told; its enrollment is let go and no address is bound', async () => {
    const store = new MemoryAddressStore();
    const bind = vi.spyOn(store, 'bind');
    const { enroller, net } = await withEnroller({ auth: AUTH, store });
    const rejected: unknown[] = [];
    enroller.on('enrollment:rejected', (r) => rejected.push(r));
    const peer = new HmacPeer(net.attach('m-shim'), 'm', KEY);
    await peer.connect(1);
    await settle();
    expect(peer.ofType(OpCode.M_CONNECT_R)).toMatchObject([{ result: 0 }]);
    const wrong = Uint8Array.from(peer.proof ?? [], (b) => b ^ 1);
    await peer.start(2, wrong);
    await settle();
    const reason = "authentication failed: the enroller refused the member's proof (the keys differ on the two sides)";
    expect(startReplies(peer)).toEqual([{ result: -6, reason }]);
    expect(enroller.stats().authFailures).toBe(1);
    expect(rejected).toEqual([{ shimAddress: 'm-shim', name: 'm', result: -6, reason }]);
    // The enrollment is gone: the right proof now is answered "not connected", never with an address.
    await peer.start(3);
    await settle();
    expect(startReplies(peer).map((r) => r.result)).toEqual([-6, -2]);
    expect(bind).not.toHaveBeenCalled();
    expect(enroller.members()).toEqual([]);
  });

  it('the right proof is admitted: the address is bound and the member enrolled', async () => {
    const { enroller, net } = await withEnroller({ auth: AUTH });
    const peer = new HmacPeer(net.attach('m-shim'), 'm', KEY);
    await peer.enrol();
    expect(startReplies(peer).map((r) => r.result)).toEqual([0]);
    expect(enroller.stats().authFailures).toBe(0);
    expect(enroller.members()).toMatchObject([{ name: 'm', address: 1002, shimAddress: 'm-shim' }]);
  });
});

describe('AddressAssigner: a name another member holds (contested)', () => {
  /** `m` enrolled at a-shim; a newcomer `m` at b-shim has connected (its M_START will contest the name). */
  async function contested() {
    const clock = new ManualClock();
    const env = await withEnroller({ auth: AUTH, clock });
    const incumbent = new HmacPeer(env.net.attach('a-shim'), 'm', KEY);
    await incumbent.enrol();
    const newcomer = new HmacPeer(env.net.attach('b-shim'), 'm', KEY);
    await newcomer.connect(1);
    await settle();
    const rejected: Array<{ result: number; reason: string }> = [];
    env.enroller.on('enrollment:rejected', (r) => rejected.push({ result: r.result, reason: r.reason }));
    return { ...env, clock, incumbent, newcomer, rejected };
  }

  it('while the incumbent is being probed the newcomer is told busy (-5), counted as busy; the incumbent keeps the name', async () => {
    const { enroller, incumbent, newcomer, rejected } = await contested();
    await newcomer.start(2);
    await settle();
    expect(startReplies(newcomer)).toEqual([
      { result: -5, reason: expect.stringMatching(/^busy: IPCP name "m" is .* from a-shim; checking/) },
    ]);
    expect(incumbent.ofType(OpCode.M_READ)).toHaveLength(1); // the probe (again after half of it, if unanswered)
    expect(enroller.stats()).toMatchObject({ busy: 1, rejected: 0 });
    expect(rejected).toEqual([{ result: -5, reason: startReplies(newcomer)[0]?.reason }]);
    expect(enroller.members()).toMatchObject([{ name: 'm', shimAddress: 'a-shim' }]);
  });

  it('an incumbent that answers the probe keeps the name: the newcomer is refused -3, counted as rejected', async () => {
    const { enroller, clock, incumbent, newcomer, rejected } = await contested();
    await newcomer.start(2);
    await settle();
    clock.advance(10); // the answer comes after the probe
    const probe = incumbent.ofType(OpCode.M_READ)[0] as CdapMessage;
    await incumbent.send({ opCode: OpCode.M_READ_R, invokeId: probe.invokeId, ...KEEPALIVE_OBJECT, result: 0 });
    await settle();
    await newcomer.start(3);
    await settle();
    expect(startReplies(newcomer).map((r) => r.result)).toEqual([-5, -3]);
    expect(enroller.stats()).toMatchObject({ busy: 1, rejected: 1 });
    expect(rejected.map((r) => r.result)).toEqual([-5, -3]);
    expect(enroller.members()).toMatchObject([{ name: 'm', shimAddress: 'a-shim' }]);
  });

  it('an incumbent silent for the whole probe is gone: the newcomer takes the name and its address', async () => {
    const { enroller, clock, newcomer } = await contested();
    await newcomer.start(2);
    await settle();
    clock.advance(1_100); // the probe's second, unanswered
    await newcomer.start(3);
    await settle();
    expect(startReplies(newcomer).map((r) => r.result)).toEqual([-5, 0]);
    await newcomer.send(stopReply(newcomer));
    await settle();
    expect(enroller.members()).toMatchObject([{ name: 'm', address: 1002, shimAddress: 'b-shim' }]);
    expect(enroller.stats()).toMatchObject({ busy: 1, rejected: 0 });
  });
});
