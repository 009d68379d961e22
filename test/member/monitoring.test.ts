import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  decodeCdapMessage,
  decodeEnrollmentInfo,
  type EnrollmentEvents,
  type EnrollmentManager,
  MemoryNetwork,
  OpCode,
} from '../../src/index.js';
import { cleanup, connectMsg, member, RawPeer, startMsg, withEnroller } from '../support/helpers.js';
import { TICK_MS } from '../../src/util/ticker.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

/** Records every event of `mgr` with the (fake) time it fired at. */
function record(mgr: EnrollmentManager) {
  const events: Array<{ name: keyof EnrollmentEvents; at: number; args: unknown[] }> = [];
  const names: Array<keyof EnrollmentEvents> = [
    'state:change',
    'enrolled',
    'connection:lost',
    'reenroll:attempt',
    'reenroll:success',
    'reenroll:failure',
    'keepalive:rtt',
  ];
  for (const name of names) mgr.on(name, (...args: unknown[]) => events.push({ name, at: performance.now(), args }));
  const of = (name: keyof EnrollmentEvents) => events.filter((e) => e.name === name);
  return { events, of };
}

/** Counts the PDUs of `opCode` that `from` sends. */
function counter(net: MemoryNetwork, from: string, opCode: number) {
  const times: number[] = [];
  net.tap((p) => {
    if (p.from === from && decodeCdapMessage(p.pdu).opCode === opCode) times.push(performance.now());
  });
  return times;
}

