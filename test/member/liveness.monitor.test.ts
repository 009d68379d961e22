import { afterEach, expect, it, vi } from 'vitest';
import { EnrollmentManager, MemoryNetwork, MemoryRib } from '../../src/index.js';
import { cleanup, member, withEnroller } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});
const fast = { heartbeatIntervalSecs: 0.25, connectionTimeoutSecs: 1, timeoutMs: 500, retransmitMs: 100, maxRetransmitMs: 200 };

it('a closed shim: recovery attempts are spaced by their backoff, and close() leaves no timer', async () => {
  vi.useFakeTimers();
  const net = new MemoryNetwork({ seed: 8 });
  const { enroller } = await withEnroller({}, net);
  const shim = net.attach('m');
  const mgr = new EnrollmentManager({ shim, rib: new MemoryRib(), ipcpName: 'm', config: fast });
  await mgr.enrolWithBootstrap('bootstrap');
  mgr.startConnectionMonitoring();
  let attempts = 0;
  mgr.on('reenroll:attempt', () => attempts++);
  await shim.close();
  await vi.advanceTimersByTimeAsync(60_000);
  await mgr.close();
  await enroller.stop(); // it still holds m's lease (M_RELEASE could not go out on the closed shim)
  expect(attempts).toBeLessThan(60);
  expect(attempts).toBeGreaterThan(3); // spaced, not stopped
  expect(vi.getTimerCount()).toBe(0);
});

it('a monitor stopped and restarted mid-outage: one loss and one recovery; close() mid-recovery leaves no timer', async () => {
  vi.useFakeTimers();
  const { net, enroller } = await withEnroller();
  const { mgr } = member(net, 'm', fast);
  await mgr.enrolWithBootstrap('bootstrap');
  let mon = mgr.startConnectionMonitoring();
  const c: Record<string, number> = {};
  for (const n of ['connection:lost', 'reenroll:success'] as const)
    mgr.on(n, () => {
      c[n] = (c[n] ?? 0) + 1;
    });
  net.partition('m', 'bootstrap');
  await vi.advanceTimersByTimeAsync(3000);
  mon.stop();
  await vi.advanceTimersByTimeAsync(3000);
  mon = mgr.startConnectionMonitoring();
  await vi.advanceTimersByTimeAsync(3000);
  net.heal('m', 'bootstrap');
  await vi.advanceTimersByTimeAsync(30_000);
  expect(c).toEqual({ 'connection:lost': 1, 'reenroll:success': 1 });
  net.partition('m', 'bootstrap');
  await vi.advanceTimersByTimeAsync(3000);
  expect(mgr.state.type).toBe('reenrolling');
  await mgr.close();
  await enroller.stop();
  expect(vi.getTimerCount()).toBe(0);
});
