import { afterEach, expect, it, vi } from 'vitest';
import { MemoryNetwork } from '../../src/index.js';
import { cleanup, member, withEnroller } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

it('an outage recovered with enrolWithBootstrap() is closed: a later, routine reEnroll() reports no hour-long recovery', async () => {
  vi.useFakeTimers();
  const net = new MemoryNetwork({ seed: 2 });
  const first = await withEnroller({}, net);
  // no monitor: a refused keepalive still counts as a loss (README), and the member goes idle
  const { mgr } = member(net, 'm', { heartbeatIntervalSecs: 1, connectionTimeoutSecs: 30 });
  await mgr.enrolWithBootstrap('bootstrap');
  net.detach('bootstrap'); // gone without a word (a crash), not a graceful stop
  await first.enroller.stop();
  await withEnroller({}, net); // restarted without its table: the next keepalive is refused
  const ev: string[] = [];
  mgr.on('connection:lost', () => ev.push('lost'));
  mgr.on('reenroll:success', ({ recoveryMs }) => ev.push(`success recoveryMs=${Math.round(recoveryMs)}`));
  await vi.advanceTimersByTimeAsync(1100);
  expect(mgr.state.type).toBe('idle');
  const p = mgr.enrolWithBootstrap('bootstrap'); // the natural thing to do once idle
  await vi.advanceTimersByTimeAsync(100);
  await p;
  await vi.advanceTimersByTimeAsync(3_600_000); // an hour of healthy operation
  const q = mgr.reEnroll(); // routine re-enrollment, no outage
  await vi.advanceTimersByTimeAsync(100);
  await q;
  const m = mgr.metrics();
  expect(m.timeToRecoverMs.last ?? 0).toBeLessThan(10_000);
});
