import { EventEmitter } from 'eventemitter3';
import { describe, expect, it } from 'vitest';
import { InvokeIds, keepaliveRequest } from '../../src/cdap/messages.js';
import { type CdapMessage, OpCode } from '../../src/cdap/types.js';
import { resolveConfig } from '../../src/config.js';
import { BootstrapSet } from '../../src/member/bootstrap-set.js';
import { describeMemberEvent, MEMBER_CHANNELS } from '../../src/member/report.js';
import type { EnrollmentEvents } from '../../src/member/events.js';
import { Liveness } from '../../src/member/liveness.js';
import { MetricsRecorder } from '../../src/member/metrics.js';
import { MemberState } from '../../src/member/state.js';
import { clockFrom } from '../../src/util/clock.js';
import { Telemetry } from '../../src/util/telemetry.js';
import { Ticker } from '../../src/util/ticker.js';

/** A liveness part on a clock the test moves, with the wheel ticked by hand. */
function world(config: { heartbeatIntervalSecs?: number; connectionTimeoutSecs?: number } = {}) {
  let t = 10_000;
  // No timer of the process: the test ticks the wheel by hand. (Left to the system's setTimeout, a world's wheel
  // armed real timers that outlived the test, re-armed themselves on the frozen clock and, in a later file of the
  // same worker, armed that file's fake timers: a timer left in its 'no timer left' checks.)
  const clock = clockFrom({
    now: () => t,
    setTimeout: () => 0,
    clearTimeout: () => undefined,
    setInterval: () => 0,
    clearInterval: () => undefined,
  });
  const ticker = new Ticker(20, clock);
  const emitter = new EventEmitter<EnrollmentEvents>();
  const telemetry = new Telemetry(emitter, undefined, describeMemberEvent, MEMBER_CHANNELS);
  const state = new MemberState({
    leftEnrolled: () => liveness.cancelKeepalive(),
    changed: () => undefined,
  });
  const bootstraps = new BootstrapSet({ localAddress: 'm', now: () => t, random: () => 0.5, backoff: () => 1000 });
  const sent: Array<{ to: string; msg: CdapMessage }> = [];
  let recoveries = 0;
  let stops = 0;
  const liveness: Liveness = new Liveness({
    config: resolveConfig({ heartbeatIntervalSecs: 1, connectionTimeoutSecs: 3, ...config }),
    ticker,
    state,
    bootstraps,
    ids: new InvokeIds(1),
    metrics: new MetricsRecorder({ now: () => t }),
    telemetry,
    sendKeepalive: (to, invokeId) => sent.push({ to, msg: keepaliveRequest(invokeId) }),
    recover: () => {
      recoveries++;
    },
    monitorStopped: () => {
      stops++;
    },
  });
  const lost: EnrollmentEvents['connection:lost'][0][] = [];
  emitter.on('connection:lost', (info) => lost.push(info));
  const enrol = (): void => {
    state.record = { bootstrap: 'b', address: 7, difName: 'd' };
    liveness.enrolled();
    state.set({ type: 'enrolled', bootstrap: 'b', address: 7, difName: 'd', since: 0 });
    liveness.resume();
  };
  /** Moves the clock in steps of `step` ms, ticking the wheel after each. */
  const advance = (ms: number, step = 5): void => {
    for (let done = 0; done < ms; done += step) {
      t += Math.min(step, ms - done);
      ticker.tick();
    }
  };
  return {
    liveness,
    ticker,
    /** Moves the clock without ticking the wheel: the process did not get to its timer. */
    stall: (ms: number): void => {
      t += ms;
    },
    state,
    bootstraps,
    sent,
    lost,
    enrol,
    advance,
    now: () => t,
    recoveries: () => recoveries,
    stops: () => stops,
    emitter,
  };
}

