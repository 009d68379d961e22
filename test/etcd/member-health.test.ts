/**
 * Which etcd members the store's client calls (MemberHealth), against calls
 * scripted here on a clock of the test's: when a member is skipped, for how
 * long, the one call that tries it again, and that a member is never skipped
 * when no other would answer. Against a real etcd with a member paused:
 * faults.paused-member.test.ts.
 */
import { isBrokenCircuitError } from 'cockatiel';
import { describe, expect, it } from 'vitest';
import { FAILURES_TO_SKIP, FORGET_FAILURES_MS, MemberHealth, SkippedMemberError } from '../../src/etcd/member-health.js';

class Unavailable extends Error {}
class Refused extends Error {}

type Policy = { execute(fn: () => unknown): Promise<unknown> };

/** `count` members (as etcd3 makes them, one policy each) on a clock the test moves. */
function members(count = 3) {
  const clock = { ms: 0 };
  let skips = 0;
  const health = new MemberHealth(
    (err) => err instanceof Unavailable,
    () => skips++,
    () => clock.ms,
  );
  const policies = Array.from({ length: count }, () => health.policy() as unknown as Policy);
  const exec = (i: number, fn: () => unknown): Promise<unknown> => (policies[i] as Policy).execute(fn);
  /** One call through member `i`: answered, unavailable (counts against it), refused (an answer), or held until settled. */
  const call = (i: number, outcome: 'ok' | 'unavailable' | 'refused' | Promise<unknown>) =>
    exec(i, () =>
      outcome === 'ok'
        ? Promise.resolve('answer')
        : outcome === 'unavailable'
          ? Promise.reject(new Unavailable('14 UNAVAILABLE'))
          : outcome === 'refused'
            ? Promise.reject(new Refused('etcdserver: permission denied'))
            : outcome,
    );
  /** What became of a call through member `i`: 'skipped' (not made), or its outcome. */
  const outcome = (i: number, o: Parameters<typeof call>[1]) =>
    call(i, o).then(
      () => 'answered',
      (err: unknown) => {
        if (!(err instanceof SkippedMemberError)) return 'failed';
        expect(isBrokenCircuitError(err)).toBe(true); // (how etcd3 moves on to the next member without counting a failure)
        return 'skipped';
      },
    );
  /** Whether member `i` is skipped now (a call through it, answered if made). */
  const skipped = async (i: number): Promise<boolean> => (await outcome(i, 'ok')) === 'skipped';
  const failTimes = async (i: number, n: number) => {
    for (let k = 0; k < n; k++) await call(i, 'unavailable').catch(() => undefined);
  };
  return { clock, exec, call, outcome, skipped, failTimes, skips: () => skips };
}

