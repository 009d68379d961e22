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

it('a caller who, in a listener of the idle state its failed run settled to, starts a new run and then aborts, leaves the new run alone', async () => {
  vi.useFakeTimers();
  const { net } = await withEnroller({}, undefined);
  const { mgr } = member(net, 'm', { maxRetries: 1, timeoutMs: 100 });
  const shown: string[] = [];
  let second: Promise<string> | undefined;
  const caller = new AbortController();
  mgr.on('state:change', (s) => {
    shown.push(s.type);
    if (s.type !== 'idle' || second !== undefined) return;
    second = mgr.enrolWithBootstrap('bootstrap');
    // The first caller's signal aborts while its run's end is still being delivered to it.
    caller.abort();
  });
  const first = mgr.enrolWithBootstrap('nobody', { signal: caller.signal }).catch((err: Error) => err.name);
  await vi.advanceTimersByTimeAsync(150);
  expect(await first).toBe('EnrollmentAbortedError'); // its abort came first
  expect(second).toBeDefined();
  await vi.advanceTimersByTimeAsync(100);
  await expect(second).resolves.toBe('demo.DIF');
  expect(shown).toEqual(['enrolling', 'idle', 'enrolling', 'enrolled']);
});
