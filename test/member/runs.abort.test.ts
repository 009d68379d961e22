import { afterEach, expect, it, vi } from 'vitest';
import { cleanup, member, withEnroller } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

it('aborting a user reEnroll() while the monitor runs: the monitor takes over and brings the member back', async () => {
  vi.useFakeTimers();
  const { net } = await withEnroller({}, undefined);
  const { mgr } = member(net, 'm', { heartbeatIntervalSecs: 1, connectionTimeoutSecs: 3, timeoutMs: 1000 });
  await mgr.enrolWithBootstrap('bootstrap');
  mgr.startConnectionMonitoring();
  net.partition('m', 'bootstrap'); // the user suspects trouble and re-enrols with a deadline
  const ac = new AbortController();
  const p = mgr.reEnroll({ signal: ac.signal }).catch((e) => e.name);
  await vi.advanceTimersByTimeAsync(500);
  ac.abort();
  expect(await p).toBe('EnrollmentAbortedError');
  net.heal('m', 'bootstrap');
  await vi.advanceTimersByTimeAsync(120_000);
  expect(mgr.state.type).toBe('enrolled'); // expected: the running monitor recovers
});

it('aborting enrolWithBootstrap() while enrolled and monitored: the monitor takes over and brings the member back', async () => {
  vi.useFakeTimers();
  const { net } = await withEnroller({}, undefined);
  const { mgr } = member(net, 'm', { heartbeatIntervalSecs: 1, connectionTimeoutSecs: 3 });
  await mgr.enrolWithBootstrap('bootstrap');
  mgr.startConnectionMonitoring();
  const ac = new AbortController();
  const p = mgr.enrolWithBootstrap('bootstrap', { signal: ac.signal }).catch((e) => e.name);
  ac.abort();
  await p;
  await vi.advanceTimersByTimeAsync(120_000);
  expect(mgr.state.type).toBe('enrolled');
});
