import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { decodeEnrollmentInfo } from '../../src/cdap/codec.js';
import { connectRequest, createRequest, enrollmentMessage, InvokeIds, Result, replyTo } from '../../src/cdap/messages.js';
import { type CdapMessage, OpCode } from '../../src/cdap/types.js';
import { resolveConfig } from '../../src/config.js';
import { EnrollmentAbortedError, EnrollmentRejectedError, ProtocolError, ShimError } from '../../src/errors.js';
import {
  type AttemptContext,
  type AttemptResult,
  AttemptTimeout,
  EnrollmentAttempt,
  MAX_SYNCED_OBJECTS,
} from '../../src/member/attempt.js';
import { LATE_MS, systemClock } from '../../src/util/clock.js';

afterEach(() => {
  vi.useRealTimers();
});

/** The context of an attempt of member `m` (asking for address 7, over eth0) with bootstrap `b`. */
function context(given: Pick<AttemptContext, 'config' | 'send'>): AttemptContext {
  const fixed = { ipcpName: 'm', bootstrap: 'b', difName: undefined, auth: { mechanism: 'none' } } as const;
  return { ...fixed, requestedAddress: 7, lowerDifs: ['eth0'], ids: new InvokeIds(10), clock: systemClock, ...given };
}

/** One attempt of member `m` with bootstrap `b`, every message it sends recorded (with the fake time it left). */
function attempt(config: Parameters<typeof resolveConfig>[0] = {}, send?: (msg: CdapMessage) => Promise<void>) {
  vi.useFakeTimers();
  const sent: Array<{ at: number; msg: CdapMessage }> = [];
  const a = new EnrollmentAttempt(
    context({
      config: resolveConfig({ timeoutMs: 1000, retransmitMs: 100, maxRetransmitMs: 300, ...config }),
      send: async (msg) => {
        sent.push({ at: performance.now(), msg });
        await send?.(msg);
      },
    }),
  );
  const controller = new AbortController();
  const outcome: Promise<{ result?: AttemptResult; error?: unknown }> = a.run(controller.signal).then(
    (result) => ({ result }),
    (error: unknown) => ({ error }),
  );
  const last = (op: OpCode) => [...sent].reverse().find((s) => s.msg.opCode === op)?.msg as CdapMessage;
  return { a, sent, outcome, controller, last, ops: () => sent.map((s) => s.msg.opCode) };
}

/** The enroller's answers to a whole enrollment: CONNECT_R, START_R (address 42), one object, then M_STOP announcing it. */
function answerAll(t: ReturnType<typeof attempt>, objects = 1) {
  t.a.handle(replyTo(t.last(OpCode.M_CONNECT)));
  const start = t.last(OpCode.M_START);
  t.a.handle(enrollmentMessage(OpCode.M_START_R, start.invokeId ?? 0, { address: 42, difName: 'd.DIF', alternates: ['c'] }, 0));
  for (let i = 0; i < objects; i++) t.a.handle(createRequest(100 + i, { name: `/o/${i}`, class: 'c', value: { intval: i } }));
  t.a.handle(enrollmentMessage(OpCode.M_STOP, 200, { ribObjectCount: objects }));
}

