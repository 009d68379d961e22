import { afterEach, describe, expect, it, vi } from 'vitest';
import { Result, retryHintOf } from '../../src/cdap/messages.js';
import {
  type CdapMessage,
  decodeCdapMessage,
  EnrollmentManager,
  type EnrollmentManagerOptions,
  EnrollmentRejectedError,
  encodeCdapMessage,
  MemoryRib,
  OpCode,
  type Shim,
} from '../../src/index.js';
import { cleanup, connectMsg, member, onCleanup, RawPeer, settle, withEnroller } from '../support/helpers.js';

/** `shim`, with every "busy" answer's `result_reason` rewritten by `reason` (an enroller that names another time, or none). */
/** A manager "m" on `shim`, closed after the test. */
function manager(shim: Shim, config: EnrollmentManagerOptions['config'], extra: Partial<EnrollmentManagerOptions> = {}) {
  const mgr = new EnrollmentManager({ shim, rib: new MemoryRib(), ipcpName: 'm', config, ...extra });
  onCleanup(() => mgr.close());
  return mgr;
}

function rewritingBusy(shim: Shim, reason: (was: string) => string): Shim {
  return {
    localAddress: shim.localAddress,
    send: (to, pdu) => shim.send(to, pdu),
    close: () => shim.close(),
    onReceive: (handler) =>
      shim.onReceive((pdu, from) => {
        const msg: CdapMessage = decodeCdapMessage(pdu);
        if (msg.result !== Result.BUSY) return handler(pdu, from);
        handler(encodeCdapMessage({ ...msg, resultReason: reason(msg.resultReason ?? '') }), from);
      }),
  };
}

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

  it('a member with maxRetries: 2 asks again after a jittered backoff, doubling, for 8 s of "busy" that name no time (another stack), then gets in', async () => {
    vi.useFakeTimers();
    const { net, enroller, connects } = await busyEnroller(8000);
    const shim = rewritingBusy(net.attach('m'), (was) => was.replace(/, try again in \d+ ms$/, ', try again later'));
    const mgr = manager(shim, config, { random: () => 0.999 }); // the jitter at its top: the backoff itself
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

  it('a member waits what the enroller named, within its own bounds: at least 1 ms doubling, at most what its own backoff could wait', async () => {
    vi.useFakeTimers();
    const { net, enroller, connects } = await busyEnroller(4000);
    const named = [3, 0, 99_999]; // then the enroller's own times
    const told: number[] = [];
    const shim = rewritingBusy(net.attach('m'), (was) => {
      const ms = named.shift();
      const reason = ms === undefined ? was : was.replace(/\d+ ms$/, `${ms} ms`);
      told.push(retryHintOf(reason) as number);
      return reason;
    });
    const mgr = manager(shim, config);
    const outcome = mgr.enrolWithBootstrap('bootstrap');
    await vi.advanceTimersByTimeAsync(20_000);
    await expect(outcome).resolves.toBe('demo.DIF');
    expect(told.slice(0, 3)).toEqual([3, 0, 99_999]);
    const gaps = connects.slice(1).map((at, i) => at - (connects[i] as number));
    const near = (gap: number | undefined, ms: number) => {
      expect(gap).toBeGreaterThanOrEqual(ms);
      expect(gap).toBeLessThan(ms + 5);
    };
    near(gaps[0], 3); // below retransmitMs (250 ms), which only the member's own guess keeps to
    near(gaps[1], 2); // 0 asked: the floor for the 2nd "busy" in a row, 2 ms (1 ms doubling), not at once
    // 99,999 asked: no more than its own backoff could have waited for the 3rd (initialBackoffMs 100 doubling: 400 ms)
    near(gaps[2], 400);
    expect(enroller.stats().busy).toBe(told.length);
  });

  it('a member asked for 0 ms again and again asks less and less often: a dozen M_CONNECTs in a second, not hundreds', async () => {
    vi.useFakeTimers();
    const { net, connects } = await busyEnroller(600_000);
    const shim = rewritingBusy(net.attach('m'), (was) => was.replace(/\d+ ms$/, '0 ms'));
    manager(shim, config)
      .enrolWithBootstrap('bootstrap')
      .catch(() => undefined);
    await vi.advanceTimersByTimeAsync(1000);
    expect(connects.length).toBeGreaterThan(5);
    expect(connects.length).toBeLessThan(15); // 1, 2, 4, ... 512 ms
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

/**
 * A member "m" enrolled, monitored, then cut off from "bootstrap" for `cutMs` (its recovery failing meanwhile), then
 * healed while the enroller's two places are taken and every "busy" it answers names `askedMs`.
 */
async function recoveringAgainstBusy(askedMs: number, cutMs: number, reenrollBackoffBaseMs: number) {
  vi.useFakeTimers();
  const { net } = await withEnroller({ maxPendingEnrollments: 2, pendingTimeoutMs: 600_000 });
  const shim = rewritingBusy(net.attach('m'), (was) => was.replace(/\d+ ms$/, `${askedMs} ms`));
  const cfg = {
    heartbeatIntervalSecs: 1,
    connectionTimeoutSecs: 3,
    maxRetries: 1,
    timeoutMs: 300,
    reenrollBackoffBaseMs,
    reenrollBackoffCapMs: 5000,
  };
  const mgr = manager(shim, cfg);
  await mgr.enrolWithBootstrap('bootstrap');
  mgr.startConnectionMonitoring();
  for (const name of ['squat0', 'squat1']) await new RawPeer(net.attach(name)).send('bootstrap', connectMsg(1, name));
  const attempts: number[] = [];
  const busy: Array<{ at: number; retryInMs: number | undefined }> = [];
  let timeouts = 0;
  mgr.on('reenroll:attempt', () => attempts.push(performance.now()));
  mgr.on('reenroll:failure', ({ error, retryInMs }) => {
    if (error.cause instanceof EnrollmentRejectedError && error.cause.result === Result.BUSY)
      busy.push({ at: performance.now(), retryInMs });
    else timeouts++;
  });
  net.partition('m', 'bootstrap');
  await vi.advanceTimersByTimeAsync(cutMs);
  expect(mgr.state.type).toBe('reenrolling');
  net.heal('m', 'bootstrap');
  await vi.advanceTimersByTimeAsync(15_000);
  return { attempts, busy, timeouts };
}

/** Each "busy" answer (but the last) was followed by the next attempt `ms` later (give or take 5 ms). */
function askedAgainAfter(
  ms: number,
  { attempts, busy }: { attempts: number[]; busy: Array<{ at: number; retryInMs: number | undefined }> },
) {
  expect(busy.length).toBeGreaterThanOrEqual(3);
  // (the first six: from the 7th "busy" in a row on, the member's own floor, 1 ms doubling, passes 50 ms)
  for (const { at, retryInMs } of busy.slice(0, Math.min(busy.length - 1, 6))) {
    expect(retryInMs).toBe(ms);
    const next = attempts.find((t) => t > at) as number;
    expect(next - at).toBeGreaterThanOrEqual(ms);
    expect(next - at).toBeLessThan(ms + 5);
  }
}

it("the monitor's recovery asks a busy enroller again when it said, not after the bootstrap's backoff", async () => {
  // reenrollBackoffBaseMs 1000: from the 2nd failure on, its own backoff could wait 2 s, more than the 1.5 s asked
  askedAgainAfter(1500, await recoveringAgainstBusy(1500, 3100, 1000));
});

it('after a long outage (many failures) a short named wait is still kept: the floor counts "busy" answers in a row, not failures', async () => {
  const seen = await recoveringAgainstBusy(50, 40_000, 10);
  expect(seen.timeouts).toBeGreaterThan(15); // 2^15 ms would be past the 5 s cap
  askedAgainAfter(50, seen);
});
