/**
 * What a hostile peer could do to the liveness probes. Found by an audit (2026-12-06) that played hostile members;
 * each case failed before its fix.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { decodeEnrollmentInfo } from '../../src/cdap/codec.js';
import { MAX_ALTERNATES, Result } from '../../src/cdap/messages.js';
import { Liveness, PROBE_MS } from '../../src/enroller/liveness.js';
import { EnrollmentManager, MemoryRib, OpCode } from '../../src/index.js';
import { Ticker } from '../../src/util/ticker.js';
import { cleanup, onCleanup, RawPeer, settle, startedPeer, withEnroller } from '../support/helpers.js';
import { HmacPeer } from '../support/hmac-peer.js';
import { ManualClock } from './manual-clock.js';

afterEach(cleanup);

const KEY = 'correct horse battery staple';
const AUTH = { mechanism: 'hmac-sha256', key: KEY } as const;

describe('liveness probes and a hostile peer', () => {
  it('a probe is forgotten 10 probe lengths after it was sent, also when nobody asks about that address again', () => {
    const clock = new ManualClock();
    const ticker = new Ticker(10, clock);
    // Every address probed has a session that spoke once, then left: the flood of the audit (a session, a rival's claim, a release).
    const at = new Map<string, { name: string; shimAddress: string; lastSeenAt: number; channel: null }>();
    const sessions = { get: (a: string) => at.get(a) };
    const members = { at: () => undefined };
    const sent: string[] = [];
    const outbox = { sendProbe: (to: string) => sent.push(to) };
    const liveness = new Liveness(clock, ticker, sessions as never, members as never, outbox as never);
    for (let i = 0; i < 1000; i++) {
      const a = `10.0.${i >> 8}.${i & 255}:7000`;
      at.set(a, { name: `n${i}`, shimAddress: a, lastSeenAt: clock.now(), channel: null });
      expect(liveness.probe(a)).toBe('checking');
      at.delete(a); // it leaves: nothing asks about it again
    }
    expect([liveness.size, sent.length]).toEqual([1000, 1000]);
    clock.advance(10 * PROBE_MS + 10);
    expect(liveness.size).toBe(0); // before: 1000, and growing with every such round
    expect(ticker.size).toBe(0);
  });

  it('a keyless M_CONNECT from a dead member’s address is no sign of its life: the restarted IPCP gets its name back', async () => {
    const clock = new ManualClock();
    const { net, enroller } = await withEnroller({ clock, leaseMs: 600_000, auth: AUTH });
    clock.advance(10 * PROBE_MS);
    const aShim = net.attach('a-shim');
    await new HmacPeer(aShim, 'dup', KEY).enrol(); // enrolled at a-shim; then it crashes, and says nothing more
    clock.advance(5 * PROBE_MS);
    const restarted = new HmacPeer(net.attach('b-shim'), 'dup', KEY); // the same IPCP, restarted at another port
    await restarted.connect(1);
    await settle();
    await restarted.start(2); // its proof verified: a-shim is probed, "busy"
    await settle();
    clock.advance(10);
    await new HmacPeer(aShim, 'whatever', 'not the key at all!!').connect(77); // keyless, from a-shim's address
    await settle();
    clock.advance(PROBE_MS);
    await restarted.start(3);
    await settle();
    // before: [-5, -3], the dead member kept and the restarted IPCP refused for good
    expect(restarted.ofType(OpCode.M_START_R).map((m) => m.result)).toEqual([Result.BUSY, Result.OK]);
    expect(enroller.members().map((m) => m.shimAddress)).toEqual([]);
  });

  it('a keyless M_CONNECT from a live member’s address does not turn its probe into one it cannot open: it keeps its name', async () => {
    const clock = new ManualClock();
    const { net, enroller } = await withEnroller({ clock, leaseMs: 600_000, auth: AUTH });
    clock.advance(10 * PROBE_MS);
    const shimA = net.attach('a-shim');
    const config = { heartbeatIntervalSecs: 60, connectionTimeoutSecs: 180 };
    const mgr = new EnrollmentManager({ shim: shimA, rib: new MemoryRib(), ipcpName: 'm', auth: AUTH, difName: 'demo.DIF', clock, config });
    onCleanup(() => mgr.close());
    const enrolled = mgr.enrolWithBootstrap('bootstrap');
    for (let i = 0; i < 20 && mgr.state.type !== 'enrolled'; i++) {
      clock.advance(1);
      await settle();
    }
    await enrolled;
    await new HmacPeer(shimA, 'x', 'attacker has no key!!').connect(77); // keyless, from the member's address
    await settle();
    const newcomer = new HmacPeer(net.attach('b-shim'), 'm', KEY); // a second IPCP configured with the same name
    await newcomer.connect(1);
    await settle();
    await newcomer.start(2);
    await settle();
    clock.advance(PROBE_MS + 100);
    await settle();
    await newcomer.start(3);
    await settle();
    // before: [-5, 0], the live member evicted and its address given to the newcomer while it still held it
    expect(newcomer.ofType(OpCode.M_START_R).map((m) => m.result)).toEqual([Result.BUSY, Result.NAME_IN_USE]);
    expect(enroller.members().map((m) => `${m.name}@${m.shimAddress}`)).toEqual(['m@a-shim']);
    expect(mgr.state.type).toBe('enrolled');
  });

  it('with hmac-sha256, keyless M_CONNECTs from addresses with an enrollment in progress count against maxPendingEnrollments', async () => {
    const { net, enroller } = await withEnroller({ auth: AUTH, maxPendingEnrollments: 4 });
    const shims = Array.from({ length: 8 }, (_, i) => net.attach(`s${i}`));
    for (const [i, s] of shims.entries()) await new HmacPeer(s, `a${i}`, 'no key!!').connect(1);
    await settle();
    expect(enroller.stats()).toMatchObject({ pending: 4, busy: 4 });
    for (const [i, s] of shims.entries()) await new HmacPeer(s, `b${i}`, 'no key!!').connect(2);
    await settle();
    // before: busy 8, the four from addresses with a session let in as candidates, 8 in progress against a limit of 4
    expect(enroller.stats()).toMatchObject({ pending: 4, busy: 12 });
  });

  it(`an enroller advertises at most ${MAX_ALTERNATES} alternates in an M_START_R, the configured ones first`, async () => {
    const alternates = Array.from({ length: 100 }, (_, i) => `alt-${i}`);
    const { net } = await withEnroller({ alternates });
    const peer = await startedPeer(net, 'm', new RawPeer(net.attach('m-shim')));
    const [startReply] = peer.ofType(OpCode.M_START_R);
    const info = decodeEnrollmentInfo(startReply?.objValue?.byteval ?? new Uint8Array());
    expect(info.alternates).toEqual(alternates.slice(0, MAX_ALTERNATES));
  });
});
