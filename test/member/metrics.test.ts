import { describe, expect, it } from 'vitest';
import { MetricsRecorder } from '../../src/member/metrics.js';

/** A recorder on a clock the test sets. */
function recorder() {
  const clock = { t: 1000, now: () => clock.t };
  return { clock, m: new MetricsRecorder(clock) };
}

describe('MetricsRecorder: the figures of EnrollmentManager.metrics()', () => {
  it('starts with every count at 0 and every figure undefined', () => {
    expect(recorder().m.snapshot()).toEqual({
      enrollments: 0,
      reenrollAttempts: 0,
      reenrollSuccesses: 0,
      reenrollFailures: 0,
      outages: 0,
      detectionDelayMs: { last: undefined, mean: undefined, count: 0 },
      timeToRecoverMs: { last: undefined, mean: undefined, count: 0 },
      keepaliveRttMs: { last: undefined, min: undefined, smoothed: undefined },
      uptimeRatio: undefined,
      dropped: { unauthenticated: 0, replayed: 0 },
    });
  });

  it('counts each event on its own counter', () => {
    const { m } = recorder();
    m.enrolled();
    for (let i = 0; i < 2; i++) m.reenrollAttempt();
    for (let i = 0; i < 3; i++) m.reenrollSuccess();
    for (let i = 0; i < 4; i++) m.reenrollFailure();
    m.dropped('replayed');
    for (let i = 0; i < 5; i++) m.dropped('unauthenticated');
    expect(m.snapshot()).toMatchObject({
      enrollments: 1,
      reenrollAttempts: 2,
      reenrollSuccesses: 3,
      reenrollFailures: 4,
      dropped: { unauthenticated: 5, replayed: 1 },
    });
  });

  it('keeps the last and the mean of detection delays and recovery times, the mean to 0.1 ms', () => {
    const { m } = recorder();
    m.outage(100);
    m.outage(201);
    m.outage(300);
    m.recovered(10);
    m.recovered(20);
    const s = m.snapshot();
    expect(s.outages).toBe(3);
    expect(s.detectionDelayMs).toEqual({ last: 300, mean: 200.3, count: 3 });
    expect(s.timeToRecoverMs).toEqual({ last: 20, mean: 15, count: 2 });
  });

  it('keepalive RTT: the last, the smallest, and the smoothed value with gain 1/8 (the first sample taken whole)', () => {
    const { m } = recorder();
    m.rtt(8);
    expect(m.snapshot().keepaliveRttMs).toEqual({ last: 8, min: 8, smoothed: 8 });
    m.rtt(16); // 8 + (16 - 8) / 8 = 9
    m.rtt(1); // 9 + (1 - 9) / 8 = 8
    m.rtt(24); // 8 + (24 - 8) / 8 = 10
    expect(m.snapshot().keepaliveRttMs).toEqual({ last: 24, min: 1, smoothed: 10 });
    m.rtt(11); // 10 + 1/8 = 10.125, reported to 0.1 ms
    expect(m.snapshot().keepaliveRttMs).toEqual({ last: 11, min: 1, smoothed: 10.1 });
  });

  it('uptime: the share of the time since the first enrollment spent enrolled, the open stretch included until it is left', () => {
    const { clock, m } = recorder();
    m.enrolled(); // at 1000
    expect(m.snapshot().uptimeRatio).toBe(1); // no time has passed: enrolled all of it
    clock.t = 1300;
    m.leftEnrolled(); // 300 ms up
    clock.t = 1400;
    expect(m.snapshot().uptimeRatio).toBe(0.75);
    m.enrolled(); // at 1400; the first enrollment stays the start of the span
    clock.t = 2000;
    expect(m.snapshot().uptimeRatio).toBe(0.9); // 300 + 600 of 1000
    m.leftEnrolled(); // the open stretch ends with the state enrolled
    clock.t = 3000;
    expect(m.snapshot().uptimeRatio).toBe(0.45); // 900 of 2000
    expect(m.snapshot().enrollments).toBe(2);
  });

  it('uptime: leaving when not enrolled counts nothing, and a leave counts its stretch once', () => {
    const { clock, m } = recorder();
    m.leftEnrolled(); // never enrolled
    m.enrolled();
    clock.t = 1500;
    m.leftEnrolled();
    clock.t = 1800;
    m.leftEnrolled(); // again: the 300 ms since are not uptime
    clock.t = 2000;
    expect(m.snapshot().uptimeRatio).toBe(0.5);
  });

  it('reads performance.now() without a clock', () => {
    const m = new MetricsRecorder();
    m.enrolled();
    expect(m.snapshot().uptimeRatio).toBe(1); // enrolled since the first enrollment, on the one clock
  });
});
