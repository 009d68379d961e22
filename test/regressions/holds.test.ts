import { afterEach, expect, it, vi } from 'vitest';
import { EnrollmentManager, MemoryNetwork, MemoryRib } from '../../src/index.js';
import { cleanup, member, withEnroller } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});
const fast = { heartbeatIntervalSecs: 0.25, connectionTimeoutSecs: 1, timeoutMs: 500, retransmitMs: 100, maxRetransmitMs: 200 };

it('closed shim: recovery attempts are spaced', async () => {
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
  expect(vi.getTimerCount()).toBe(0);
});

it('monitor stopped and restarted mid-outage, close() mid-recovery: events once, no timers', async () => {
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

it('enroller under churn: 2,000 members come and go (release or silence), maps return to empty', async () => {
  vi.useFakeTimers();
  const { net, enroller } = await withEnroller({ leaseMs: 2000, holdMs: 5000, addressPool: { first: 1, last: 3000 } });
  for (let round = 0; round < 4; round++) {
    const ms = Array.from(
      { length: 500 },
      (_, i) =>
        new EnrollmentManager({
          shim: net.attach(`r${round}-${i}`),
          rib: new MemoryRib(),
          ipcpName: `n${round}-${i}`,
          config: { heartbeatIntervalSecs: 0 },
        }),
    );
    const p = Promise.all(ms.map((m) => m.enrolWithBootstrap('bootstrap')));
    await vi.advanceTimersByTimeAsync(100);
    await p;
    await Promise.all(ms.filter((_, i) => i % 2 === 0).map((m) => m.close())); // half leave, half go silent
    for (const m of ms.filter((_, i) => i % 2 === 1)) {
      m.removeAllListeners();
    }
    await vi.advanceTimersByTimeAsync(10);
  }
  await vi.advanceTimersByTimeAsync(20_000);
  expect(enroller.members().length).toBe(0);
});