describe('active keepalive', () => {
  it('sends M_READ keepalive every interval while enrolled; the enroller answers and the RTT is measured', async () => {
    vi.useFakeTimers();
    const { net } = await withEnroller({}, new MemoryNetwork({ seed: 1, delayMs: 3 }));
    const { mgr } = member(net, 'm', { heartbeatIntervalSecs: 1, connectionTimeoutSecs: 3 });
    const reads = counter(net, 'm', OpCode.M_READ);
    const answers = counter(net, 'bootstrap', OpCode.M_READ_R);
    const rec = record(mgr);
    const enrolling = mgr.enrolWithBootstrap('bootstrap');
    await vi.advanceTimersByTimeAsync(100);
    await enrolling;
    const t0 = mgr.state.type === 'enrolled' ? performance.now() - (Date.now() - mgr.state.since) : Number.NaN;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(reads.length).toBe(10);
    // one every second, each at most one bucket of the shared wheel late
    reads.forEach((t, i) => {
      expect(t - t0).toBeGreaterThanOrEqual((i + 1) * 1000);
      expect(t - t0).toBeLessThanOrEqual((i + 1) * 1000 + TICK_MS);
    });
    expect(answers.length).toBe(10);
    const rtts = rec.of('keepalive:rtt').map((e) => (e.args[0] as { rttMs: number }).rttMs);
    expect(rtts.length).toBe(10);
    for (const rtt of rtts) expect(rtt).toBeCloseTo(6, 5); // 3 ms each way
    expect(mgr.metrics().keepaliveRttMs).toEqual({ last: rtts[9], min: 6, smoothed: expect.closeTo(6, 5) });
  });

  it('RTT statistics: last, min and the smoothed value (gain 1/8) follow varying round trips', async () => {
    vi.useFakeTimers();
    const { net } = await withEnroller({}, new MemoryNetwork({ seed: 4, delayMs: 2, jitterMs: 20 }));
    const { mgr } = member(net, 'm', { heartbeatIntervalSecs: 1, connectionTimeoutSecs: 3 });
    const rec = record(mgr);
    const enrolling = mgr.enrolWithBootstrap('bootstrap');
    await vi.advanceTimersByTimeAsync(500);
    await enrolling;
    await vi.advanceTimersByTimeAsync(20_000);
    const rtts = rec.of('keepalive:rtt').map((e) => (e.args[0] as { rttMs: number }).rttMs);
    expect(rtts.length).toBeGreaterThan(15);
    expect(new Set(rtts.map(Math.round)).size).toBeGreaterThan(3); // they do vary
    let smoothed = rtts[0] ?? 0;
    for (const r of rtts.slice(1)) smoothed += (r - smoothed) / 8;
    const m = mgr.metrics().keepaliveRttMs;
    expect(m.last).toBe(rtts.at(-1));
    expect(m.min).toBe(Math.min(...rtts));
    expect(m.smoothed).toBe(Math.round(smoothed * 10) / 10); // reported to 0.1 ms
  });

  it('every message from the bootstrap counts as a heartbeat, not only keepalive replies', async () => {
    vi.useFakeTimers();
    const { net, enroller } = await withEnroller();
    const { mgr } = member(net, 'm', { heartbeatIntervalSecs: 1, connectionTimeoutSecs: 3 });
    await mgr.enrolWithBootstrap('bootstrap');
    mgr.startConnectionMonitoring();
    const rec = record(mgr);
    // The enroller is replaced by a peer that never answers keepalives but pushes a RIB update every 2 s.
    net.detach('bootstrap'); // gone without a word (a crash), not a graceful stop
    await enroller.stop();
    const peer = new RawPeer(net.attach('bootstrap'));
    for (let i = 0; i < 10; i++) {
      await peer.send('m', {
        opCode: OpCode.M_WRITE,
        invokeId: 100 + i,
        objClass: 'counter',
        objName: '/dif/counter',
        objValue: { intval: i },
      });
      await vi.advanceTimersByTimeAsync(2000);
    }
    expect(rec.of('connection:lost')).toEqual([]);
    expect(peer.ofType(OpCode.M_WRITE_R)).toHaveLength(10);
    await vi.advanceTimersByTimeAsync(3100); // and once it falls silent, the loss comes
    expect(rec.of('connection:lost')).toHaveLength(1);
  });

  it('mean detection delay over two outages is their mean', async () => {
    vi.useFakeTimers();
    const { net } = await withEnroller({}, new MemoryNetwork({ seed: 5, delayMs: 7 }));
    const { mgr } = member(net, 'm', {
      heartbeatIntervalSecs: 0.3,
      connectionTimeoutSecs: 1,
      reenrollBackoffBaseMs: 300,
      reenrollBackoffCapMs: 600,
    });
    const enrolling = mgr.enrolWithBootstrap('bootstrap');
    await vi.advanceTimersByTimeAsync(100);
    await enrolling;
    mgr.startConnectionMonitoring();
    const delays: number[] = [];
    mgr.on('connection:lost', (i) => delays.push(i.silentMs));
    for (let i = 0; i < 2; i++) {
      net.partition('m', 'bootstrap');
      await vi.advanceTimersByTimeAsync(1100 + i * 13);
      net.heal('m', 'bootstrap');
      await vi.advanceTimersByTimeAsync(5000);
    }
    expect(delays).toHaveLength(2);
    const d = mgr.metrics().detectionDelayMs;
    expect(d).toEqual({ last: delays[1], mean: ((delays[0] ?? 0) + (delays[1] ?? 0)) / 2, count: 2 });
  });

  it('keeps a member healthy by itself: no updateHeartbeat(), no loss, no re-enrollment over 100 timeouts', async () => {
    vi.useFakeTimers();
    const { net } = await withEnroller();
    const { mgr } = member(net, 'm', { heartbeatIntervalSecs: 1, connectionTimeoutSecs: 3 });
    await mgr.enrolWithBootstrap('bootstrap');
    mgr.startConnectionMonitoring();
    const rec = record(mgr);
    const connects = counter(net, 'm', OpCode.M_CONNECT);
    await vi.advanceTimersByTimeAsync(300_000);
    expect(rec.of('connection:lost')).toEqual([]);
    expect(connects).toEqual([]);
    expect(mgr.isConnectionHealthy()).toBe(true);
  });

  it('a refused keepalive (the enroller no longer knows the member) is a loss at once, and recovery follows', async () => {
    vi.useFakeTimers();
    const net = new MemoryNetwork({ seed: 2 });
    const first = await withEnroller({}, net);
    const { mgr } = member(net, 'm', { heartbeatIntervalSecs: 1, connectionTimeoutSecs: 30 }, { random: () => 0 });
    await mgr.enrolWithBootstrap('bootstrap');
    const address = mgr.address;
    mgr.startConnectionMonitoring();
    const rec = record(mgr);
    net.detach('bootstrap'); // gone without a word (a crash), not a graceful stop
    await first.enroller.stop();
    await withEnroller({}, net); // restarted without its table
    await vi.advanceTimersByTimeAsync(1100);
    expect(rec.of('connection:lost').map((e) => (e.args[0] as { reason: string }).reason)).toEqual(['keepalive-refused']);
    await vi.advanceTimersByTimeAsync(1000);
    expect(rec.of('reenroll:success')).toHaveLength(1);
    expect(mgr.state).toMatchObject({ type: 'enrolled', address });
  });
});