describe('Liveness', () => {
  it('declares the loss when the timeout has passed since the last heartbeat, never before', () => {
    const w = world();
    w.enrol();
    w.liveness.startMonitor();
    w.liveness.armDeadline();
    w.advance(2999);
    expect(w.lost).toEqual([]);
    w.advance(1); // exactly the timeout, on a wheel that keeps up: lost now, not a tick later
    expect(w.lost.length).toBe(1);
    expect(w.lost[0]).toMatchObject({ bootstrap: 'b', reason: 'timeout' });
    expect(w.lost[0]?.silentMs).toBeGreaterThanOrEqual(3000);
    expect(w.recoveries()).toBe(1);
  });

  it('a heartbeat moves the deadline', () => {
    const w = world();
    w.enrol();
    w.liveness.startMonitor();
    w.liveness.armDeadline();
    w.advance(2000);
    w.liveness.heartbeat();
    w.advance(2900);
    expect(w.lost).toEqual([]);
    w.advance(200);
    expect(w.lost.length).toBe(1);
  });

  it('a heartbeat arriving after the deadline passed (the check runs late) declares the loss first and does not count', () => {
    const w = world();
    w.enrol();
    w.liveness.startMonitor();
    const before = w.liveness.lastHeartbeat;
    w.advance(3000, 3000); // no deadline armed here: only the heartbeat can notice the silence
    expect(w.lost.length).toBe(0);
    expect(w.liveness.heartbeat()).toBe(false);
    expect(w.lost.map((l) => l.reason)).toEqual(['timeout']);
    expect(w.liveness.lastHeartbeat).toBe(before);
  });

  it.each([
    ['keeps up (ticked as time passed)', false],
    ['is behind (the process never got to its timer)', true],
  ])('a heartbeat read 50 ms past the timeout with the check not run, while the wheel %s: counts = %s', (_, behind) => {
    const w = world();
    w.enrol();
    w.liveness.startMonitor(); // no deadline armed: only the heartbeat can notice the silence
    const before = w.liveness.lastHeartbeat;
    if (behind) w.stall(3050);
    else w.advance(3050);
    expect(w.ticker.behind()).toBe(behind);
    expect(w.liveness.heartbeat()).toBe(behind);
    expect(w.lost.map((l) => l.reason)).toEqual(behind ? [] : ['timeout']);
    expect(w.liveness.lastHeartbeat).toBe(behind ? w.now() : before);
  });

  // Found by a new user's review (2026-12-07): a member process SIGSTOPped for 4 s (timeout 2 s) declared its live
  // bootstrap lost on SIGCONT: paused, it had sent no keepalive, so no answer waited to be read.
  it('a deadline judged in a tick the process got to late asks once more: a live bootstrap is no loss', () => {
    const w = world({ heartbeatIntervalSecs: 0.5, connectionTimeoutSecs: 2 });
    w.enrol();
    w.liveness.startMonitor();
    w.liveness.armDeadline();
    w.advance(400);
    w.stall(4000); // paused: the wheel is not ticked
    const sentBefore = w.sent.length;
    w.ticker.tick(); // resumed: the keepalive and the deadline are due, late
    expect(w.lost).toEqual([]);
    expect(w.sent.length).toBeGreaterThan(sentBefore); // asked
    w.advance(5);
    expect(w.liveness.heartbeat()).toBe(true); // the answer counts
    w.advance(1990);
    expect(w.lost).toEqual([]); // judged from the answer on: the timeout counts from it
    w.advance(25); // (a bucket of this wheel is 20 ms)
    expect(w.lost.length).toBe(1); // nothing answered since
    expect(w.lost[0]?.silentMs).toBeGreaterThanOrEqual(2000);
  });

  it('a deadline judged late whose question goes unanswered is a loss one interval on; a deadline on time is one at once', () => {
    const w = world({ heartbeatIntervalSecs: 0.5, connectionTimeoutSecs: 2 });
    w.enrol();
    w.liveness.startMonitor();
    w.liveness.armDeadline();
    w.stall(4000);
    w.ticker.tick();
    expect(w.lost).toEqual([]);
    w.advance(495);
    expect(w.lost).toEqual([]);
    w.advance(10); // the interval (500 ms) is up: silence is the bootstrap's now
    expect(w.lost.map((l) => l.reason)).toEqual(['timeout']);
    expect(w.lost[0]?.silentMs).toBeGreaterThanOrEqual(4500);

    const onTime = world({ heartbeatIntervalSecs: 0.5, connectionTimeoutSecs: 2 });
    onTime.enrol();
    onTime.liveness.startMonitor();
    onTime.liveness.armDeadline();
    onTime.advance(2000);
    expect(onTime.lost.map((l) => l.reason)).toEqual(['timeout']); // never later than the timeout when on time
  });

  it('reports one loss per outage, blocks the bootstrap lost, and leaves the state without a monitor', () => {
    const w = world();
    w.enrol();
    w.liveness.lose('released');
    w.liveness.lose('timeout');
    expect(w.lost.map((l) => l.reason)).toEqual(['released']);
    expect(w.state.type).toBe('idle');
    expect(w.state.outageAt).toBe(w.now());
    const [b] = w.bootstraps.list();
    expect(b).toMatchObject({ address: 'b', failures: 1, blockedUntil: w.now() + 1000 });
    expect(w.recoveries()).toBe(0);
  });

  it('with a monitor, a loss keeps the state (recovery shows its own) and starts recovery', () => {
    const w = world();
    w.enrol();
    w.liveness.startMonitor();
    w.liveness.lose('keepalive-refused');
    expect(w.state.type).toBe('enrolled');
    expect(w.state.lost).toBe(true);
    expect(w.recoveries()).toBe(1);
    expect(w.liveness.isHealthy()).toBe(false);
  });

  it('sends a keepalive every interval to the bootstrap of the enrollment, and stops when it is left', () => {
    const w = world();
    w.enrol();
    w.advance(3500);
    expect(w.sent.map((s) => s.to)).toEqual(['b', 'b', 'b']);
    expect(new Set(w.sent.map((s) => s.msg.invokeId)).size).toBe(3);
    w.state.set({ type: 'idle' });
    w.advance(3000);
    expect(w.sent.length).toBe(3);
  });

  it('an answered keepalive is a heartbeat with its round trip; a refused one is a loss; an unknown one is ignored', () => {
    const w = world();
    w.enrol();
    const rtts: number[] = [];
    w.emitter.on('keepalive:rtt', ({ rttMs }) => rtts.push(rttMs));
    w.advance(1000);
    const [first] = w.sent;
    w.advance(30);
    w.liveness.onKeepaliveReply({ opCode: OpCode.M_READ_R, invokeId: first?.msg.invokeId ?? 0, result: 0 }, 'b');
    expect(rtts.length).toBe(1);
    expect(rtts[0]).toBeGreaterThanOrEqual(30);
    expect(w.liveness.lastHeartbeat).toBe(w.now());
    w.liveness.onKeepaliveReply({ opCode: OpCode.M_READ_R, invokeId: first?.msg.invokeId ?? 0, result: 0 }, 'b');
    w.liveness.onKeepaliveReply({ opCode: OpCode.M_READ_R, invokeId: 9999, result: -1 }, 'b');
    expect(rtts.length).toBe(1);
    expect(w.lost).toEqual([]);
    w.advance(1000);
    const second = w.sent[1];
    w.liveness.onKeepaliveReply({ opCode: OpCode.M_READ_R, invokeId: second?.msg.invokeId ?? 0, result: -1 }, 'b');
    expect(w.lost.map((l) => l.reason)).toEqual(['keepalive-refused']);
  });

  it('keepalives answered out of order, several outstanding: each answer is a heartbeat with its own round trip', () => {
    const w = world();
    w.enrol();
    const rtts: number[] = [];
    w.emitter.on('keepalive:rtt', ({ rttMs }) => rtts.push(rttMs));
    w.advance(2000); // two keepalives out, none answered
    const [first, second] = w.sent;
    w.liveness.onKeepaliveReply({ opCode: OpCode.M_READ_R, invokeId: second?.msg.invokeId ?? 0, result: 0 }, 'b');
    w.liveness.onKeepaliveReply({ opCode: OpCode.M_READ_R, invokeId: first?.msg.invokeId ?? 0, result: 0 }, 'b');
    expect(rtts).toEqual([0, 1000]);
  });

  it('is healthy only while enrolled: not once the enrollment is left, however recent its last heartbeat', () => {
    const w = world();
    w.enrol();
    expect(w.liveness.isHealthy()).toBe(true);
    w.state.set({ type: 'enrolling', bootstrap: 'b', attempt: 1 });
    expect(w.liveness.lastHeartbeat).toBe(w.now());
    expect(w.liveness.isHealthy()).toBe(false);
  });

  it('opens an outage for a failed re-enrollment only when none is open', () => {
    const w = world();
    w.enrol();
    w.liveness.openOutageIfNone();
    w.liveness.openOutageIfNone();
    expect(w.lost.map((l) => l.reason)).toEqual(['reenroll-failed']);
  });

  it('does not run a monitor when monitoring is disabled, and stops a running one once', () => {
    expect(world({ heartbeatIntervalSecs: 0 }).liveness.startMonitor().running).toBe(false);
    const w = world();
    const monitor = w.liveness.startMonitor();
    expect(w.liveness.startMonitor()).toBe(monitor);
    monitor.stop();
    monitor.stop();
    expect(w.stops()).toBe(1);
    expect(w.liveness.monitoring).toBe(false);
  });

  it("a monitor's stop works handed on alone (as an abort listener or a timer's callback)", () => {
    const w = world();
    const { stop } = w.liveness.startMonitor();
    const signal = new AbortController();
    // One function, whenever read: it can be added as a listener and removed again.
    expect(w.liveness.monitor?.stop).toBe(stop);
    signal.signal.addEventListener('abort', stop);
    signal.abort();
    expect(w.liveness.monitoring).toBe(false);
    expect(w.stops()).toBe(1);
    stop();
    expect(w.stops()).toBe(1);
  });

  it('on a clock with fractions of a millisecond: a loss is never declared before the timeout, and at most a bucket after', () => {
    const w = world();
    w.stall(0.4); // every time below is 0.4 ms past a whole millisecond
    w.enrol();
    w.liveness.startMonitor();
    w.liveness.armDeadline();
    w.advance(400.3);
    expect(w.liveness.heartbeat()).toBe(true); // at 10,400.7
    w.advance(3000 - 0.2, 0.1);
    expect(w.lost).toEqual([]); // 0.2 ms before the timeout
    w.advance(0.2 + 20 + 1, 0.1);
    expect(w.lost).toHaveLength(1);
    // The silence when the loss was declared (the clock went on past it): from the timeout to one bucket (20 ms) after.
    expect(w.lost[0]?.silentMs).toBeGreaterThanOrEqual(3000);
    expect(w.lost[0]?.silentMs).toBeLessThanOrEqual(3000 + 20);
  });

  it('the wheel is never asked for a check already due: the deadline sits a timeout after the last heartbeat, and moves there', () => {
    const w = world();
    const asked: Array<{ at: number; now: number }> = [];
    const place = w.ticker.place.bind(w.ticker);
    w.ticker.place = (entry, at) => {
      asked.push({ at, now: w.now() });
      return place(entry, at);
    };
    w.enrol();
    const t0 = w.now();
    w.liveness.startMonitor();
    w.liveness.armDeadline();
    w.advance(1010);
    const [first] = w.sent;
    w.liveness.onKeepaliveReply({ opCode: OpCode.M_READ_R, invokeId: first?.msg.invokeId ?? 0, result: 0 }, 'b');
    w.advance(2500); // the deadline at t0 + 3000 finds the heartbeat of t0 + 1010
    expect(w.lost).toEqual([]);
    expect(asked.every(({ at, now }) => at > now)).toBe(true);
    expect(asked.map((a) => a.at - t0).filter((d) => d % 1000 !== 0)).toEqual([4010]); // keepalives at whole seconds; the moved deadline
    expect(asked.map((a) => a.at - t0)).toContain(3000);
  });

  it('a keepalive unanswered for more than a whole timeout is forgotten: its late answer is no heartbeat; one exactly that old still counts', () => {
    const w = world();
    w.enrol(); // no monitor: nothing is declared lost meanwhile
    const t0 = w.now();
    w.advance(5001); // keepalives at t0 + 1000, 2000, ..., 5000; at 5000 the first is 4000 ms old, the second 3000
    const [first, second] = w.sent;
    w.liveness.onKeepaliveReply({ opCode: OpCode.M_READ_R, invokeId: first?.msg.invokeId ?? 0, result: 0 }, 'b');
    expect(w.liveness.lastHeartbeat).toBe(t0);
    w.liveness.onKeepaliveReply({ opCode: OpCode.M_READ_R, invokeId: second?.msg.invokeId ?? 0, result: 0 }, 'b');
    expect(w.liveness.lastHeartbeat).toBe(w.now());
  });

  it('lose() outside an enrollment, or a second time in one outage, says nothing', () => {
    const w = world();
    w.enrol();
    w.state.set({ type: 'idle' });
    w.liveness.lose('timeout');
    expect(w.lost).toEqual([]);
  });

  it('a heartbeat while not enrolled (recovering) counts, however long the silence was', () => {
    const w = world();
    w.enrol();
    w.liveness.startMonitor();
    w.state.set({ type: 'reenrolling', bootstrap: 'b', attempt: 1, previousAddress: 7 });
    w.advance(4000);
    expect(w.liveness.heartbeat()).toBe(true);
    expect(w.liveness.lastHeartbeat).toBe(w.now());
    expect(w.lost).toEqual([]);
  });

  it('a loss whose listener closes the member leaves it closed, not idle', () => {
    const w = world();
    w.enrol();
    w.emitter.on('connection:lost', () => w.state.set({ type: 'closed' }));
    w.liveness.lose('timeout');
    expect(w.state.type).toBe('closed');
  });
});
