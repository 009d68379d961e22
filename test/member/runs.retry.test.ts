import { afterEach, describe, expect, it, vi } from 'vitest';
import { decodeCdapMessage, OpCode } from '../../src/index.js';
import { cleanup, connectMsg, member, RawPeer, settle, withEnroller } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

it('an explicit reEnroll() announces the wait p-retry really takes: each retryInMs is the gap to the next attempt, doubling from initialBackoffMs', async () => {
  vi.useFakeTimers();
  const { net } = await withEnroller();
  const config = { timeoutMs: 300, retransmitMs: 50, maxRetransmitMs: 100, initialBackoffMs: 200, maxRetries: 4 };
  const { mgr } = member(net, 'm', config);
  await mgr.enrolWithBootstrap('bootstrap');
  net.partition('m', 'bootstrap');
  const attempts: number[] = [];
  const failures: Array<{ at: number; retryInMs: number | undefined }> = [];
  mgr.on('reenroll:attempt', () => attempts.push(performance.now()));
  mgr.on('reenroll:failure', ({ retryInMs }) => failures.push({ at: performance.now(), retryInMs }));
  const outcome = mgr.reEnroll().catch((e: Error) => e.name);
  await vi.advanceTimersByTimeAsync(10_000);
  expect(await outcome).toBe('EnrollmentTimeoutError');
  expect(attempts.length).toBe(4);
  expect(failures.map((f) => f.retryInMs)).toEqual([200, 400, 800, undefined]);
  for (let i = 0; i < 3; i++) {
    const gap = (attempts[i + 1] as number) - (failures[i] as { at: number }).at;
    expect(gap).toBeGreaterThanOrEqual(failures[i]?.retryInMs as number);
    expect(gap).toBeLessThan((failures[i]?.retryInMs as number) + 5);
  }
});

describe('a "busy" enroller (-5) is waited out: its answers do not use up maxRetries', () => {
  /** An enroller whose every enrollment slot is taken by members that never go on, until `pendingTimeoutMs` forgets them. */
  async function busyEnroller(pendingTimeoutMs: number) {
    const env = await withEnroller({ maxPendingEnrollments: 2, pendingTimeoutMs });
    for (const name of ['squat0', 'squat1']) await new RawPeer(env.net.attach(name)).send('bootstrap', connectMsg(1, name));
    await settle();
    expect(env.enroller.pendingEnrollments).toBe(2);
    const connects: number[] = [];
    env.net.tap((p) => {
      if (p.from === 'm' && decodeCdapMessage(p.pdu).opCode === OpCode.M_CONNECT) connects.push(performance.now());
    });
    return { ...env, connects };
  }
  const config = { maxRetries: 2, initialBackoffMs: 100, timeoutMs: 1000, reenrollBackoffBaseMs: 500, reenrollBackoffCapMs: 2000 };

  it('a member with maxRetries: 2 asks again after a jittered backoff, doubling, for 8 s of "busy", then gets in', async () => {
    vi.useFakeTimers();
    const { net, enroller, connects } = await busyEnroller(8000);
    const { mgr } = member(net, 'm', config, { random: () => 0.999 }); // the jitter at its top: the backoff itself
    const outcome = mgr.enrolWithBootstrap('bootstrap');
    await vi.advanceTimersByTimeAsync(12_000);
    await expect(outcome).resolves.toBe('demo.DIF');
    expect(mgr.state.type).toBe('enrolled');
    expect(enroller.members()).toEqual([expect.objectContaining({ name: 'm', address: mgr.address })]);
    // many more attempts than maxRetries, every one answered "busy" but the last
    expect(enroller.stats().busy).toBe(connects.length - 1);
    expect(connects.length).toBeGreaterThan(3);
    const gaps = connects.slice(1).map((at, i) => at - (connects[i] as number));
    // never at once (the floor is retransmitMs, 250 ms here), never beyond the cap
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(250);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(2000 + 50);
    // doubling from initialBackoffMs (100 ms) with each "busy" answer, above the floor: 400, 800, 1600 ms, then the cap
    expect(gaps.slice(0, 6).map((g) => Math.round(g / 50) * 50)).toEqual([250, 250, 400, 800, 1600, 2000]);
  });

  it('the wait ends at once when the caller aborts: EnrollmentAbortedError, and no attempt after', async () => {
    vi.useFakeTimers();
    const { net, connects } = await busyEnroller(600_000);
    const { mgr } = member(net, 'm', config);
    const ac = new AbortController();
    const outcome = mgr.enrolWithBootstrap('bootstrap', { signal: ac.signal }).catch((e: Error) => e);
    await vi.advanceTimersByTimeAsync(5000);
    const asked = connects.length;
    expect(asked).toBeGreaterThan(2);
    ac.abort();
    await vi.advanceTimersByTimeAsync(1);
    expect(await outcome).toMatchObject({ name: 'EnrollmentAbortedError' });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(connects).toHaveLength(asked);
    expect(mgr.state.type).toBe('idle');
  });
});