describe('precise detection', () => {
  // Several one-way delays put the last heartbeat at different phases of the
  // shared wheel's 10 ms buckets, so an early check cannot hide in the rounding.
  const cases = [
    [0.2, 0.1],
    [3, 1],
    [90, 30],
    [7.777, 2.5],
  ].flatMap(([t, h]) => [3, 7, 11, 17].map((d) => [t, h, d] as [number, number, number]));
  it.each(cases)(
    'connection timeout %s s (heartbeat %s s, %s ms each way): lost never before it and at most 10 ms after (one bucket of the shared wheel, as the README says)',
    async (timeoutSecs, heartbeatSecs, delayMs) => {
      vi.useFakeTimers();
      const { net } = await withEnroller({}, new MemoryNetwork({ seed: 6, delayMs }));
      const { mgr } = member(net, 'm', { heartbeatIntervalSecs: heartbeatSecs, connectionTimeoutSecs: timeoutSecs });
      const enrolling = mgr.enrolWithBootstrap('bootstrap');
      await vi.advanceTimersByTimeAsync(100);
      await enrolling;
      mgr.startConnectionMonitoring();
      const rec = record(mgr);
      // run a while with keepalives, then cut the link at an awkward moment
      await vi.advanceTimersByTimeAsync(heartbeatSecs * 1000 * 3 + 7);
      net.partition('m', 'bootstrap');
      await vi.advanceTimersByTimeAsync(20); // what was already on the wire arrives
      const last = mgr.lastHeartbeat ?? 0;
      const timeoutMs = timeoutSecs * 1000;
      const bound = TICK_MS;
      // healthy until the exact timeout, unhealthy from then on
      await vi.advanceTimersByTimeAsync(last + timeoutMs - 1 - performance.now());
      expect(mgr.isConnectionHealthy()).toBe(true);
      expect(rec.of('connection:lost')).toEqual([]);
      await vi.advanceTimersByTimeAsync(1);
      expect(mgr.isConnectionHealthy()).toBe(false);
      await vi.advanceTimersByTimeAsync(bound);
      const lost = rec.of('connection:lost');
      expect(lost).toHaveLength(1);
      const delay = (lost[0]?.at ?? 0) - last;
      expect(delay).toBeGreaterThanOrEqual(timeoutMs);
      expect(delay).toBeLessThanOrEqual(timeoutMs + bound);
      // reported to 0.1 ms
      expect((lost[0]?.args[0] as { silentMs: number } | undefined)?.silentMs).toBe(Math.round(delay * 10) / 10);
      expect(mgr.metrics().detectionDelayMs.last).toBe(Math.round(delay * 10) / 10);
    },
  );
});

