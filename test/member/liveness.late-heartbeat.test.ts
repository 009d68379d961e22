import { afterEach, expect, it, vi } from 'vitest';
import { cleanup, member, withEnroller } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

it('a silence of timeout + 2 ms, ended by a heartbeat, is an outage: isConnectionHealthy() is false and connection:lost fires once', async () => {
  vi.useFakeTimers();
  const { net } = await withEnroller();
  // keepalives slower than the test, so only our heartbeats count
  const { mgr } = member(net, 'm', { heartbeatIntervalSecs: 2.9, connectionTimeoutSecs: 3 });
  await mgr.enrolWithBootstrap('bootstrap');
  mgr.startConnectionMonitoring();
  let lost = 0;
  mgr.on('connection:lost', () => lost++);
  net.partition('m', 'bootstrap');
  await vi.advanceTimersByTimeAsync(7); // an arbitrary phase of the 20 ms wheel
  mgr.updateHeartbeat(); // last heartbeat
  await vi.advanceTimersByTimeAsync(3002);
  const healthy = mgr.isConnectionHealthy();
  net.heal('m', 'bootstrap');
  mgr.updateHeartbeat(); // the bootstrap speaks again (any message does this), 3,002 ms after the last heartbeat
  await vi.advanceTimersByTimeAsync(5000);
  expect(healthy).toBe(false);
  expect(lost).toBe(1); // 3,002 ms without a heartbeat is an outage: the spec says connection:lost happens, at most 50 ms late
});
