/**
 * The silence a loss reports, and the public last heartbeat, are read from
 * the clock as it is: a last heartbeat rounded up to a whole millisecond
 * lay in the future, and a loss declared in the same millisecond (always
 * the case for 'released': the M_RELEASE is itself a heartbeat) reported a
 * negative silence (found by a review, 2026-12-05).
 */
import { afterEach, expect, it, vi } from 'vitest';
import { type EnrollmentEvents, MemoryNetwork } from '../../src/index.js';
import { cleanup, member, withEnroller } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

/** A monitored member released by its enroller's stop (a clock of its own if given): the losses it reported. */
async function releasedByStop(clock?: { now(): number }) {
  const net = new MemoryNetwork({ seed: 6 });
  const { enroller } = await withEnroller({}, net);
  const { mgr } = member(net, 'm', { heartbeatIntervalSecs: 5, connectionTimeoutSecs: 15 }, clock === undefined ? {} : { clock });
  await mgr.enrolWithBootstrap('bootstrap');
  mgr.startConnectionMonitoring();
  const lost: EnrollmentEvents['connection:lost'][0][] = [];
  mgr.on('connection:lost', (i) => lost.push(i));
  await enroller.stop();
  await new Promise((r) => setTimeout(r, 20));
  expect(lost.map((l) => l.reason)).toEqual(['released']);
  return { lost, mgr };
}

it('real clock: an enroller that stops releases its members, whose connection:lost silentMs is never negative', async () => {
  const { lost, mgr } = await releasedByStop();
  expect(lost[0]?.silentMs).toBeGreaterThanOrEqual(0);
  expect(mgr.metrics().detectionDelayMs.last).toBeGreaterThanOrEqual(0);
});

it('the public lastHeartbeat is never later than the clock (performance.now()) that it is documented in', async () => {
  const net = new MemoryNetwork({ seed: 6 });
  await withEnroller({}, net);
  const { mgr } = member(net, 'm', { heartbeatIntervalSecs: 5, connectionTimeoutSecs: 15 });
  await mgr.enrolWithBootstrap('bootstrap');
  const now = performance.now();
  expect(mgr.lastHeartbeat).toBeDefined();
  expect(mgr.lastHeartbeat as number).toBeLessThanOrEqual(now);
});

it('a member clock always at x.5 ms: released right after a heartbeat, it reports a silence of 0, not -0.5', async () => {
  const { lost } = await releasedByStop({ now: () => Math.floor(performance.now()) + 0.5 });
  expect(lost[0]?.silentMs).toBeGreaterThanOrEqual(0);
});
