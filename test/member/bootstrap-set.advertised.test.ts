import { afterEach, expect, it, vi } from 'vitest';
import { MemoryNetwork } from '../../src/index.js';
import { seededRandom } from '../../src/util/random.js';
import { cleanup, member, withEnroller } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

it("the last enroller's list of live enrollers replaces the advertised ones the member knew (a dead one is dropped)", async () => {
  vi.useFakeTimers();
  const net = new MemoryNetwork({ seed: 11 });
  await withEnroller({ alternates: ['e2', 'gone'] }, net, 'e1');
  await withEnroller({ alternates: ['e1'] }, net, 'e2');
  const { mgr } = member(net, 'm', { bootstraps: ['e1'], timeoutMs: 500, retransmitMs: 20, maxRetransmitMs: 40 });
  const first = mgr.enrol();
  await vi.advanceTimersByTimeAsync(50);
  await first;
  expect(new Set(mgr.bootstraps().map((b) => b.address))).toEqual(new Set(['e1', 'e2', 'gone']));
  const second = mgr.enrolWithBootstrap('e2');
  await vi.advanceTimersByTimeAsync(50);
  await second;
  // e2 lists e1 only: "gone" was advertised, and no live enroller lists it any more. e1 came from the config: kept.
  expect(new Set(mgr.bootstraps().map((b) => b.address))).toEqual(new Set(['e1', 'e2']));
});

it('the members of an enroller that dies spread over the live ones it advertised, instead of all taking the first listed', async () => {
  vi.useFakeTimers();
  const net = new MemoryNetwork({ seed: 12 });
  const { enroller: e0 } = await withEnroller({ alternates: ['e1', 'e2', 'e3'] }, net, 'e0');
  const live = await Promise.all(['e1', 'e2', 'e3'].map((a) => withEnroller({}, net, a)));
  const config = {
    bootstraps: ['e0'],
    timeoutMs: 300,
    retransmitMs: 20,
    maxRetransmitMs: 40,
    heartbeatIntervalSecs: 0.1,
    connectionTimeoutSecs: 0.3,
    reenrollBackoffBaseMs: 20,
    reenrollBackoffCapMs: 40,
  };
  const managers = Array.from({ length: 12 }, (_, i) => member(net, `m${i}`, config, { random: seededRandom(100 + i) }).mgr);
  const enrolled = Promise.all(managers.map((m) => m.enrol()));
  await vi.advanceTimersByTimeAsync(100);
  await enrolled;
  for (const m of managers) m.startConnectionMonitoring();
  await e0.stop();
  net.detach('e0');
  await vi.advanceTimersByTimeAsync(2000);
  expect(managers.every((m) => m.state.type === 'enrolled')).toBe(true);
  const counts = live.map(({ enroller }) => enroller.members().length);
  expect(counts.reduce((a, b) => a + b, 0)).toBe(12);
  expect(counts.filter((c) => c > 0).length).toBeGreaterThanOrEqual(2);
  expect(Math.max(...counts)).toBeLessThan(12);
});
