/**
 * The three ways recovery used to fail, as plain tests: failover to an
 * enroller with another pool, a short attempt that lost its retransmissions,
 * and an enroller that stopped without telling its members.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ConfigError,
  decodeCdapMessage,
  Enroller,
  type EnrollmentEvents,
  type EnrollmentManager,
  MemoryNetwork,
  MemoryRib,
  OpCode,
  resolveConfig,
} from '../../src/index.js';
import { cleanup, connectMsg, member, RawPeer, startMsg, withEnroller } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

function record(mgr: EnrollmentManager) {
  const events: Array<{ name: keyof EnrollmentEvents; at: number; args: unknown[] }> = [];
  const names: Array<keyof EnrollmentEvents> = ['connection:lost', 'reenroll:success', 'address:change', 'enrolled'];
  for (const name of names) mgr.on(name, (...args: unknown[]) => events.push({ name, at: performance.now(), args }));
  return (name: keyof EnrollmentEvents) => events.filter((e) => e.name === name);
}

const fast = {
  heartbeatIntervalSecs: 0.5,
  connectionTimeoutSecs: 2,
  timeoutMs: 300,
  reenrollBackoffBaseMs: 200,
  reenrollBackoffCapMs: 1000,
};

describe('failover to an enroller with its own pool', () => {
  it('the member asks for its old address, gets one of the new pool, adopts it and says so', async () => {
    vi.useFakeTimers();
    const net = new MemoryNetwork({ seed: 3 });
    const b1 = await withEnroller({ addressPool: { first: 1002, last: 1502 } }, net, 'b1');
    const b2 = await withEnroller({ addressPool: { first: 3002, last: 3502 } }, net, 'b2');
    const { mgr, rib } = member(net, 'm', { ...fast, bootstraps: ['b1', 'b2'] });
    await mgr.enrol();
    expect(mgr.state).toMatchObject({ type: 'enrolled', bootstrap: 'b1', address: 1002 });
    mgr.startConnectionMonitoring();
    const of = record(mgr);
    const changes: unknown[] = [];
    const onChange = (message: unknown): void => {
      changes.push(message);
    };
    subscribe('rina-enrollment:address:change', onChange);
    try {
      net.detach('b1'); // b1 goes away without a word
      await b1.enroller.stop();
      // connection timeout (2 s) + at most one backoff of the base (200 ms) + one attempt (300 ms)
      await vi.advanceTimersByTimeAsync(2000 + 40 + 200 + 300);
    } finally {
      unsubscribe('rina-enrollment:address:change', onChange);
    }
    expect(mgr.state).toMatchObject({ type: 'enrolled', bootstrap: 'b2', address: 3002 });
    expect(mgr.address).toBe(3002);
    expect(rib.read('/mgmt/address')?.value.int64val).toBe(3002n);
    expect(of('address:change').map((e) => e.args[0])).toEqual([{ previous: 1002, address: 3002, bootstrap: 'b2' }]);
    expect(changes).toEqual([{ ipcpName: 'm', previous: 1002, address: 3002, bootstrap: 'b2' }]);
    expect(of('reenroll:success').map((e) => e.args[0])).toEqual([
      expect.objectContaining({ bootstrap: 'b2', previousAddress: 1002, address: 3002 }),
    ]);
    expect(of('connection:lost')).toHaveLength(1);
    expect(b2.enroller.members()).toEqual([expect.objectContaining({ name: 'm', address: 3002 })]);
  });

  it('no address:change when the enroller gives the old address back', async () => {
    vi.useFakeTimers();
    const net = new MemoryNetwork({ seed: 4 });
    const b1 = await withEnroller({ addressPool: { first: 1002, last: 1502 } }, net, 'b1');
    await withEnroller({ addressPool: { first: 1002, last: 1502 } }, net, 'b2');
    const { mgr } = member(net, 'm', { ...fast, bootstraps: ['b1', 'b2'] });
    await mgr.enrol();
    mgr.startConnectionMonitoring();
    const of = record(mgr);
    net.detach('b1');
    await b1.enroller.stop();
    await vi.advanceTimersByTimeAsync(3000);
    expect(mgr.state).toMatchObject({ type: 'enrolled', bootstrap: 'b2', address: 1002 });
    expect(of('reenroll:success')).toHaveLength(1);
    expect(of('address:change')).toEqual([]);
  });
});

describe('retransmission fits the attempt', () => {
  it('unset, retransmitMs is min(250, timeoutMs / 4, maxRetransmitMs)', () => {
    expect(resolveConfig().retransmitMs).toBe(250);
    expect(resolveConfig({ timeoutMs: 150 }).retransmitMs).toBe(37.5);
    expect(resolveConfig({ timeoutMs: 5000, maxRetransmitMs: 100 }).retransmitMs).toBe(100);
    expect(resolveConfig({ timeoutMs: 150, retransmitMs: 30 }).retransmitMs).toBe(30);
  });

  it('an explicit retransmitMs above half of timeoutMs (M_START would go once) is a ConfigError naming both fields', () => {
    let error: unknown;
    try {
      resolveConfig({ timeoutMs: 150, retransmitMs: 250 });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const issues = (error as ConfigError).issues;
    expect(issues.map((i) => i.field)).toContain('retransmitMs');
    expect((error as Error).message).toMatch(/retransmitMs 250 > timeoutMs 150 \/ 2/);
    // one CONNECT lost: M_START goes at 140 ms and would not go again before the attempt ends
    expect(() => resolveConfig({ timeoutMs: 150, retransmitMs: 140 })).toThrow(/retransmitMs: must be at most half of timeoutMs/);
    expect(resolveConfig({ timeoutMs: 150, retransmitMs: 75 }).retransmitMs).toBe(75);
  });

  it('20 members with a 150 ms attempt through 20% loss all enrol', async () => {
    vi.useFakeTimers();
    const net = new MemoryNetwork({ seed: 11, drop: 0.2 });
    await withEnroller({ retransmitMs: 30 }, net);
    const members = Array.from({ length: 20 }, (_, i) => member(net, `m${i}`, { timeoutMs: 150, maxRetries: 8, initialBackoffMs: 10 }));
    const sends = new Map<string, number>();
    net.tap((p) => {
      const msg = decodeCdapMessage(p.pdu);
      if (msg.opCode === OpCode.M_CONNECT) sends.set(p.from, (sends.get(p.from) ?? 0) + 1);
    });
    const results = members.map(({ mgr }) =>
      mgr.enrolWithBootstrap('bootstrap').then(
        () => 'ok',
        (err: Error) => err.name,
      ),
    );
    await vi.advanceTimersByTimeAsync(20_000);
    expect(await Promise.all(results)).toEqual(Array(20).fill('ok'));
    for (const { mgr } of members) expect(mgr.state.type).toBe('enrolled');
    // retransmission is on: some member sent its M_CONNECT more often than it made attempts
    expect(Math.max(...sends.values())).toBeGreaterThan(1);
  });

  it('the enroller derives its M_STOP repeat from pendingTimeoutMs and refuses one that cannot repeat', async () => {
    const base = {
      shim: new MemoryNetwork().attach('e'),
      rib: new MemoryRib(),
      ipcpName: 'e',
      difName: 'd',
      addressPool: { first: 1, last: 9 },
    };
    expect(() => new Enroller({ ...base, pendingTimeoutMs: 200, retransmitMs: 250 })).toThrow(
      /retransmitMs: must be at most half of pendingTimeoutMs \(retransmitMs 250 > pendingTimeoutMs 200 \/ 2\)/,
    );
    expect(() => new Enroller({ ...base, pendingTimeoutMs: 200, retransmitMs: 101 })).toThrow(ConfigError);
    expect(() => new Enroller({ ...base, pendingTimeoutMs: 200 })).not.toThrow();
    // unset with a short pending timeout: M_STOP goes again every 50 ms and more, not once
    vi.useFakeTimers();
    const net = new MemoryNetwork({ seed: 5 });
    await withEnroller({ pendingTimeoutMs: 200 }, net);
    const peer = new RawPeer(net.attach('raw'));
    await peer.send('bootstrap', connectMsg(1, 'raw'));
    await vi.advanceTimersByTimeAsync(1);
    await peer.send('bootstrap', startMsg(2));
    await vi.advanceTimersByTimeAsync(199);
    expect(peer.ofType(OpCode.M_STOP).length).toBeGreaterThanOrEqual(2);
  });
});

describe('graceful stop', () => {
  it('stop() releases every member: they see "released" at once and fail over without waiting for their timeout', async () => {
    vi.useFakeTimers();
    const net = new MemoryNetwork({ seed: 6 });
    const b1 = await withEnroller({ addressPool: { first: 1002, last: 1502 } }, net, 'b1');
    await withEnroller({ addressPool: { first: 1002, last: 1502 } }, net, 'b2');
    const members = ['m1', 'm2', 'm3'].map((name) => member(net, name, { ...presetsSlow, bootstraps: ['b1', 'b2'] }));
    for (const { mgr } of members) {
      await mgr.enrol();
      mgr.startConnectionMonitoring();
    }
    const records = members.map(({ mgr }) => record(mgr));
    const stoppedAt = performance.now();
    await b1.enroller.stop();
    await vi.advanceTimersByTimeAsync(10);
    for (const of of records) {
      expect(of('connection:lost').map((e) => (e.args[0] as { reason: string }).reason)).toEqual(['released']);
      expect(of('connection:lost')[0]?.at).toBe(stoppedAt);
    }
    // back at b2 within one backoff (base 1 s) and an attempt, far inside the 90 s connection timeout
    await vi.advanceTimersByTimeAsync(1000 + 100);
    for (const { mgr } of members) expect(mgr.state).toMatchObject({ type: 'enrolled', bootstrap: 'b2' });
    expect(performance.now() - stoppedAt).toBeLessThan(90_000);
  });

  it('a member whose only enroller released it keeps retrying with backoff, and is back when the enroller returns', async () => {
    vi.useFakeTimers();
    const net = new MemoryNetwork({ seed: 7 });
    const first = await withEnroller({}, net);
    const { mgr } = member(net, 'm', { ...fast, bootstraps: ['bootstrap'] });
    await mgr.enrol();
    const address = mgr.address;
    mgr.startConnectionMonitoring();
    const of = record(mgr);
    const failures: number[] = [];
    mgr.on('reenroll:failure', () => failures.push(performance.now()));
    await first.enroller.stop();
    await vi.advanceTimersByTimeAsync(5000);
    expect(of('connection:lost').map((e) => (e.args[0] as { reason: string }).reason)).toEqual(['released']);
    expect(mgr.state.type).toBe('reenrolling');
    expect(failures.length).toBeGreaterThanOrEqual(3); // still trying
    expect(failures.length).toBeLessThan(5000 / 300 + 1); // never faster than one attempt at a time
    await first.enroller.start();
    await vi.advanceTimersByTimeAsync(2000);
    expect(mgr.state).toMatchObject({ type: 'enrolled', address });
    expect(of('reenroll:success')).toHaveLength(1);
  });

  it('a lost M_RELEASE is covered by the second copy', async () => {
    vi.useFakeTimers();
    const net = new MemoryNetwork({ seed: 8 });
    const b1 = await withEnroller({}, net, 'b1');
    const { mgr } = member(net, 'm', { ...presetsSlow, bootstraps: ['b1'] });
    await mgr.enrol();
    mgr.startConnectionMonitoring();
    const of = record(mgr);
    // The first datagram from b1 to m after this is cut; the cut heals at once, so the second copy goes through.
    net.partition('b1', 'm');
    const fates: string[] = [];
    net.tap((p) => {
      if (p.from !== 'b1' || p.to !== 'm') return;
      fates.push(`${decodeCdapMessage(p.pdu).opCode === OpCode.M_RELEASE ? 'M_RELEASE' : 'other'}:${p.fate}`);
      if (p.fate === 'partitioned') net.heal('b1', 'm');
    });
    await b1.enroller.stop();
    await vi.advanceTimersByTimeAsync(10);
    expect(fates).toEqual(['M_RELEASE:partitioned', 'M_RELEASE:sent']);
    expect(of('connection:lost').map((e) => (e.args[0] as { reason: string }).reason)).toEqual(['released']);
  });
});

/** Default heartbeat and timeout (30 s / 90 s): what "without waiting for the timeout" is measured against. */
const presetsSlow = { timeoutMs: 100 };