describe('recovery that cannot storm', () => {
  it('backs off with full jitter, random(0, min(cap, base * 2^n)), never below retransmitMs', async () => {
    vi.useFakeTimers();
    const { net, enroller } = await withEnroller();
    const draws = [0.999, 0.5, 0.0, 0.999, 0.999];
    let i = 0;
    const { mgr } = member(
      net,
      'm',
      {
        heartbeatIntervalSecs: 0.5,
        connectionTimeoutSecs: 1.5,
        timeoutMs: 100,
        retransmitMs: 50,
        maxRetransmitMs: 50,
        reenrollBackoffBaseMs: 1000,
        reenrollBackoffCapMs: 8000,
      },
      { random: () => draws[i++] ?? 0.999 },
    );
    await mgr.enrolWithBootstrap('bootstrap');
    mgr.startConnectionMonitoring();
    const rec = record(mgr);
    net.detach('bootstrap'); // gone without a word (a crash), not a graceful stop
    await enroller.stop();
    await vi.advanceTimersByTimeAsync(1500 + 40 + 999 + 100 + 1000 + 100 + 50 + 100 + 7992 + 1);
    const lostAt = rec.of('connection:lost')[0]?.at ?? Number.NaN;
    const attempts = rec.of('reenroll:attempt');
    // n = 0 at the loss: random(0, 1000) = 999; n = 1: random(0, 2000) = 1000;
    // n = 2: 0, floored to retransmitMs = 50; n = 3: random(0, min(8000, 8000)) = 7992
    expect(attempts.map((e) => (e.args[0] as { nextDelayMs: number }).nextDelayMs)).toEqual([1000, 50, 7992, 7992]);
    expect(attempts.map((e) => e.at - lostAt)).toEqual([999, 999 + 100 + 1000, 2099 + 100 + 50, 2249 + 100 + 7992]);
    const failures = rec.of('reenroll:failure').map((e) => e.args[0] as { retryInMs: number; attempt: number });
    expect(failures.map((f) => [f.attempt, f.retryInMs])).toEqual([
      [1, 1000],
      [2, 50],
      [3, 7992],
    ]);
    expect(rec.of('connection:lost')).toHaveLength(1);
    expect(mgr.state).toMatchObject({ type: 'reenrolling', attempt: 4, previousAddress: 1002 });
  });

  it('300 members whose enroller disappears and returns: retries spread over time, everyone back with its address', async () => {
    vi.useFakeTimers();
    const N = 300;
    const net = new MemoryNetwork({ seed: 1000 });
    const first = await withEnroller({ leaseMs: 3000, addressPool: { first: 1, last: 5000 } }, net);
    const config = {
      heartbeatIntervalSecs: 1,
      connectionTimeoutSecs: 3,
      timeoutMs: 1000,
      retransmitMs: 250,
      maxRetransmitMs: 500,
      reenrollBackoffBaseMs: 1000,
      reenrollBackoffCapMs: 16_000,
    };
    const members = Array.from({ length: N }, (_, i) => member(net, `m${i}`, config).mgr);
    const enrolling = Promise.all(members.map((m) => m.enrolWithBootstrap('bootstrap')));
    await vi.advanceTimersByTimeAsync(5000);
    await enrolling;
    const before = new Map(members.map((m) => [m.ipcpName, m.address]));
    for (const m of members) m.startConnectionMonitoring();

    const successAt: number[] = [];
    for (const m of members) m.on('reenroll:success', () => successAt.push(performance.now()));
    const connects: number[] = [];
    net.tap((p) => {
      if (p.to === 'bootstrap' && decodeCdapMessage(p.pdu).opCode === OpCode.M_CONNECT) connects.push(performance.now());
    });
    net.detach('bootstrap'); // gone without a word (a crash), not a graceful stop
    await first.enroller.stop();
    await vi.advanceTimersByTimeAsync(30_000);
    await withEnroller({ addressPool: { first: 1, last: 5000 } }, net); // back, with an empty table
    const back = performance.now();
    await vi.advanceTimersByTimeAsync(60_000);

    expect(members.every((m) => m.state.type === 'enrolled')).toBe(true);
    expect(members.every((m) => m.address === before.get(m.ipcpName))).toBe(true);
    for (const m of members) expect(m.metrics().outages).toBe(1);

    const firstBack = Math.min(...successAt) - back;
    const lastBack = Math.max(...successAt) - back;
    expect(successAt).toHaveLength(N);
    // never a tight loop: a few attempts per member over the 30 s outage, each CONNECT sent at most 3 times
    expect(connects.length).toBeGreaterThan(N);
    expect(connects.length).toBeLessThan(N * 20);
    // Spread: the members lost the enroller in the same tick, and it came back at one instant; with the same backoff
    // and no jitter they would all be back in the same instant too. With it, more than a second lies between the
    // first member back and the last.
    expect(lastBack - firstBack).toBeGreaterThan(1000);
  }, 60_000);
});