describe('EnrollmentAttempt: one exchange with one bootstrap', () => {
  it('connects, starts asking for its address with its lower DIFs, and completes once START_R, M_STOP and every object are in', async () => {
    const t = attempt();
    await vi.advanceTimersByTimeAsync(0);
    const connect = t.last(OpCode.M_CONNECT);
    expect(connect).toMatchObject({ invokeId: 10, srcApName: 'm', destApName: 'b', authMech: 0 });
    t.a.handle(replyTo(connect));
    await vi.advanceTimersByTimeAsync(0);
    const start = t.last(OpCode.M_START);
    expect(start.invokeId).toBe(11);
    const asked = decodeEnrollmentInfo(start.objValue?.byteval ?? new Uint8Array());
    expect(asked).toMatchObject({ address: 7, lowerDifs: ['eth0'] });
    expect(asked.authProof).toBeUndefined();
    t.a.handle(enrollmentMessage(OpCode.M_START_R, 11, { address: 42, difName: 'd.DIF', alternates: ['c'] }, 0));
    t.a.handle(enrollmentMessage(OpCode.M_STOP, 200, { ribObjectCount: 2 }));
    t.a.handle(createRequest(100, { name: '/o/0', class: 'c', value: { intval: 0 } }));
    await vi.advanceTimersByTimeAsync(0);
    // one object of two: not done
    expect(await Promise.race([t.outcome, Promise.resolve('pending')])).toBe('pending');
    t.a.handle(createRequest(101, { name: '/o/1', class: 'c', value: { intval: 1 } }));
    const { result } = await t.outcome;
    expect(result).toMatchObject({
      address: 42,
      difName: 'd.DIF',
      alternates: ['c'],
      objects: [
        { name: '/o/0', class: 'c', value: { intval: 0 } },
        { name: '/o/1', class: 'c', value: { intval: 1 } },
      ],
      stop: expect.objectContaining({ opCode: OpCode.M_STOP, invokeId: 200 }),
      channel: undefined,
    });
    // each object acknowledged; no timer left behind
    expect(t.sent.filter((s) => s.msg.opCode === OpCode.M_CREATE_R).map((s) => s.msg.invokeId)).toEqual([100, 101]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('an M_STOP that announces no count completes with the objects that came', async () => {
    const t = attempt();
    t.a.handle(replyTo(t.last(OpCode.M_CONNECT)));
    t.a.handle(enrollmentMessage(OpCode.M_START_R, t.last(OpCode.M_START).invokeId ?? 0, { address: 42 }, 0));
    t.a.handle(enrollmentMessage(OpCode.M_STOP, 200, {}));
    const { result } = await t.outcome;
    expect(result?.objects).toEqual([]);
    expect(result?.alternates).toEqual([]);
  });

  it('retransmits the request it waits on, the interval doubling up to maxRetransmitMs, and M_START from retransmitMs again', async () => {
    const t = attempt();
    await vi.advanceTimersByTimeAsync(650);
    expect(t.sent.map((s) => s.at)).toEqual([0, 100, 300, 600]); // +100, +200, +300 (capped)
    t.a.handle(replyTo(t.last(OpCode.M_CONNECT)));
    const startAt = performance.now();
    await vi.advanceTimersByTimeAsync(350);
    const starts = t.sent.filter((s) => s.msg.opCode === OpCode.M_START).map((s) => s.at - startAt);
    expect(starts).toEqual([0, 100, 300]);
    // every copy is the same request: same invoke id
    expect(new Set(t.sent.filter((s) => s.msg.opCode === OpCode.M_START).map((s) => s.msg.invokeId)).size).toBe(1);
  });

  it('times out after timeoutMs with the last problem as the cause, and leaves no timer', async () => {
    const t = attempt();
    t.a.handle(replyTo(t.last(OpCode.M_CONNECT)));
    t.a.handle(enrollmentMessage(OpCode.M_START_R, t.last(OpCode.M_START).invokeId ?? 0, { address: 0 }, 0));
    await vi.advanceTimersByTimeAsync(999);
    expect(await Promise.race([t.outcome, Promise.resolve('pending')])).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    const error = (await t.outcome).error as AttemptTimeout;
    expect(error).toBeInstanceOf(AttemptTimeout);
    expect(error.bootstrap).toBe('b');
    expect(error.busy).toBe(false);
    expect(error.cause).toBeInstanceOf(ProtocolError);
    expect((error.cause as Error).message).toBe('M_START_R assigned an invalid address 0');
    expect(vi.getTimerCount()).toBe(0);
    const sentBefore = t.sent.length;
    await vi.advanceTimersByTimeAsync(5000);
    expect(t.sent).toHaveLength(sentBefore);
  });

  it('a deadline that fires while the process was late waits one event-loop turn: the answers read in it complete the attempt', async () => {
    vi.useFakeTimers();
    const clock = { ...systemClock, lag: 0, now: () => performance.now() + clock.lag };
    const a = new EnrollmentAttempt({ ...context({ config: resolveConfig({ timeoutMs: 1000 }), send: async () => undefined }), clock });
    const outcome = a.run(new AbortController().signal).then(
      (result) => ({ result }),
      (error: unknown) => ({ error }),
    );
    await vi.advanceTimersByTimeAsync(999);
    clock.lag = LATE_MS + 30; // the process stalls: the deadline fires late, the answers wait to be read
    await vi.advanceTimersByTimeAsync(1);
    expect(await Promise.race([outcome, Promise.resolve('pending')])).toBe('pending');
    a.handle(replyTo(connectRequest(10, 'm', 'b')));
    a.handle(enrollmentMessage(OpCode.M_START_R, 11, { address: 42 }, 0));
    a.handle(enrollmentMessage(OpCode.M_STOP, 200, { ribObjectCount: 0 }));
    await vi.advanceTimersByTimeAsync(5);
    expect(await outcome).toMatchObject({ result: { address: 42 } });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('an address that does not fit the DT constants address width is refused; one that fits is taken', async () => {
    const t = attempt();
    t.a.handle(replyTo(t.last(OpCode.M_CONNECT)));
    const id = t.last(OpCode.M_START).invokeId ?? 0;
    const width1 = (address: number) => ({ address, dtConstants: { addressWidth: 1 } }) as never;
    t.a.handle(enrollmentMessage(OpCode.M_START_R, id, width1(256), 0));
    t.a.handle(enrollmentMessage(OpCode.M_STOP, 200, { ribObjectCount: 0 }));
    await vi.advanceTimersByTimeAsync(0);
    expect(await Promise.race([t.outcome, Promise.resolve('pending')])).toBe('pending');
    t.a.handle(enrollmentMessage(OpCode.M_START_R, id, width1(255), 0));
    expect((await t.outcome).result?.address).toBe(255);
  });

  it('ignores answers to other requests: a CONNECT_R or START_R with another invoke id, a START_R while connecting', async () => {
    const t = attempt();
    const connect = t.last(OpCode.M_CONNECT);
    t.a.handle(enrollmentMessage(OpCode.M_START_R, connect.invokeId ?? 0, { address: 42 }, 0)); // still connecting
    t.a.handle({ ...replyTo(connect), invokeId: 999 });
    await vi.advanceTimersByTimeAsync(0);
    expect(t.ops()).not.toContain(OpCode.M_START);
    t.a.handle(replyTo(connect));
    t.a.handle(replyTo(connect)); // a duplicate: the attempt is starting already
    t.a.handle(enrollmentMessage(OpCode.M_START_R, 999, { address: 42 }, 0));
    t.a.handle(enrollmentMessage(OpCode.M_STOP, 200, {}));
    await vi.advanceTimersByTimeAsync(0);
    expect(await Promise.race([t.outcome, Promise.resolve('pending')])).toBe('pending');
    expect(t.sent.filter((s) => s.msg.opCode === OpCode.M_START)).toHaveLength(1);
  });

  it("while starting, an M_CONNECT_R that carries the M_START's invoke id is no connect answer: the M_START stands", async () => {
    const t = attempt();
    t.a.handle(replyTo(t.last(OpCode.M_CONNECT)));
    const start = t.last(OpCode.M_START);
    t.a.handle({ ...replyTo(t.last(OpCode.M_CONNECT)), invokeId: start.invokeId });
    await vi.advanceTimersByTimeAsync(0);
    expect(t.sent.filter((s) => s.msg.opCode === OpCode.M_START)).toHaveLength(1);
    t.a.handle(enrollmentMessage(OpCode.M_START_R, start.invokeId ?? 0, { address: 42 }, 0));
    t.a.handle(enrollmentMessage(OpCode.M_STOP, 200, {}));
    expect((await t.outcome).result?.address).toBe(42);
  });

  it('RIB objects without an invoke id are kept apart from each other and from those numbered 0, 1, 2', async () => {
    const t = attempt();
    t.a.handle(replyTo(t.last(OpCode.M_CONNECT)));
    t.a.handle(enrollmentMessage(OpCode.M_START_R, t.last(OpCode.M_START).invokeId ?? 0, { address: 42 }, 0));
    const object = (name: string, invokeId?: number): CdapMessage => ({
      ...createRequest(invokeId ?? 0, { name, class: 'c', value: { intval: 1 } }),
      invokeId,
    });
    for (const msg of [object('/a'), object('/b', 1), object('/c'), object('/d', 0), object('/e'), object('/f', 2)]) t.a.handle(msg);
    t.a.handle(enrollmentMessage(OpCode.M_STOP, 200, { ribObjectCount: 6 }));
    const { result } = await t.outcome;
    expect(result?.objects.map((o) => o.name).sort()).toEqual(['/a', '/b', '/c', '/d', '/e', '/f']);
  });

  it('a duplicate START_R keeps the first answer', async () => {
    const t = attempt();
    t.a.handle(replyTo(t.last(OpCode.M_CONNECT)));
    const id = t.last(OpCode.M_START).invokeId ?? 0;
    t.a.handle(enrollmentMessage(OpCode.M_START_R, id, { address: 42 }, 0));
    t.a.handle(enrollmentMessage(OpCode.M_START_R, id, { address: 43 }, 0));
    t.a.handle(enrollmentMessage(OpCode.M_STOP, 200, {}));
    expect((await t.outcome).result?.address).toBe(42);
  });

  it('START_R "not connected": connects again within the attempt, with a new invoke id, and forgets the objects', async () => {
    const t = attempt();
    t.a.handle(replyTo(t.last(OpCode.M_CONNECT)));
    t.a.handle(createRequest(100, { name: '/stale', class: 'c', value: { intval: 1 } }));
    const start = t.last(OpCode.M_START);
    t.a.handle(enrollmentMessage(OpCode.M_START_R, start.invokeId ?? 0, new Uint8Array(), Result.NOT_CONNECTED));
    await vi.advanceTimersByTimeAsync(0);
    const again = t.last(OpCode.M_CONNECT);
    expect(again.invokeId).not.toBe(10);
    expect(t.sent.filter((s) => s.msg.opCode === OpCode.M_CONNECT)).toHaveLength(2);
    // retransmission starts again from retransmitMs
    const at = performance.now();
    await vi.advanceTimersByTimeAsync(100);
    expect(t.sent.filter((s) => s.msg.opCode === OpCode.M_CONNECT).at(-1)?.at).toBe(at + 100);
    answerAll(t, 0);
    const { result } = await t.outcome;
    expect(result?.objects).toEqual([]);
  });

  it.each([
    [Result.BUSY, true],
    [Result.UNAVAILABLE, false],
  ])('a refusal with result %i ends the attempt as a timeout with the answer as its cause (busy: %s)', async (result, busy) => {
    const t = attempt();
    t.a.handle(replyTo(t.last(OpCode.M_CONNECT), result, 'later'));
    const error = (await t.outcome).error as AttemptTimeout;
    expect(error).toBeInstanceOf(AttemptTimeout);
    expect(error.busy).toBe(busy);
    expect(error.cause).toMatchObject({ result, reason: 'later' });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('any other refusal is final, with the reason given or a default one', async () => {
    const t = attempt();
    t.a.handle(replyTo(t.last(OpCode.M_CONNECT), Result.NAME_IN_USE));
    const error = (await t.outcome).error as EnrollmentRejectedError;
    expect(error).toBeInstanceOf(EnrollmentRejectedError);
    expect(error).toMatchObject({ result: Result.NAME_IN_USE, reason: 'M_CONNECT refused' });
    const s = attempt();
    s.a.handle(replyTo(s.last(OpCode.M_CONNECT)));
    s.a.handle(enrollmentMessage(OpCode.M_START_R, s.last(OpCode.M_START).invokeId ?? 0, new Uint8Array(), Result.FAILED));
    expect((await s.outcome).error).toMatchObject({ result: Result.FAILED, reason: 'M_START refused' });
  });

  it('M_RELEASE from the enroller: answered, and the attempt fails at once as a timeout saying the enroller released it', async () => {
    const t = attempt();
    t.a.handle({ opCode: OpCode.M_RELEASE, invokeId: 55 });
    const error = (await t.outcome).error as AttemptTimeout;
    expect(error).toBeInstanceOf(AttemptTimeout);
    expect(error.cause).toMatchObject({ result: Result.FAILED, reason: 'the enroller released this enrollment (it is stopping)' });
    expect(t.last(OpCode.M_RELEASE_R)).toMatchObject({ invokeId: 55, result: 0 });
  });

  it('acknowledges requests it does not know (an M_STOP of another object, an rlite M_START), ignores stray replies', async () => {
    const t = attempt();
    t.a.handle({ opCode: OpCode.M_STOP, invokeId: 60, objClass: 'x', objName: '/x' });
    t.a.handle({ opCode: OpCode.M_START, invokeId: 61, objClass: 'operational_status', objName: '/o' });
    t.a.handle({ opCode: OpCode.M_READ_R, invokeId: 62 });
    await vi.advanceTimersByTimeAsync(0);
    expect(t.last(OpCode.M_STOP_R)).toMatchObject({ invokeId: 60, result: 0, objName: '/x' });
    expect(t.last(OpCode.M_START_R)).toMatchObject({ invokeId: 61, result: 0 });
    expect(t.ops()).not.toContain(OpCode.M_READ_R + 1);
  });

  it('refuses a malformed RIB object (no name, a name without "/", no class, no value) and keeps waiting', async () => {
    const t = attempt();
    const bad: CdapMessage[] = [
      { opCode: OpCode.M_CREATE, invokeId: 70, objClass: 'c', objValue: { intval: 1 } },
      { opCode: OpCode.M_CREATE, invokeId: 71, objName: 'o', objClass: 'c', objValue: { intval: 1 } },
      { opCode: OpCode.M_WRITE, invokeId: 72, objName: '/o', objValue: { intval: 1 } },
      { opCode: OpCode.M_CREATE, invokeId: 73, objName: '/o', objClass: 'c' },
    ];
    for (const msg of bad) t.a.handle(msg);
    await vi.advanceTimersByTimeAsync(0);
    const refusals = t.sent.filter((s) => s.msg.opCode === OpCode.M_CREATE_R || s.msg.opCode === OpCode.M_WRITE_R).map((s) => s.msg);
    expect(refusals.map((r) => [r.invokeId, r.result, r.resultReason])).toEqual([
      [70, Result.FAILED, 'invalid RIB object name (none): must be a path starting with "/"'],
      [71, Result.FAILED, 'invalid RIB object name "o": must be a path starting with "/"'],
      [72, Result.FAILED, 'a RIB object needs a class and a value'],
      [73, Result.FAILED, 'a RIB object needs a class and a value'],
    ]);
    answerAll(t, 0);
    expect((await t.outcome).result?.objects).toEqual([]);
  });

  // Found by an audit (2026-12-06): a flood of distinct objects from the enroller's address was kept until the timeout.
  it(`keeps at most ${MAX_SYNCED_OBJECTS} objects: more are refused, and an M_STOP announcing them ends in a timeout saying why`, async () => {
    const t = attempt();
    t.a.handle(replyTo(t.last(OpCode.M_CONNECT)));
    t.a.handle(enrollmentMessage(OpCode.M_START_R, t.last(OpCode.M_START).invokeId ?? 0, { address: 42 }, 0));
    const object = (id: number) => createRequest(id, { name: `/o/${id}`, class: 'c', value: { intval: id } });
    for (let id = 1; id <= MAX_SYNCED_OBJECTS + 1; id++) t.a.handle(object(id));
    t.a.handle(object(5)); // a retransmission of one kept: answered as before
    t.a.handle(enrollmentMessage(OpCode.M_STOP, 20_000, { ribObjectCount: MAX_SYNCED_OBJECTS + 1 }));
    await vi.advanceTimersByTimeAsync(0);
    const answers = t.sent.filter((s) => s.msg.opCode === OpCode.M_CREATE_R).map((s) => s.msg);
    expect(answers.filter((a) => a.result === Result.FAILED).map((a) => a.invokeId)).toEqual([MAX_SYNCED_OBJECTS + 1]);
    expect(answers.at(-1)).toMatchObject({ invokeId: 5, result: 0 });
    await vi.advanceTimersByTimeAsync(1000);
    const error = (await t.outcome).error as AttemptTimeout;
    expect(error).toBeInstanceOf(AttemptTimeout);
    expect((error.cause as Error).message).toBe(`the enroller synced more than ${MAX_SYNCED_OBJECTS} RIB objects`);
  });

  it('an M_STOP whose info does not decode is a problem noted for the timeout, not an end', async () => {
    const t = attempt();
    t.a.handle(replyTo(t.last(OpCode.M_CONNECT)));
    t.a.handle(enrollmentMessage(OpCode.M_START_R, t.last(OpCode.M_START).invokeId ?? 0, { address: 42 }, 0));
    t.a.handle(enrollmentMessage(OpCode.M_STOP, 200, Uint8Array.of(0xff, 0xff)));
    await vi.advanceTimersByTimeAsync(1000);
    const error = (await t.outcome).error as AttemptTimeout;
    expect(error.cause).toBeInstanceOf(ProtocolError);
  });

  it('a send the shim refuses ends the attempt at once with its error', async () => {
    const refused = new ShimError('closed');
    const t = attempt({}, async () => {
      throw refused;
    });
    expect((await t.outcome).error).toBe(refused);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('an abort ends it with EnrollmentAbortedError carrying the reason; a signal aborted before run() too', async () => {
    const t = attempt();
    t.controller.abort('bye');
    const error = (await t.outcome).error as EnrollmentAbortedError;
    expect(error).toBeInstanceOf(EnrollmentAbortedError);
    expect(error.cause).toBe('bye');
    expect(vi.getTimerCount()).toBe(0);
    // answers after the end change nothing, and requests after it get no answer from this attempt
    t.a.handle(replyTo(t.last(OpCode.M_CONNECT)));
    t.a.handle(createRequest(100, { name: '/o', class: 'c', value: { intval: 1 } }));
    t.a.handle({ opCode: OpCode.M_RELEASE, invokeId: 55 });
    await vi.advanceTimersByTimeAsync(0);
    expect(t.ops()).toEqual([OpCode.M_CONNECT]);

    const early = new EnrollmentAttempt(context({ config: resolveConfig(), send: async () => {} }));
    await expect(early.run(AbortSignal.abort('before'))).rejects.toMatchObject({ name: 'EnrollmentAbortedError', cause: 'before' });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('leaves no listener on the signal once it ends, completed or failed (one signal may serve many attempts)', async () => {
    const t = attempt();
    expect(getEventListeners(t.controller.signal, 'abort')).toHaveLength(1);
    answerAll(t);
    expect((await t.outcome).result?.address).toBe(42);
    expect(getEventListeners(t.controller.signal, 'abort')).toEqual([]);
    const f = attempt();
    f.a.handle(replyTo(f.last(OpCode.M_CONNECT), Result.NAME_IN_USE));
    expect((await f.outcome).error).toBeInstanceOf(EnrollmentRejectedError);
    expect(getEventListeners(f.controller.signal, 'abort')).toEqual([]);
  });

  it("with hmac-sha256, a CONNECT_R without the enroller's proof is refused as AUTH_FAILED, saying the keys differ", async () => {
    vi.useFakeTimers();
    const a = new EnrollmentAttempt({
      ...context({ config: resolveConfig({ timeoutMs: 1000 }), send: async () => {} }),
      difName: 'd.DIF',
      auth: { mechanism: 'hmac-sha256', key: 'k'.repeat(32) },
    });
    const outcome = a.run(new AbortController().signal).catch((error: unknown) => error);
    a.handle(replyTo(connectRequest(10, 'm', 'd.DIF')));
    expect(await outcome).toMatchObject({
      result: Result.AUTH_FAILED,
      reason: "this member refused the enroller's proof: the enroller does not hold this member's key (the keys differ on the two sides)",
    });
  });

  it('AttemptTimeout names the bootstrap that gave no complete answer', () => {
    const timeout = new AttemptTimeout('b');
    expect(timeout.name).toBe('AttemptTimeout');
    expect(timeout.message).toBe('no complete answer from "b" within the attempt\'s time');
  });
});
