/**
 * The errors of a loaded enroller's answers carry no stack: a member answered
 * "busy" thousands of times a second paid some 8 µs of stack capture for each
 * of two errors per answer (bench/README.md, "Busy").
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { InvokeIds, Result, replyTo } from '../../src/cdap/messages.js';
import { type CdapMessage, OpCode } from '../../src/cdap/types.js';
import { resolveConfig } from '../../src/config.js';
import { EnrollmentRejectedError } from '../../src/errors.js';
import { AttemptTimeout, EnrollmentAttempt } from '../../src/member/attempt.js';
import { systemClock } from '../../src/util/clock.js';

afterEach(() => {
  vi.useRealTimers();
});

/** One attempt of member `m` with bootstrap `b` (a 1 s attempt), every message it sends recorded. */
function attempt() {
  vi.useFakeTimers();
  const sent: CdapMessage[] = [];
  const a = new EnrollmentAttempt({
    ipcpName: 'm',
    bootstrap: 'b',
    difName: undefined,
    auth: { mechanism: 'none' },
    requestedAddress: 0,
    lowerDifs: [],
    ids: new InvokeIds(10),
    clock: systemClock,
    config: resolveConfig({ timeoutMs: 1000, retransmitMs: 100, maxRetransmitMs: 300 }),
    send: async (msg) => {
      sent.push(msg);
    },
  });
  const outcome: Promise<unknown> = a.run(new AbortController().signal).then(
    () => 'completed',
    (error: unknown) => error,
  );
  const last = (op: OpCode) => [...sent].reverse().find((m) => m.opCode === op) as CdapMessage;
  return { a, outcome, last };
}

describe('EnrollmentAttempt: the errors of a loaded enroller carry no stack', () => {
  it("'busy' and 'unavailable' give a frameless AttemptTimeout with a frameless refusal as cause, its hint kept", async () => {
    for (const [result, op] of [
      [Result.BUSY, OpCode.M_CONNECT],
      [Result.UNAVAILABLE, OpCode.M_START],
    ] as const) {
      const t = attempt();
      await vi.advanceTimersByTimeAsync(0);
      if (op === OpCode.M_START) t.a.handle(replyTo(t.last(OpCode.M_CONNECT)));
      t.a.handle(replyTo(t.last(op), result, 'busy: full, try again in 50 ms'));
      const failed = (await t.outcome) as AttemptTimeout;
      expect(failed).toBeInstanceOf(AttemptTimeout);
      expect(failed.stack).toBe(`AttemptTimeout: ${failed.message}`);
      const cause = failed.cause as EnrollmentRejectedError;
      expect(cause).toBeInstanceOf(EnrollmentRejectedError);
      expect(cause).toMatchObject({ result, reason: 'busy: full, try again in 50 ms', code: 'ENROLLMENT_REJECTED' });
      expect(cause.stack).toBe(`EnrollmentRejectedError: ${cause.message}`);
      expect(failed.busy).toBe(result === Result.BUSY);
      vi.useRealTimers();
    }
  });

  it('a timeout is frameless too; a refusal for good, which the caller gets, keeps its frames', async () => {
    const quiet = attempt();
    await vi.advanceTimersByTimeAsync(1000);
    const timeout = (await quiet.outcome) as AttemptTimeout;
    expect(timeout).toBeInstanceOf(AttemptTimeout);
    expect(timeout.stack).toBe(`AttemptTimeout: ${timeout.message}`);
    vi.useRealTimers();
    const refused = attempt();
    await vi.advanceTimersByTimeAsync(0);
    refused.a.handle(replyTo(refused.last(OpCode.M_CONNECT), Result.FAILED, 'no'));
    const final = (await refused.outcome) as EnrollmentRejectedError;
    expect(final).toBeInstanceOf(EnrollmentRejectedError);
    expect(final.stack?.split('\n').length).toBeGreaterThan(1);
  });
});