describe('scenarios on MemoryNetwork', () => {
  const fast = { heartbeatIntervalSecs: 0.25, connectionTimeoutSecs: 1, timeoutMs: 500, retransmitMs: 100, maxRetransmitMs: 200 };

  it('partition then heal: lost on time, re-enrolled with the same address, one event each', async () => {
    vi.useFakeTimers();
    const { net } = await withEnroller();
    const { mgr } = member(net, 'm', fast);
    await mgr.enrolWithBootstrap('bootstrap');
    const address = mgr.address;
    mgr.startConnectionMonitoring();
    const rec = record(mgr);
    net.partition('m', 'bootstrap');
    const last = mgr.lastHeartbeat ?? 0;
    await vi.advanceTimersByTimeAsync(5000);
    const lost = rec.of('connection:lost');
    expect(lost).toHaveLength(1);
    expect((lost[0]?.at ?? 0) - last).toBeGreaterThanOrEqual(1000);
    expect((lost[0]?.at ?? 0) - last).toBeLessThanOrEqual(1050);
    expect(mgr.state).toMatchObject({ type: 'reenrolling', previousAddress: address });
    net.heal('m', 'bootstrap');
    await vi.advanceTimersByTimeAsync(30_000);
    expect(rec.of('connection:lost')).toHaveLength(1);
    expect(rec.of('reenroll:success')).toHaveLength(1);
    expect(rec.of('reenroll:success')[0]?.args[0]).toMatchObject({ address, previousAddress: address, bootstrap: 'bootstrap' });
    expect(mgr.state).toMatchObject({ type: 'enrolled', address, bootstrap: 'bootstrap' });
    const metrics = mgr.metrics();
    expect(metrics).toMatchObject({ enrollments: 2, outages: 1, reenrollSuccesses: 1 });
    expect(metrics.reenrollAttempts).toBe(metrics.reenrollFailures + 1);
    expect(metrics.detectionDelayMs.last).toBeGreaterThanOrEqual(1000);
    expect(metrics.timeToRecoverMs.last).toBeGreaterThan(0);
    expect(metrics.uptimeRatio).toBeGreaterThan(0);
    expect(metrics.uptimeRatio).toBeLessThan(1);
  });

  it('fails over to the second bootstrap when the first is gone, and back when it returns', async () => {
    vi.useFakeTimers();
    const net = new MemoryNetwork({ seed: 9 });
    const pool = { addressPool: { first: 1, last: 999 } };
    let a = await withEnroller(pool, net);
    const b = await withEnroller(pool, net, 'bootstrap-b');
    const { mgr } = member(net, 'm', { ...fast, bootstraps: ['bootstrap', 'bootstrap-b'] });
    await mgr.enrol();
    const address = mgr.address;
    expect(mgr.bootstrapAddress).toBe('bootstrap');
    mgr.startConnectionMonitoring();
    const rec = record(mgr);

    const toA: number[] = [];
    net.tap((p) => {
      if (p.to === 'bootstrap' && decodeCdapMessage(p.pdu).opCode === OpCode.M_CONNECT) toA.push(performance.now());
    });
    net.detach('bootstrap'); // gone without a word (a crash), not a graceful stop
    await a.enroller.stop();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(mgr.state).toMatchObject({ type: 'enrolled', bootstrap: 'bootstrap-b', address });
    // the silent one is left alone: recovery went straight to the other
    expect(toA).toEqual([]);

    a = await withEnroller(pool, net); // the first returns
    await b.enroller.stop();
    net.detach('bootstrap-b'); // and the second goes
    await vi.advanceTimersByTimeAsync(10_000);
    expect(mgr.state).toMatchObject({ type: 'enrolled', bootstrap: 'bootstrap', address });
    expect(rec.of('connection:lost')).toHaveLength(2);
    expect(rec.of('reenroll:success')).toHaveLength(2);
    expect(mgr.bootstraps().map((s) => s.address)).toEqual(['bootstrap', 'bootstrap-b']);
  });

  it('learns alternate enrollers from the enrollment reply and fails over to them', async () => {
    vi.useFakeTimers();
    const net = new MemoryNetwork({ seed: 10 });
    const a = await withEnroller({ alternates: ['bootstrap-b'] }, net);
    await withEnroller({}, net, 'bootstrap-b');
    const { mgr } = member(net, 'm', fast);
    await mgr.enrolWithBootstrap('bootstrap');
    expect(mgr.bootstraps()).toEqual([
      expect.objectContaining({ address: 'bootstrap', source: 'explicit' }),
      expect.objectContaining({ address: 'bootstrap-b', source: 'advertised' }),
    ]);
    mgr.startConnectionMonitoring();
    net.detach('bootstrap'); // gone without a word (a crash), not a graceful stop
    await a.enroller.stop();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(mgr.state).toMatchObject({ type: 'enrolled', bootstrap: 'bootstrap-b' });
  });

  it('a flapping link (up 1 s, down 1 s) gives no duplicate events and no storm', async () => {
    vi.useFakeTimers();
    const { net } = await withEnroller();
    const { mgr } = member(net, 'm', { ...fast, connectionTimeoutSecs: 0.8 });
    await mgr.enrolWithBootstrap('bootstrap');
    mgr.startConnectionMonitoring();
    const rec = record(mgr);
    const connects = counter(net, 'm', OpCode.M_CONNECT);
    for (let i = 0; i < 30; i++) {
      net.partition('m', 'bootstrap');
      await vi.advanceTimersByTimeAsync(1000);
      net.heal('m', 'bootstrap');
      await vi.advanceTimersByTimeAsync(1000);
    }
    await vi.advanceTimersByTimeAsync(30_000); // settle on a healthy link
    const lost = rec.of('connection:lost').length;
    const back = rec.of('reenroll:success').length;
    expect(lost).toBeGreaterThan(0);
    expect(back).toBe(lost); // every outage ends in exactly one recovery
    // lost and success alternate: never two losses without a recovery between
    const sequence = rec.events.filter((e) => e.name === 'connection:lost' || e.name === 'reenroll:success').map((e) => e.name);
    sequence.forEach((name, i) => {
      expect(name).toBe(i % 2 === 0 ? 'connection:lost' : 'reenroll:success');
    });
    // no storm: over 60 s, a handful of CONNECTs per outage at most
    expect(connects.length).toBeLessThan(lost * 10);
    expect(mgr.state.type).toBe('enrolled');
  });

  it('1,000 start/stop cycles of the monitor leave no timer behind', async () => {
    vi.useFakeTimers();
    const { net, enroller } = await withEnroller();
    const { mgr } = member(net, 'm', { heartbeatIntervalSecs: 1, connectionTimeoutSecs: 3 });
    await mgr.enrolWithBootstrap('bootstrap');
    for (let i = 0; i < 1000; i++) {
      const monitor = mgr.startConnectionMonitoring();
      await vi.advanceTimersByTimeAsync(1);
      monitor.stop();
    }
    await mgr.close();
    await enroller.stop();
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('enroller liveness', () => {
  it('a member silent past the lease is gone; its address is held, then released', async () => {
    vi.useFakeTimers();
    const { net, enroller } = await withEnroller({ leaseMs: 3000, holdMs: 10_000 });
    const gone: string[] = [];
    const released: Array<{ name: string; address: number }> = [];
    enroller.on('member:gone', (m) => gone.push(m.name));
    enroller.on('address:released', (b) => released.push(b));
    const quiet = member(net, 'quiet', { heartbeatIntervalSecs: 0 }).mgr; // never sends keepalives
    const chatty = member(net, 'chatty', { heartbeatIntervalSecs: 1, connectionTimeoutSecs: 3 }).mgr;
    await quiet.enrolWithBootstrap('bootstrap');
    await chatty.enrolWithBootstrap('bootstrap');
    const quietAddress = quiet.address ?? 0;
    await vi.advanceTimersByTimeAsync(2999);
    expect(gone).toEqual([]);
    await vi.advanceTimersByTimeAsync(41);
    expect(gone).toEqual(['quiet']);
    expect(enroller.members().map((m) => m.name)).toEqual(['chatty']);

    // while held, nobody else gets the address, even asking for it
    const thief = member(net, 'thief').mgr;
    await thief.enrolWithBootstrap('bootstrap');
    expect(thief.address).not.toBe(quietAddress);
    const asker = new RawPeer(net.attach('asker'));
    await asker.send('bootstrap', connectMsg(1, 'asker'));
    await vi.advanceTimersByTimeAsync(5);
    await asker.send('bootstrap', startMsg(2, quietAddress)); // M_START asking for the held address by number
    await vi.advanceTimersByTimeAsync(5);
    const [startReply] = asker.ofType(OpCode.M_START_R);
    expect(startReply?.result ?? 0).toBe(0);
    const given = decodeEnrollmentInfo(startReply?.objValue?.byteval ?? new Uint8Array()).address;
    expect(given).toBeGreaterThan(0);
    expect(given).not.toBe(quietAddress);
    // the member returning within the hold gets it back
    await quiet.reEnroll();
    expect(quiet.address).toBe(quietAddress);
    await quiet.close(); // leaves: held again, then released
    await vi.advanceTimersByTimeAsync(10_040);
    expect(released).toEqual([{ name: 'quiet', address: quietAddress }]);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(
      enroller
        .members()
        .map((m) => m.name)
        .sort(),
    ).toEqual(['chatty']);
  });
});
