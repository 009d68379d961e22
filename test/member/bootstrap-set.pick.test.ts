import { afterEach, expect, it, vi } from 'vitest';
import { MemoryNetwork } from '../../src/index.js';
import { cleanup, member, withEnroller } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

it('a first enrollment moves on from a dead bootstrap whose short backoff ran out, instead of trying it again', async () => {
  vi.useFakeTimers();
  const net = new MemoryNetwork({ seed: 7 });
  await withEnroller({}, net, 'live');
  // 'dead' is first in order; its re-enrollment backoff (<= 40 ms) is over long before the next attempt (200 ms later).
  const { mgr } = member(net, 'm', {
    bootstraps: ['dead', 'live'],
    timeoutMs: 100,
    retransmitMs: 20,
    maxRetransmitMs: 40,
    initialBackoffMs: 200,
    maxRetries: 3,
    reenrollBackoffBaseMs: 20,
    reenrollBackoffCapMs: 40,
  });
  const tried: string[] = [];
  mgr.on('state:change', (s) => s.type === 'enrolling' && tried.push(s.bootstrap));
  const enrolled = mgr.enrol();
  await vi.advanceTimersByTimeAsync(1000);
  await enrolled;
  expect(mgr.bootstrapAddress).toBe('live');
  expect(tried).toEqual(['dead', 'live']);
});
