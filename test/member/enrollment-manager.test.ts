import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type CdapMessage,
  ConfigError,
  decodeCdapMessage,
  EnrollmentAbortedError,
  EnrollmentInProgressError,
  EnrollmentManager,
  EnrollmentRejectedError,
  EnrollmentTimeoutError,
  IpcpNameNotSetError,
  ManagerClosedError,
  type Shim,
  ShimError,
  MemoryNetwork,
  MemoryRib,
  NoBootstrapPeersError,
  NotEnrolledError,
  OpCode,
} from '../../src/index.js';
import { replyTo } from '../../src/cdap/messages.js';
import { createMockShim, createScriptedEnroller } from '../../src/testing/index.js';
import { cleanup, member, RawPeer, settle, withEnroller } from '../support/helpers.js';
import { built } from '../support/cli-paths.js';

/** Records, with the fake clock's time, every PDU of `opCode` that `from` sends. */
function sent(net: MemoryNetwork, from: string, opCode: number): number[] {
  const times: number[] = [];
  net.tap((p) => {
    if (p.from === from && decodeCdapMessage(p.pdu).opCode === opCode) times.push(Date.now());
  });
  return times;
}

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

describe('EnrollmentManager: enrollment', () => {
  it('enrols and receives its address, the DIF name and the RIB objects', async () => {
    const { net, rib: enrollerRib } = await withEnroller();
    enrollerRib.write({ name: '/dif/policy/routing', class: 'policy', value: { strval: 'link-state' } });
    const { mgr, rib } = member(net, 'member-1');
    const states: string[] = [];
    mgr.on('state:change', (s) => states.push(s.type));
    expect(mgr.state).toEqual({ type: 'idle' });
    await expect(mgr.enrolWithBootstrap('bootstrap')).resolves.toBe('demo.DIF');
    expect(mgr.address).toBe(1002);
    expect(mgr.difName).toBe('demo.DIF');
    expect(mgr.bootstrapAddress).toBe('bootstrap');
    expect(mgr.state).toMatchObject({ type: 'enrolled', bootstrap: 'bootstrap', address: 1002, difName: 'demo.DIF' });
    expect(states).toEqual(['enrolling', 'enrolled']);
    expect(rib.read('/dif/policy/routing')).toEqual({ name: '/dif/policy/routing', class: 'policy', value: { strval: 'link-state' } });
    expect(rib.read('/dif/config/name')?.value).toEqual({ strval: 'demo.DIF' });
    expect(rib.read('/mgmt/address')).toEqual({ name: '/mgmt/address', class: 'address', value: { int64val: 1002n } });
    expect(mgr.isConnectionHealthy()).toBe(true);
    await mgr.close();
  });

  it('100 members enrolling into one enroller get 100 distinct addresses', async () => {
    const { net, enroller } = await withEnroller();
    const members = Array.from({ length: 100 }, (_, i) => member(net, `m${i}`).mgr);
    await Promise.all(members.map((m) => m.enrolWithBootstrap('bootstrap')));
    const addresses = members.map((m) => m.address);
    expect(new Set(addresses).size).toBe(100);
    expect(addresses.every((a) => a !== undefined && a >= 1002 && a <= 1999)).toBe(true);
    await vi.waitFor(() => expect(enroller.members()).toHaveLength(100));
    expect(new Set(enroller.members().map((m) => m.address))).toEqual(new Set(addresses));
    await Promise.all(members.map((m) => m.close()));
  });

  it('enrollment succeeds through 20% loss in both directions', async () => {
    vi.useFakeTimers();
    const { net } = await withEnroller({}, new MemoryNetwork({ seed: 20, drop: 0.2 }));
    const members = Array.from({ length: 30 }, (_, i) => member(net, `m${i}`).mgr);
    const results = Promise.all(members.map((m) => m.enrolWithBootstrap('bootstrap')));
    await vi.advanceTimersByTimeAsync(20_000);
    await expect(results).resolves.toEqual(Array(30).fill('demo.DIF'));
    expect(new Set(members.map((m) => m.address)).size).toBe(30);
    expect(net.stats().lost).toBeGreaterThan(0);
  });

  it('an unreachable bootstrap gives EnrollmentTimeoutError after maxRetries attempts, waiting 1 s then 2 s', async () => {
    vi.useFakeTimers();
    const net = new MemoryNetwork();
    const { mgr } = member(net, 'm', { retransmitMs: 2500, maxRetransmitMs: 2500 }); // two CONNECTs per attempt
    const connects = sent(net, 'm', OpCode.M_CONNECT);
    const t0 = Date.now();
    const result = mgr.enrolWithBootstrap('nobody').catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(5000 + 1000 + 5000 + 2000 + 5000);
    const err = await result;
    expect(err).toBeInstanceOf(EnrollmentTimeoutError);
    expect((err as EnrollmentTimeoutError).attempts).toBe(3);
    expect((err as EnrollmentTimeoutError).code).toBe('ENROLLMENT_TIMEOUT');
    // attempt 1 at 0 (again at 2.5 s), times out at 5 s; wait 1 s; attempt 2 at 6 s; wait 2 s; attempt 3 at 13 s
    expect(connects.map((t) => t - t0)).toEqual([0, 2500, 6000, 8500, 13_000, 15_500]);
    expect(mgr.state).toEqual({ type: 'idle' });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('retransmits within an attempt with doubling intervals', async () => {
    vi.useFakeTimers();
    const net = new MemoryNetwork();
    const { mgr } = member(net, 'm', { maxRetries: 1, retransmitMs: 100, maxRetransmitMs: 400, timeoutMs: 1500 });
    const connects = sent(net, 'm', OpCode.M_CONNECT);
    const t0 = Date.now();
    const result = mgr.enrolWithBootstrap('nobody').catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(1500);
    expect(await result).toBeInstanceOf(EnrollmentTimeoutError);
    expect(connects.map((t) => t - t0)).toEqual([0, 100, 300, 700, 1100]);
  });

  it('pool exhaustion gives EnrollmentRejectedError at once, without retries', async () => {
    vi.useFakeTimers();
    const { net } = await withEnroller({ addressPool: { first: 1002, last: 1003 } });
    const a = member(net, 'a').mgr;
    const b = member(net, 'b').mgr;
    await a.enrolWithBootstrap('bootstrap');
    await b.enrolWithBootstrap('bootstrap');
    const c = member(net, 'c').mgr;
    const starts = sent(net, 'c', OpCode.M_START);
    const err = await c.enrolWithBootstrap('bootstrap').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EnrollmentRejectedError);
    expect((err as EnrollmentRejectedError).reason).toBe('address pool 1002-1003 is exhausted');
    expect((err as EnrollmentRejectedError).result).toBe(-1);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(starts).toHaveLength(1);
    expect(c.state).toEqual({ type: 'idle' });
  });

  it('a rejected CONNECT is final too: one CONNECT, no retry', async () => {
    vi.useFakeTimers();
    const net = new MemoryNetwork();
    const bootstrap = new RawPeer(net.attach('bootstrap'));
    bootstrap.shim.onReceive((pdu, from) => {
      const msg = decodeCdapMessage(pdu);
      if (msg.opCode === OpCode.M_CONNECT) void bootstrap.send(from, replyTo(msg, -7, 'authentication failed'));
    });
    const { mgr } = member(net, 'm');
    const err = await mgr.enrolWithBootstrap('bootstrap').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EnrollmentRejectedError);
    expect(err).toMatchObject({ result: -7, reason: 'authentication failed', code: 'ENROLLMENT_REJECTED' });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(bootstrap.received.filter((r) => r.msg.opCode === OpCode.M_CONNECT)).toHaveLength(1);
  });

  it('refuses to enrol without an IPCP name, or with a bad bootstrap address', async () => {
    const net = new MemoryNetwork();
    const mgr = new EnrollmentManager({ shim: net.attach('m'), rib: new MemoryRib() });
    await expect(mgr.enrolWithBootstrap('bootstrap')).rejects.toBeInstanceOf(IpcpNameNotSetError);
    mgr.setIpcpName('m');
    expect(mgr.ipcpName).toBe('m');
    await expect(mgr.enrolWithBootstrap('')).rejects.toThrow(/bootstrap: must be a non-empty shim address/);
    expect(() => mgr.setIpcpName('')).toThrow(/ipcpName/);
    expect(mgr.state).toEqual({ type: 'idle' });
  });

  // Found by an audit (2026-12-06): { signal: 5 } rejected with a TypeError after the run had started, and the run went
  // on with no caller: enrolled, or an unhandled rejection that ends the process.
  it('refuses options it cannot use with ConfigError before anything starts: no state change, nothing sent', async () => {
    const { net, enroller } = await withEnroller();
    const { mgr } = member(net, 'm', { timeoutMs: 200, maxRetries: 1 });
    const connects = sent(net, 'm', OpCode.M_CONNECT);
    const bad: Array<[() => Promise<string>, RegExp]> = [
      [() => mgr.enrolWithBootstrap('bootstrap', { signal: 5 } as never), /options\.signal: must be an AbortSignal/],
      [() => mgr.enrolWithBootstrap('nowhere', { signal: {} } as never), /options\.signal: must be an AbortSignal/],
      // found by a review (2026-12-06): a signal with no removeEventListener passed, and the run broke on it later
      [
        () => mgr.enrolWithBootstrap('bootstrap', { signal: { aborted: false, addEventListener: () => undefined } } as never),
        /options\.signal: must be an AbortSignal/,
      ],
      [() => mgr.enrolWithBootstrap('bootstrap', null as never), /options: must be an object \(\{ signal\? \}\), got null/],
      [() => mgr.enrol('x' as never), /options: must be an object \(\{ signal\? \}\), got string/],
      [() => mgr.reEnroll({ signal: 'stop' } as never), /options\.signal: must be an AbortSignal/],
      // found by a new user's review (2026-12-07): { timeout: 5 } was accepted and ignored
      [() => mgr.enrolWithBootstrap('bootstrap', { timeout: 5 } as never), /options\.timeout: unknown option: the only one is signal/],
      [() => mgr.enrol({ signal: undefined, timeoutMs: 5 } as never), /options\.timeoutMs: unknown option/],
    ];
    for (const [call, message] of bad) {
      const err = await call().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(message);
    }
    await settle(100);
    expect(mgr.state).toEqual({ type: 'idle' });
    expect(connects).toEqual([]);
    expect(enroller.members()).toEqual([]);
    await expect(mgr.enrolWithBootstrap('bootstrap', { signal: new AbortController().signal })).resolves.toBe('demo.DIF');
  });

  it('concurrent calls share one enrollment; another bootstrap meanwhile is refused', async () => {
    const { net } = await withEnroller();
    const { mgr } = member(net, 'm');
    const connects = sent(net, 'm', OpCode.M_CONNECT);
    const first = mgr.enrolWithBootstrap('bootstrap');
    const second = mgr.enrolWithBootstrap('bootstrap');
    await expect(mgr.enrolWithBootstrap('elsewhere')).rejects.toBeInstanceOf(EnrollmentInProgressError);
    await expect(Promise.all([first, second])).resolves.toEqual(['demo.DIF', 'demo.DIF']);
    expect(connects).toHaveLength(1);
  });

  it('aborting through the signal rejects with EnrollmentAbortedError and stops the attempt', async () => {
    vi.useFakeTimers();
    const net = new MemoryNetwork();
    const { mgr } = member(net, 'm');
    const controller = new AbortController();
    const result = mgr.enrolWithBootstrap('nobody', { signal: controller.signal }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(1000);
    controller.abort();
    const err = await result;
    expect(err).toBeInstanceOf(EnrollmentAbortedError);
    expect((err as Error).message).toMatch(/aborted/);
    await vi.advanceTimersByTimeAsync(0);
    expect(vi.getTimerCount()).toBe(0);
    expect(mgr.state).toEqual({ type: 'idle' });
    await expect(mgr.enrolWithBootstrap('nobody', { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(EnrollmentAbortedError);
  });

  it('enrol() and reEnroll() take a signal too: aborting rejects the caller with EnrollmentAbortedError and leaves the manager idle', async () => {
    vi.useFakeTimers();
    const { net, enroller } = await withEnroller();
    const { mgr } = member(net, 'm', { bootstraps: ['nobody', 'bootstrap'], timeoutMs: 500 });
    const first = new AbortController();
    const enrolling = mgr.enrol({ signal: first.signal }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(100); // still on 'nobody'
    first.abort();
    expect(await enrolling).toBeInstanceOf(EnrollmentAbortedError);
    expect(mgr.state).toEqual({ type: 'idle' });
    // enrolled with the second bootstrap, which then forgets it: a re-enrollment that is aborted in flight
    const done = mgr.enrol();
    await vi.advanceTimersByTimeAsync(1500);
    await expect(done).resolves.toBe('demo.DIF');
    await enroller.stop();
    const again = new AbortController();
    const reenrolling = mgr.reEnroll({ signal: again.signal }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(100);
    again.abort();
    expect(await reenrolling).toBeInstanceOf(EnrollmentAbortedError);
    expect(mgr.state).toEqual({ type: 'idle' });
  });

  it("one caller's abort does not abort the attempt another caller still waits for", async () => {
    const { net } = await withEnroller();
    const { mgr } = member(net, 'm');
    const controller = new AbortController();
    const aborted = mgr.enrolWithBootstrap('bootstrap', { signal: controller.signal });
    const kept = mgr.enrolWithBootstrap('bootstrap');
    controller.abort();
    await expect(aborted).rejects.toBeInstanceOf(EnrollmentAbortedError);
    await expect(kept).resolves.toBe('demo.DIF');
  });

  it('close during an enrollment rejects its callers and leaves no timer', async () => {
    vi.useFakeTimers();
    const net = new MemoryNetwork();
    const { mgr } = member(net, 'm');
    const result = mgr.enrolWithBootstrap('nobody').catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(100);
    await mgr.close();
    const err = await result;
    expect(err).toBeInstanceOf(EnrollmentAbortedError);
    expect((err as Error).message).toMatch(/closed/);
    expect(vi.getTimerCount()).toBe(0);
    expect(mgr.state).toEqual({ type: 'closed' });
    await expect(mgr.enrolWithBootstrap('bootstrap')).rejects.toBeInstanceOf(ManagerClosedError);
    await expect(mgr.reEnroll()).rejects.toBeInstanceOf(ManagerClosedError);
  });

  it('close is bounded: a shim whose send never settles delays it by a second', async () => {
    vi.useFakeTimers();
    const { net } = await withEnroller();
    const inner = net.attach('m');
    let hang = false;
    const shim: Shim = {
      get localAddress() {
        return inner.localAddress;
      },
      send: (to, pdu) => (hang ? new Promise<void>(() => undefined) : inner.send(to, pdu)),
      onReceive: (handler) => inner.onReceive(handler),
      close: () => inner.close(),
    };
    const mgr = new EnrollmentManager({ shim, rib: new MemoryRib(), ipcpName: 'm', difName: 'demo.DIF' });
    const enrolling = mgr.enrolWithBootstrap('bootstrap');
    await vi.advanceTimersByTimeAsync(50);
    await enrolling;
    hang = true;
    let closed = false;
    const closing = mgr.close().then(() => {
      closed = true;
    });
    await vi.advanceTimersByTimeAsync(999);
    expect(closed).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await closing;
    expect(closed).toBe(true);
    expect(mgr.state).toEqual({ type: 'closed' });
  });

  it('close sends M_RELEASE and the enroller forgets the member', async () => {
    const { net, enroller } = await withEnroller();
    const { mgr } = member(net, 'm');
    await mgr.enrolWithBootstrap('bootstrap');
    await vi.waitFor(() => expect(enroller.members()).toHaveLength(1));
    await mgr.close();
    await vi.waitFor(() => expect(enroller.members()).toHaveLength(0));
  });
});

describe('EnrollmentManager: re-enrollment', () => {
  it('reEnroll without a previous enrollment throws NoBootstrapPeersError', async () => {
    const { mgr } = member(new MemoryNetwork(), 'm');
    await expect(mgr.reEnroll()).rejects.toBeInstanceOf(NoBootstrapPeersError);
  });

  it('re-enrollment keeps the address; concurrent calls share one attempt', async () => {
    const { net } = await withEnroller();
    const { mgr } = member(net, 'm');
    const other = member(net, 'other').mgr;
    await mgr.enrolWithBootstrap('bootstrap');
    await other.enrolWithBootstrap('bootstrap');
    const address = mgr.address;
    const connects = sent(net, 'm', OpCode.M_CONNECT);
    const states: string[] = [];
    mgr.on('state:change', (s) => states.push(s.type));
    await expect(Promise.all([mgr.reEnroll(), mgr.reEnroll(), mgr.reEnroll()])).resolves.toEqual(Array(3).fill('demo.DIF'));
    expect(connects).toHaveLength(1);
    expect(mgr.address).toBe(address);
    expect(states).toEqual(['reenrolling', 'enrolled']);
  });

  it('asks for its previous address back, so a restarted enroller without state gives it again', async () => {
    const net = new MemoryNetwork();
    const first = await withEnroller({}, net);
    const { mgr } = member(net, 'm');
    const other = member(net, 'x').mgr.enrolWithBootstrap('bootstrap'); // someone else enrols first
    await mgr.enrolWithBootstrap('bootstrap');
    await other;
    const address = mgr.address;
    expect(address).toBe(1003);
    net.detach('bootstrap'); // gone without a word (a crash), not a graceful stop
    await first.enroller.stop();
    await withEnroller({}, net); // a fresh enroller, empty table
    await mgr.reEnroll();
    expect(mgr.address).toBe(address);
  });
});

describe('EnrollmentManager: the three scenarios of the design', () => {
  it('connection monitoring and manual re-enrollment', async () => {
    vi.useFakeTimers();
    const { net } = await withEnroller();
    const { mgr } = member(net, 'm', { heartbeatIntervalSecs: 0.2, connectionTimeoutSecs: 0.5 });
    await mgr.enrolWithBootstrap('bootstrap');
    const address = mgr.address;
    expect(mgr.isConnectionHealthy()).toBe(true);
    net.partition('m', 'bootstrap'); // keepalives no longer get through
    await vi.advanceTimersByTimeAsync(499);
    expect(mgr.isConnectionHealthy()).toBe(true);
    await vi.advanceTimersByTimeAsync(1);
    expect(mgr.isConnectionHealthy()).toBe(false);
    net.heal('m', 'bootstrap');
    await expect(mgr.reEnroll()).resolves.toBe('demo.DIF');
    expect(mgr.isConnectionHealthy()).toBe(true);
    expect(mgr.address).toBe(address);
  });

  it('heartbeat update and health', async () => {
    vi.useFakeTimers();
    const { net } = await withEnroller();
    const { mgr } = member(net, 'm', { heartbeatIntervalSecs: 0.2, connectionTimeoutSecs: 0.5 });
    expect(mgr.isConnectionHealthy()).toBe(false); // not enrolled
    await mgr.enrolWithBootstrap('bootstrap');
    expect(mgr.isConnectionHealthy()).toBe(true);
    net.partition('m', 'bootstrap'); // only updateHeartbeat() counts from now on
    await vi.advanceTimersByTimeAsync(400);
    mgr.updateHeartbeat();
    await vi.advanceTimersByTimeAsync(400);
    expect(mgr.isConnectionHealthy()).toBe(true); // 400 ms since the update
    await vi.advanceTimersByTimeAsync(100);
    expect(mgr.isConnectionHealthy()).toBe(false);
    mgr.updateHeartbeat();
    expect(mgr.isConnectionHealthy()).toBe(true);
  });

  it('the monitoring task starts and stops cleanly', async () => {
    vi.useFakeTimers();
    const { net, enroller } = await withEnroller();
    const { mgr } = member(net, 'm', { heartbeatIntervalSecs: 0.2, connectionTimeoutSecs: 0.5 });
    expect(() => mgr.startConnectionMonitoring()).toThrow(NotEnrolledError);
    await mgr.enrolWithBootstrap('bootstrap');
    const monitor = mgr.startConnectionMonitoring();
    expect(monitor.running).toBe(true);
    expect(mgr.startConnectionMonitoring()).toBe(monitor); // no second monitor
    await vi.advanceTimersByTimeAsync(3000);
    expect(mgr.state.type).toBe('enrolled'); // keepalives kept it healthy
    monitor.stop();
    monitor.stop();
    expect(monitor.running).toBe(false);
    await mgr.close();
    await enroller.stop();
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('EnrollmentManager: the monitor', () => {
  it('with heartbeatIntervalSecs 0 monitoring is disabled', async () => {
    vi.useFakeTimers();
    const { net } = await withEnroller();
    const { mgr } = member(net, 'm', { heartbeatIntervalSecs: 0 });
    await mgr.enrolWithBootstrap('bootstrap');
    const monitor = mgr.startConnectionMonitoring();
    expect(monitor.running).toBe(false);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(net.stats().sent).toBeGreaterThan(0);
    const sentBefore = net.stats().sent;
    await vi.advanceTimersByTimeAsync(600_000);
    expect(net.stats().sent).toBe(sentBefore); // no keepalives, no re-enrollment
    expect(mgr.state.type).toBe('enrolled');
  });

  // Found by an audit (2026-12-06): the passive pattern (README, "Usage patterns" 2 and 3) was tested for silence only.
  it('with heartbeatIntervalSecs 0, your own traffic is the heartbeat: unhealthy past the timeout, healthy again on updateHeartbeat()', async () => {
    vi.useFakeTimers();
    const shim = createMockShim();
    createScriptedEnroller(shim);
    const mgr = new EnrollmentManager({
      shim,
      rib: new MemoryRib(),
      ipcpName: 'm',
      config: { heartbeatIntervalSecs: 0, connectionTimeoutSecs: 1 },
    });
    try {
      await mgr.enrolWithBootstrap('bootstrap');
      expect(mgr.isConnectionHealthy()).toBe(true);
      await vi.advanceTimersByTimeAsync(999);
      expect(mgr.isConnectionHealthy()).toBe(true);
      await vi.advanceTimersByTimeAsync(2);
      expect(mgr.isConnectionHealthy()).toBe(false);
      mgr.updateHeartbeat(); // the application heard the enroller
      expect(mgr.isConnectionHealthy()).toBe(true);
      await vi.advanceTimersByTimeAsync(1001);
      expect(mgr.isConnectionHealthy()).toBe(false);
      await expect(mgr.reEnroll()).resolves.toBe('demo.DIF'); // pattern 2: you decide when
      expect(mgr.isConnectionHealthy()).toBe(true);
      expect(shim.messages().filter((m) => m.opCode === OpCode.M_READ)).toEqual([]); // never a keepalive
    } finally {
      await mgr.close();
    }
  });

  // Found by an audit (2026-12-06): README, "the library never closes a shim you pass in", had no test of the manager.
  it('never closes the shim it was given: close() and asyncDispose leave it open and usable', async () => {
    const shim = createMockShim();
    createScriptedEnroller(shim);
    const mgr = new EnrollmentManager({ shim, rib: new MemoryRib(), ipcpName: 'm' });
    await mgr.enrolWithBootstrap('bootstrap');
    await mgr.close();
    await mgr[Symbol.asyncDispose]();
    expect(shim.closed).toBe(false);
    await expect(shim.send('bootstrap', Uint8Array.of(1))).resolves.toBeUndefined();
    const again = new EnrollmentManager({ shim, rib: new MemoryRib(), ipcpName: 'm2' });
    await expect(again.enrolWithBootstrap('bootstrap')).resolves.toBe('demo.DIF'); // the same shim serves another manager
    await again.close();
  });

  it('a running monitor does not keep the process alive', () => {
    // A child enrols on the in-memory network, starts a monitor (heartbeat 30 s) and
    // returns from its script: it must exit on its own, long before the first check.
    const script = built(new URL('./fixtures/monitor-exits.ts', import.meta.url));
    const child = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 10_000 });
    expect(child.error).toBeUndefined();
    expect(child.stdout.trim()).toBe('enrolled; monitor running');
    expect(child.status).toBe(0);
  });
});

describe('EnrollmentManager: timers never keep a process alive', () => {
  it('a process whose enrollments are in flight (attempt deadline, retransmissions, backoff, a delayed scripted answer) exits by itself', () => {
    const script = built(new URL('./fixtures/in-flight-exits.ts', import.meta.url));
    // The backoff alone is 20 s, the scripted answer 60 s: a timer that held the process would hit this timeout.
    const child = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 15_000 });
    expect(child.error).toBeUndefined();
    expect(child.stdout.trim()).toBe('in flight: enrolling, enrolling');
    expect(child.status).toBe(0);
  });
});

describe('EnrollmentManager: as a peer of the enroller after enrollment', () => {
  it('answers a repeated M_STOP, keepalives and RIB updates from its bootstrap; ignores strangers', async () => {
    const { net } = await withEnroller();
    const { mgr, rib } = member(net, 'm');
    await mgr.enrolWithBootstrap('bootstrap');
    const replies: CdapMessage[] = [];
    net.tap((p) => {
      if (p.from === 'm') replies.push(decodeCdapMessage(p.pdu));
    });
    const boot = net.attach('bootstrap-2');
    const fake = async (from: string, msg: CdapMessage) => {
      const { encodeCdapMessage } = await import('../../src/index.js');
      // speak as the bootstrap: detach it and attach a raw peer at its address
      await (from === 'bootstrap' ? raw : boot).send('m', encodeCdapMessage(msg));
    };
    net.detach('bootstrap');
    const raw = net.attach('bootstrap');
    await fake('bootstrap', { opCode: OpCode.M_READ, invokeId: 40, objClass: 'keepalive', objName: '/mgmt/keepalive' });
    await fake('bootstrap', {
      opCode: OpCode.M_CREATE,
      invokeId: 41,
      objClass: 'neigh',
      objName: '/dif/neigh/x',
      objValue: { boolval: true },
    });
    await fake('bootstrap', { opCode: OpCode.M_DELETE, invokeId: 42, objClass: 'neigh', objName: '/dif/neigh/x' });
    await fake('bootstrap', { opCode: OpCode.M_STOP, invokeId: 43, objClass: 'enrollment', objName: '/mgmt/enrollment' });
    await fake('bootstrap-2', { opCode: OpCode.M_READ, invokeId: 44, objClass: 'keepalive', objName: '/mgmt/keepalive' });
    await vi.waitFor(() => expect(replies).toHaveLength(4));
    expect(replies.map((r) => [r.opCode, r.invokeId, r.result])).toEqual([
      [OpCode.M_READ_R, 40, 0],
      [OpCode.M_CREATE_R, 41, 0],
      [OpCode.M_DELETE_R, 42, 0],
      [OpCode.M_STOP_R, 43, 0],
    ]);
    expect(rib.read('/dif/neigh/x')).toBeUndefined();
  });
});

describe('EnrollmentManager: edges found in review', () => {
  it('an aborted run cannot be joined: a later caller starts a fresh one', async () => {
    const { net } = await withEnroller();
    const { mgr } = member(net, 'm');
    const controller = new AbortController();
    const a = mgr.enrolWithBootstrap('bootstrap', { signal: controller.signal });
    controller.abort();
    const b = mgr.enrolWithBootstrap('bootstrap');
    await expect(a).rejects.toBeInstanceOf(EnrollmentAbortedError);
    await expect(b).resolves.toBe('demo.DIF');
    expect(mgr.state.type).toBe('enrolled');
  });

  it('an already-aborted signal starts nothing', async () => {
    vi.useFakeTimers();
    const net = new MemoryNetwork();
    const { mgr } = member(net, 'm');
    const connects = sent(net, 'm', OpCode.M_CONNECT);
    await expect(mgr.enrolWithBootstrap('nobody', { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(EnrollmentAbortedError);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(connects).toEqual([]);
    expect(mgr.state).toEqual({ type: 'idle' });
  });

  it('a send the shim refuses ends the attempt at once with that ShimError', async () => {
    vi.useFakeTimers();
    const net = new MemoryNetwork({ maxPduBytes: 100 });
    const { mgr } = member(net, 'm');
    mgr.setIpcpName('x'.repeat(500)); // M_CONNECT will not fit
    const err = await mgr.enrolWithBootstrap('bootstrap').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShimError);
    expect(mgr.state).toEqual({ type: 'idle' });
  });

  // Found by an audit (2026-12-06): a user's shim rejecting with a plain Error gave a bare EnrollmentError coded
  // PROTOCOL_ERROR ("enrollment failed: EPERM"), though the README says a refused send is a ShimError.
  it("a user's shim that refuses with an error of its own, or throws, ends the attempt with a ShimError carrying it", async () => {
    for (const refuse of ['reject', 'throw'] as const) {
      const cause = Object.assign(new Error('EPERM: not allowed'), { code: 'EPERM' });
      const shim: Shim = {
        localAddress: 'mine',
        send: () => {
          if (refuse === 'throw') throw cause;
          return Promise.reject(cause);
        },
        onReceive: () => () => undefined,
        close: async () => undefined,
      };
      const mgr = new EnrollmentManager({ shim, rib: new MemoryRib(), ipcpName: 'm', config: { maxRetries: 1 } });
      const err = (await mgr.enrolWithBootstrap('bootstrap').catch((e: unknown) => e)) as ShimError;
      expect(err, refuse).toBeInstanceOf(ShimError);
      expect(err.code).toBe('SHIM_ERROR');
      expect(err.message).toBe('the shim could not send to bootstrap: EPERM: not allowed');
      expect(err.cause).toBe(cause);
      expect(mgr.state).toEqual({ type: 'idle' });
      await mgr.close();
    }
  });

  it('closed while the RIB is written: no M_STOP_R, nothing more written, the caller told', async () => {
    const { net, enroller } = await withEnroller();
    let release: () => void = () => undefined;
    const inner = new MemoryRib();
    let writes = 0;
    const rib = {
      read: (n: string) => inner.read(n),
      delete: (n: string) => inner.delete(n),
      list: (p?: string) => inner.list(p),
      write: (o: Parameters<MemoryRib['write']>[0]) => {
        writes++;
        return new Promise<void>((r) => (release = () => r(inner.write(o))));
      },
    };
    const mgr = new EnrollmentManager({ shim: net.attach('m'), rib, ipcpName: 'm' });
    const stopReplies = sent(net, 'm', OpCode.M_STOP_R);
    const result = mgr.enrolWithBootstrap('bootstrap').catch((e: unknown) => e);
    await vi.waitFor(() => expect(writes).toBe(1));
    await mgr.close();
    release();
    expect(await result).toBeInstanceOf(EnrollmentAbortedError);
    expect(writes).toBe(1);
    expect(stopReplies).toEqual([]);
    expect(enroller.members()).toEqual([]);
  });

  it('close after a loss still sends M_RELEASE to the last bootstrap', async () => {
    vi.useFakeTimers();
    const { net } = await withEnroller();
    const { mgr } = member(net, 'm', { heartbeatIntervalSecs: 0.2, connectionTimeoutSecs: 0.5 });
    await mgr.enrolWithBootstrap('bootstrap');
    mgr.startConnectionMonitoring();
    net.partition('m', 'bootstrap');
    await vi.advanceTimersByTimeAsync(600);
    expect(mgr.state.type).toBe('reenrolling');
    const releases = sent(net, 'm', OpCode.M_RELEASE);
    await mgr.close();
    expect(releases).toHaveLength(1);
  });

  it('refuses unknown options, bad lowerDifs and malformed names with ConfigError; setIpcpName after close', async () => {
    const net = new MemoryNetwork();
    const shim = net.attach('m');
    expect(() => new EnrollmentManager({ shim, rib: new MemoryRib(), ipcpname: 'm' } as never)).toThrow(/unknown option "ipcpname"/);
    expect(() => new EnrollmentManager({ shim, rib: new MemoryRib(), lowerDifs: 'abc' as never })).toThrow(/lowerDifs: must be an array/);
    expect(() => new EnrollmentManager({ shim, rib: new MemoryRib(), lowerDifs: [5] as never })).toThrow(/lowerDifs.0/);
    // found by an audit (2026-12-06): only ipcpName refused lone surrogates
    expect(() => new EnrollmentManager({ shim, rib: new MemoryRib(), difName: 'x\uD800' })).toThrow(/difName: must be well-formed Unicode/);
    expect(() => new EnrollmentManager({ shim, rib: new MemoryRib(), lowerDifs: ['ok', 'l\uDC00'] })).toThrow(
      /lowerDifs.1: must be well-formed Unicode/,
    );
    expect(() => new EnrollmentManager({ shim, rib: new MemoryRib(), config: { timeoutMs: 2 ** 31 } })).toThrow(
      /config.timeoutMs: must be <= 2147483647/,
    );
    const mgr = new EnrollmentManager({ shim, rib: new MemoryRib() });
    expect(() => mgr.setIpcpName('bad\uD800name')).toThrow(/well-formed/);
    await mgr.close();
    expect(() => mgr.setIpcpName('m')).toThrow(ManagerClosedError);
  });

  it('a throwing listener does not break enrollment or close', async () => {
    const { net, enroller } = await withEnroller();
    const { mgr } = member(net, 'm');
    const boom = () => {
      throw new Error('listener bug');
    };
    mgr.on('enrolled', boom);
    mgr.on('state:change', boom);
    const warned = new Promise<Error & { code?: string }>((resolve) => process.once('warning', resolve));
    await expect(mgr.enrolWithBootstrap('bootstrap')).resolves.toBe('demo.DIF');
    const warning = await warned;
    expect(warning.code).toBe('RINA_ENROLLMENT_LISTENER'); // README: the code an application can filter on
    expect(warning.message).toContain('listener bug');
    expect(mgr.state.type).toBe('enrolled');
    await vi.waitFor(() => expect(enroller.members()).toHaveLength(1));
    await expect(mgr.close()).resolves.toBeUndefined();
    await vi.waitFor(() => expect(enroller.members()).toHaveLength(0));
  });
});
