/**
 * The enroller's round-trip window (src/enroller/round-trips.ts): M_STOP is
 * not sent again within it, copies of a member's requests are answered at
 * once whatever it is, only exchanges with nothing sent twice are measured
 * (Karn's rule), and an idle enroller forgets it.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { keepaliveRequest } from '../../src/cdap/messages.js';
import { RoundTrips } from '../../src/enroller/round-trips.js';
import type { Session } from '../../src/enroller/sessions.js';
import { OpCode } from '../../src/index.js';
import { cleanup, connectMsg, RawPeer, settle, startedPeer, startMsg, stopReply, withEnroller } from '../support/helpers.js';
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

  it("measures only exchanges with nothing sent twice (Karn's rule)", () => {
    const { sessions, clock, sent, session } = table();
    const keep = session('keep');
    sessions.set('keep-shim', keep); // keeps the table busy: an idle table forgets its samples
    const b = session('b');
    sessions.set('b-shim', b);
    clock.advance(50);
    sessions.unsampled(b); // its M_CONNECT_R went twice: which one did its M_START answer?
    clock.advance(550);
    sessions.roundTrip(b, b.createdAt); // not measured: the window stays 0
    const stop = session('a', { stopInvokeId: 7, burst: [new Uint8Array([1])] });
    sessions.set('a-shim', stop);
    clock.advance(200);
    expect(sent.length).toBeGreaterThanOrEqual(1); // M_STOP again at its interval (100 ms): no window holds it
  });

  it('measures a step once', () => {
    const { sessions, clock, sent, session } = table();
    const a = session('a');
    sessions.set('a-shim', a);
    sessions.roundTrip(a, a.createdAt); // 0 ms
    clock.advance(700);
    sessions.roundTrip(a, a.createdAt); // the same step again: 700 ms, not measured
    const stop = session('s', { stopInvokeId: 7, burst: [new Uint8Array([1])] });
    sessions.set('s-shim', stop);
    clock.advance(200);
    expect(sent.length).toBeGreaterThanOrEqual(1);
  });

  it('forgets the window once no enrollment is in progress', () => {
    const { sessions, clock, sent, session } = table();
    const a = session('a');
    sessions.set('a-shim', a);
    clock.advance(500);
    sessions.roundTrip(a, a.createdAt); // a window of 800 ms (capped)
    sessions.complete('a-shim', a);
    const stop = session('s', { stopInvokeId: 7, burst: [new Uint8Array([1])] });
    sessions.set('s-shim', stop);
    clock.advance(200);
    expect(sent.length).toBeGreaterThanOrEqual(1); // at its interval again
  });
});

describe('Enroller: the round-trip window', () => {
  /** An enroller (M_STOP again after 1 s) on a clock moved by hand, and a first member whose M_STOP_R takes `ms`: a window of 3 x `ms`. */
  async function windowOf(ms: number) {
    const clock = new ManualClock();
    const env = await withEnroller({ clock, retransmitMs: 1000 });
    const slow = new RawPeer(env.net.attach('slow-shim')); // stays in progress: an idle enroller forgets the window
    await slow.send('bootstrap', connectMsg(1, 'slow'));
    await settle();
    const sample = await startedPeer(env.net, 'sample');
    clock.advance(ms);
    await sample.send('bootstrap', stopReply(sample));
    await settle();
    expect(env.enroller.members().map((m) => m.name)).toEqual(['sample']);
    return { ...env, clock };
  }

  it("copies of a member's requests are answered at once, however large the window: a lost answer costs one retransmission", async () => {
    const { net } = await windowOf(900); // a window of 2.7 s
    const peer = new RawPeer(net.attach('m-shim'));
    await peer.send('bootstrap', connectMsg(1, 'm'));
    await settle();
    await peer.send('bootstrap', connectMsg(1, 'm')); // its M_CONNECT_R was lost
    await settle();
    expect(peer.ofType(OpCode.M_CONNECT_R)).toHaveLength(2);
    await peer.send('bootstrap', startMsg(2));
    await settle();
    const burst = peer.received.map((r) => r.msg).filter((m) => m.opCode !== OpCode.M_CONNECT_R);
    peer.clear();
    await peer.send('bootstrap', startMsg(2)); // and its burst too
    await settle();
    expect(peer.received.map((r) => r.msg)).toEqual(burst);
  });

  it('M_STOP is not sent again within the window', async () => {
    const { clock, net } = await windowOf(600); // a window of 1.8 s
    const peer = await startedPeer(net, 'm');
    peer.clear();
    clock.advance(1500); // without the window: M_STOP again at the sweep of 1 s
    await settle();
    expect(peer.ofType(OpCode.M_STOP)).toEqual([]);
    clock.advance(1000);
    await settle();
    expect(peer.ofType(OpCode.M_STOP).length).toBeGreaterThanOrEqual(1);
  });

  it('an enrollment completed by a keepalive (its M_STOP_R lost) is no round trip', async () => {
    const clock = new ManualClock();
    const { net, enroller: e } = await withEnroller({ clock, retransmitMs: 1000 });
    const other = new RawPeer(net.attach('o-shim')); // keeps an enrollment in progress throughout
    await other.send('bootstrap', connectMsg(1, 'o'));
    await settle();
    const m = await startedPeer(net, 'm');
    clock.advance(900); // before M_STOP goes again (1 s), which would make it no round trip anyway
    await m.send('bootstrap', keepaliveRequest(3));
    await settle();
    expect(e.members().map((x) => x.name)).toEqual(['m']);
    const p = await startedPeer(net, 'p');
    p.clear();
    // Had the 900 ms to the keepalive been measured (a window of 2.7 s), M_STOP would wait that long.
    clock.advance(2000);
    await settle();
    expect(p.ofType(OpCode.M_STOP).length).toBeGreaterThanOrEqual(1);
  });
});

// Found by a review (2026-12-07): with a short pendingTimeoutMs, slow members' samples made the window longer than
// it, and a member whose M_STOP_R was lost got no M_STOP again before its enrollment was forgotten.
it('M_STOP goes again within half the pending timeout, however large the window: a lost M_STOP_R is asked for again', async () => {
  const clock = new ManualClock();
  const { net, enroller } = await withEnroller({ clock, pendingTimeoutMs: 1000 }); // retransmitMs 250
  const other = new RawPeer(net.attach('o-shim')); // keeps the enroller busy
  await other.send('bootstrap', connectMsg(1, 'o'));
  await settle();
  // Two far-away (or hostile) members: 240 ms, then 700 ms from burst to M_STOP_R; a window of about 1.1 s.
  for (const [name, ms] of [
    ['slow1', 240],
    ['slow2', 700],
  ] as const) {
    const slow = new RawPeer(net.attach(`${name}-shim`));
    await slow.send('bootstrap', connectMsg(1, name));
    await settle();
    await slow.send('bootstrap', startMsg(2));
    await settle();
    clock.advance(ms);
    await settle();
    await slow.send('bootstrap', stopReply(slow));
    await settle();
  }
  const m = await startedPeer(net, 'm');
  // Its M_STOP_R is lost; M_STOP must come again before the enrollment is forgotten (1 s of its silence).
  for (let t = 0; t < 900 && m.ofType(OpCode.M_STOP).length < 2; t += 50) {
    clock.advance(50);
    await settle();
  }
  expect(m.ofType(OpCode.M_STOP).length).toBeGreaterThanOrEqual(2);
  await m.send('bootstrap', stopReply(m));
  await settle();
  expect(enroller.members().map((x) => x.name)).toContain('m');
});
