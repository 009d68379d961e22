/**
 * The enroller's round-trip window (src/enroller/round-trips.ts): a copy of a
 * request that comes sooner than the window after its answer is not answered
 * again, M_STOP is not sent again within it, only exchanges with nothing sent
 * twice are measured (Karn's rule), and an idle enroller forgets it.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { keepaliveRequest } from '../../src/cdap/messages.js';
import { RoundTrips } from '../../src/enroller/round-trips.js';
import type { Session } from '../../src/enroller/sessions.js';
import { OpCode } from '../../src/index.js';
import { cleanup, connectMsg, RawPeer, settle, startMsg, stopReply, withEnroller } from '../support/helpers.js';
import { ManualClock } from './manual-clock.js';
import { sessionTable } from './session-table.js';

afterEach(cleanup);

describe('RoundTrips', () => {
  it('is 0 before any sample; the first sample s gives 3s (RFC 6298: srtt s, rttvar s/2)', () => {
    const r = new RoundTrips(10_000);
    expect(r.windowMs).toBe(0);
    r.sample(100);
    expect(r.windowMs).toBe(300);
  });

  it('settles on a steady round trip, follows a longer one, never exceeds its cap, and forgets on reset', () => {
    const r = new RoundTrips(2000);
    for (let i = 0; i < 200; i++) r.sample(10);
    expect(r.windowMs).toBeCloseTo(10, 3);
    for (let i = 0; i < 200; i++) r.sample(800);
    expect(r.windowMs).toBeGreaterThanOrEqual(800);
    expect(r.windowMs).toBeLessThan(801);
    for (let i = 0; i < 5; i++) r.sample(100_000);
    expect(r.windowMs).toBe(2000);
    r.reset();
    expect(r.windowMs).toBe(0);
  });

  it('ignores samples that are no time (negative, NaN)', () => {
    const r = new RoundTrips(1000);
    r.sample(-5);
    r.sample(Number.NaN);
    expect(r.windowMs).toBe(0);
    r.sample(50);
    r.sample(-1);
    expect(r.windowMs).toBe(150);
  });

  it('is at least the smoothed sample and at most the cap, whatever the samples', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 50 }), (samples) => {
        const r = new RoundTrips(5000);
        for (const s of samples) r.sample(s);
        expect(r.windowMs).toBeGreaterThanOrEqual(Math.min(5000, Math.min(...samples)));
        expect(r.windowMs).toBeLessThanOrEqual(5000);
      }),
    );
  });
});

function table() {
  const t = sessionTable({ retransmitMs: 100, pendingTimeoutMs: 60_000 });
  const session = (name: string, over: Partial<Session> = {}): Session => t.session(name, `${name}-shim`, over);
  return { ...t, session };
}

describe('SessionTable: the round-trip window', () => {
  it("holds M_STOP back while the window is longer than its interval (its M_STOP_R may wait in the enroller's own queue)", () => {
    const { sessions, clock, sent, session } = table();
    const slow = session('slow');
    sessions.set('slow-shim', slow);
    clock.advance(200);
    sessions.roundTrip(slow, slow.createdAt); // 200 ms from M_CONNECT_R to M_START: a window of 600 ms
    const stop = session('a', { stopInvokeId: 7, burst: [new Uint8Array([1])] });
    sessions.set('a-shim', stop);
    const burstAt = clock.now();
    clock.advance(599);
    expect(sent).toEqual([]); // without the window: at 100 and 300 ms
    clock.advance(101);
    expect(sent).toHaveLength(1);
    expect((sent[0]?.at ?? 0) - burstAt).toBeGreaterThanOrEqual(600);
  });

  it('the window is at most the longest M_STOP interval (8 times the first)', () => {
    const { sessions, clock, sent, session } = table();
    const slow = session('slow');
    sessions.set('slow-shim', slow);
    clock.advance(5000);
    sessions.roundTrip(slow, slow.createdAt); // a window of 15 s, capped at 800 ms
    const stop = session('a', { stopInvokeId: 7, burst: [new Uint8Array([1])] });
    sessions.set('a-shim', stop);
    clock.advance(899);
    expect(sent).toHaveLength(1);
  });

  it('a copy of a request within the window is not answered again; one after it is, and counts as sent then', () => {
    const { sessions, clock, session } = table();
    const s = session('a');
    sessions.set('a-shim', s);
    clock.advance(50);
    sessions.roundTrip(s, s.createdAt); // window 150 ms
    s.lastSentAt = clock.now(); // the burst goes out
    clock.advance(149);
    expect(sessions.sendAgain(s)).toBe(false);
    clock.advance(1);
    expect(sessions.sendAgain(s)).toBe(true);
    expect(s.lastSentAt).toBe(clock.now());
    expect(sessions.sendAgain(s)).toBe(false); // a second copy right after: the first answer again is on its way
  });

  it("measures only exchanges with nothing sent twice (Karn's rule), each step once", () => {
    const { sessions, clock, session } = table();
    const keep = session('keep');
    sessions.set('keep-shim', keep); // keeps the table busy: an idle table forgets its samples
    const a = session('a');
    sessions.set('a-shim', a);
    clock.advance(10);
    sessions.roundTrip(a, a.createdAt);
    const window = 30;
    const b = session('b');
    sessions.set('b-shim', b);
    clock.advance(100);
    expect(sessions.sendAgain(b)).toBe(true); // its M_CONNECT_R went twice: which one did its M_START answer?
    clock.advance(500);
    sessions.roundTrip(b, b.createdAt);
    sessions.roundTrip(a, a.createdAt); // a's step again (a second M_START): measured once already
    const c = session('c', { lastSentAt: clock.now() });
    clock.advance(window - 1);
    expect(sessions.sendAgain(c)).toBe(false); // the window is still 30 ms
    clock.advance(1);
    expect(sessions.sendAgain(c)).toBe(true);
  });

  it('forgets the window once no enrollment is in progress', () => {
    const { sessions, clock, session } = table();
    const a = session('a');
    sessions.set('a-shim', a);
    clock.advance(500);
    sessions.roundTrip(a, a.createdAt);
    sessions.complete('a-shim', a);
    const b = session('b');
    sessions.set('b-shim', b);
    expect(sessions.sendAgain(b)).toBe(true); // window 0: a copy is answered at once
  });
});

describe('Enroller: copies of a request within the round-trip window', () => {
  async function enroller() {
    const clock = new ManualClock();
    const env = await withEnroller({ clock });
    const peer = new RawPeer(env.net.attach('m-shim'));
    return { ...env, clock, peer };
  }

  it('a copy of M_START is answered with the same burst only after the window; the enrollment completes', async () => {
    const { clock, peer, enroller: e } = await enroller();
    await peer.send('bootstrap', connectMsg(1, 'm'));
    await settle();
    clock.advance(100); // the member's M_START comes 100 ms after M_CONNECT_R: a window of 300 ms
    await peer.send('bootstrap', startMsg(2));
    await settle();
    const burst = peer.received.map((r) => r.msg).filter((m) => m.opCode !== OpCode.M_CONNECT_R);
    expect(burst.map((m) => m.opCode)).toContain(OpCode.M_STOP);
    peer.clear();
    clock.advance(299);
    await peer.send('bootstrap', startMsg(2));
    await settle();
    expect(peer.received).toEqual([]); // sent before our burst could reach it
    clock.advance(1);
    await peer.send('bootstrap', startMsg(2));
    await settle();
    expect(peer.received.map((r) => r.msg)).toEqual(burst);
    await peer.send('bootstrap', stopReply(peer));
    await settle();
    expect(e.members()).toMatchObject([{ name: 'm', address: 1002 }]);
    expect(e.pendingEnrollments).toBe(0);
  });

  it('a copy of M_CONNECT is answered again only after the window, and does not reset the enrollment', async () => {
    const { clock, peer, net, enroller: e } = await enroller();
    // A first member's exchange sets the window: 200 ms from M_CONNECT_R to M_START.
    const other = new RawPeer(net.attach('o-shim'));
    await other.send('bootstrap', connectMsg(1, 'o'));
    await settle();
    clock.advance(200);
    await other.send('bootstrap', startMsg(2));
    await settle();
    await peer.send('bootstrap', connectMsg(1, 'm'));
    await settle();
    expect(peer.ofType(OpCode.M_CONNECT_R)).toHaveLength(1);
    clock.advance(599);
    await peer.send('bootstrap', connectMsg(1, 'm'));
    await settle();
    expect(peer.ofType(OpCode.M_CONNECT_R)).toHaveLength(1);
    clock.advance(1);
    await peer.send('bootstrap', connectMsg(1, 'm'));
    await settle();
    expect(peer.ofType(OpCode.M_CONNECT_R)).toHaveLength(2);
    expect(e.pendingEnrollments).toBe(2);
    await peer.send('bootstrap', startMsg(2));
    await settle();
    await peer.send('bootstrap', stopReply(peer));
    await settle();
    expect(e.members().map((m) => m.name)).toEqual(['m']);
  });

  it('an enrollment completed by a keepalive (its M_STOP_R lost) is no round trip', async () => {
    const { clock, peer, net, enroller: e } = await enroller();
    const other = new RawPeer(net.attach('o-shim')); // keeps an enrollment in progress throughout
    await other.send('bootstrap', connectMsg(1, 'o'));
    await settle();
    await peer.send('bootstrap', connectMsg(1, 'm'));
    await settle();
    await peer.send('bootstrap', startMsg(2)); // a round trip of 0 ms: the window stays 0
    await settle();
    clock.advance(200); // before M_STOP goes again (250 ms), which would make it no round trip anyway
    await peer.send('bootstrap', keepaliveRequest(3));
    await settle();
    expect(e.members().map((m) => m.name)).toEqual(['m']);
    // Had the 200 ms to the keepalive been measured (a window of 600 ms), this copy would fall within it.
    peer.clear();
    await other.send('bootstrap', connectMsg(1, 'o'));
    await settle();
    expect(other.ofType(OpCode.M_CONNECT_R)).toHaveLength(2);
  });
});
