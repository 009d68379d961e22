import { afterEach, expect, it, vi } from 'vitest';
import { cleanup, member, withEnroller } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});
const fast = { heartbeatIntervalSecs: 0.25, connectionTimeoutSecs: 1, timeoutMs: 500, retransmitMs: 100, maxRetransmitMs: 200 };

it('a user reEnroll() that fails while monitoring opens an outage for the recovery that follows: every reenroll:success pairs with a connection:lost', async () => {
  vi.useFakeTimers();
  const { net } = await withEnroller();
  const { mgr } = member(net, 'm', { ...fast, heartbeatIntervalSecs: 2, connectionTimeoutSecs: 6, initialBackoffMs: 100 });
  await mgr.enrolWithBootstrap('bootstrap');
  mgr.startConnectionMonitoring();
  const ev: string[] = [];
  for (const n of ['connection:lost', 'reenroll:success', 'reenroll:failure'] as const) mgr.on(n, () => ev.push(n));
  mgr.on('state:change', (s) => ev.push(s.type));
  net.partition('m', 'bootstrap');
  const pr = mgr.reEnroll().then(
    () => 'ok',
    (e) => e.name,
  );
  await vi.advanceTimersByTimeAsync(5000);
  await pr;
  net.heal('m', 'bootstrap');
  await vi.advanceTimersByTimeAsync(20_000);
  expect(ev.filter((e) => e === 'connection:lost').length).toBe(ev.filter((e) => e === 'reenroll:success').length);
  expect(ev.filter((e) => e === 'reenroll:success').length).toBeGreaterThanOrEqual(1); // not 0 == 0
  expect(mgr.state.type).toBe('enrolled');
});