describe('MemberHealth', () => {
  it(`skips a member after ${FAILURES_TO_SKIP} failures in a row, for 250 ms doubling to 4 s while its one trial call fails`, async () => {
    const m = members();
    await m.failTimes(0, FAILURES_TO_SKIP - 1);
    expect(await m.skipped(0)).toBe(false); // (that call answered: the count starts again)
    await m.failTimes(0, FAILURES_TO_SKIP - 1);
    expect(await m.skipped(0)).toBe(false);
    await m.failTimes(0, FAILURES_TO_SKIP);
    for (const ms of [250, 500, 1000, 2000, 4000, 4000]) {
      m.clock.ms += ms - 1;
      expect(await m.outcome(0, 'unavailable')).toBe('skipped');
      m.clock.ms += 1;
      expect(await m.outcome(0, 'unavailable')).toBe('failed'); // the trial call, failed: skipped again, twice as long
    }
    expect(m.skips()).toBe(6);
  });

  it('a trial call that answers ends the skip; while it is in flight every other call still skips the member', async () => {
    const m = members();
    await m.failTimes(1, FAILURES_TO_SKIP);
    expect(await m.skipped(1)).toBe(true);
    m.clock.ms = 250;
    let answer!: (v: unknown) => void;
    const trial = m.call(1, new Promise((resolve) => (answer = resolve)));
    expect(await m.skipped(1)).toBe(true); // the trial is in flight: the others go elsewhere, not behind it
    m.clock.ms = 10_000;
    expect(await m.skipped(1)).toBe(true); // (however long it takes)
    answer('late answer');
    await trial;
    expect(await m.skipped(1)).toBe(false);
    await m.failTimes(1, FAILURES_TO_SKIP - 1); // the count starts from zero again, and so does the skip's length
    expect(await m.skipped(1)).toBe(false);
    await m.failTimes(1, FAILURES_TO_SKIP);
    m.clock.ms += 249;
    expect(await m.skipped(1)).toBe(true);
    m.clock.ms += 1;
    expect(await m.skipped(1)).toBe(false);
  });

  it('an error that is an answer (etcd refused the call) counts for the member, not against it', async () => {
    const m = members();
    await m.failTimes(2, FAILURES_TO_SKIP - 1);
    expect(await m.outcome(2, 'refused')).toBe('failed');
    await m.failTimes(2, FAILURES_TO_SKIP - 1);
    expect(await m.skipped(2)).toBe(false);
  });

  it('never skips a member when no other would be called: etcd down whole, every call tries every member as before', async () => {
    const m = members();
    for (const i of [0, 1]) await m.failTimes(i, FAILURES_TO_SKIP);
    expect([await m.skipped(0), await m.skipped(1)]).toEqual([true, true]); // member 2 answers
    await m.failTimes(2, FAILURES_TO_SKIP);
    // Every member failing: each call is made (and fails), none is skipped.
    const outcomes = [];
    for (const i of [0, 1, 2, 0, 1, 2]) outcomes.push(await m.outcome(i, 'unavailable'));
    expect(outcomes).toEqual(Array(6).fill('failed'));
    expect(await m.skipped(2)).toBe(false); // etcd back: answered at once, and the others skipped again while it answers
    expect(await m.skipped(0)).toBe(true);
    // One member alone is never skipped.
    const one = members(1);
    await one.failTimes(0, FAILURES_TO_SKIP * 3);
    expect(await one.skipped(0)).toBe(false);
    expect(one.skips()).toBe(0);
  });

  // Found by a review (2026-12-07): a stream's answers never reach the policy, only its failures; on an idle enroller
  // (keepalives and the watch its only calls) failures hours apart added up, and a skip doubled again an hour later.
  it(`failures more than ${FORGET_FAILURES_MS} ms apart do not add up, and a skip long past does not double the next`, async () => {
    const m = members();
    for (let k = 0; k < FAILURES_TO_SKIP * 2; k++) {
      await m.failTimes(0, 1);
      m.clock.ms += FORGET_FAILURES_MS + 1;
    }
    expect(await m.skipped(0)).toBe(false);
    // Skipped twice in a row (the trial failed): the next skip would be 1 s.
    await m.failTimes(1, FAILURES_TO_SKIP);
    m.clock.ms += 250;
    expect(await m.outcome(1, 'unavailable')).toBe('failed');
    m.clock.ms += 500;
    // An hour later, three failures in a row skip it for 250 ms again, not 1 s; one failure alone does not.
    m.clock.ms += 3_600_000;
    await m.failTimes(1, 1);
    expect(await m.outcome(1, 'unavailable')).toBe('failed');
    await m.failTimes(1, 1);
    m.clock.ms += 249;
    expect(await m.outcome(1, 'unavailable')).toBe('skipped');
    m.clock.ms += 1;
    expect(await m.outcome(1, 'unavailable')).toBe('failed');
  });

  it('a stream made (a watch, a keepalive) proves nothing; its failure, reported later as a call that throws, counts', async () => {
    const m = members();
    await m.failTimes(0, FAILURES_TO_SKIP - 1);
    const stream = { on: () => undefined };
    expect(await m.exec(0, () => stream)).toBe(stream); // etcd3 makes a stream through the policy: it comes back as is
    // etcd3's report of the stream's failure (markFailed): a call that throws at once, its promise caught.
    await m
      .exec(0, () => {
        throw new Unavailable('14 UNAVAILABLE: the stream failed');
      })
      .catch(() => undefined);
    expect(await m.skipped(0)).toBe(true);
  });
});
