/**
 * With `hmac-sha256`, what the manager lets through, answers and drops,
 * against an enroller written by hand (test/support/hmac-enroller.ts) that
 * answers M_CONNECT and then sends what a real enroller never would.
 */
import { afterEach, expect, it, vi } from 'vitest';
import { enrollmentMessage, keepaliveRequest, Result, replyTo } from '../../src/cdap/messages.js';
import { OpCode } from '../../src/index.js';
import { HmacEnroller, malformedRead } from '../support/hmac-enroller.js';
import { cleanup, heldRib, member, settle } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

const auth = { mechanism: 'hmac-sha256', key: 'correct horse battery staple' } as const;

/** A member "m" whose attempt with the hand-made enroller is connected (M_CONNECT_R accepted) and waits for M_START_R. */
async function connected(config = {}) {
  const enroller = HmacEnroller.on(auth.key);
  const { mgr } = member(enroller.net, 'm', { timeoutMs: 60_000, ...config }, { auth, difName: 'demo.DIF' });
  const outcome = mgr.enrolWithBootstrap('bootstrap').catch((err: Error) => err);
  for (let i = 0; i < 50 && enroller.starts.length === 0; i++) await settle();
  expect(enroller.starts).toHaveLength(1); // M_START came sealed: the attempt holds the channel
  return { enroller, mgr, outcome };
}

/** A member "m" admitted by the hand-made enroller, whose RIB holds the first write until `release()`: its result is being stored. */
async function storing() {
  const enroller = HmacEnroller.on(auth.key);
  const { rib, release } = heldRib();
  const { mgr } = member(enroller.net, 'm', { timeoutMs: 60_000 }, { auth, difName: 'demo.DIF', rib });
  const outcome = mgr.enrolWithBootstrap('bootstrap');
  for (let i = 0; i < 50 && enroller.starts.length === 0; i++) await settle();
  await enroller.admit(1234);
  await settle();
  expect(mgr.state.type).toBe('enrolling'); // storing
  return { enroller, mgr, outcome, release };
}

it('during an attempt, a malformed request sealed by its channel gets a sealed failure; the same unsealed gets nothing', async () => {
  const { enroller, mgr } = await connected();
  await enroller.sendSealed(malformedRead(31));
  await enroller.sendUnsealed(malformedRead(32));
  await settle();
  expect(enroller.opened.filter((m) => m.opCode === OpCode.M_READ_R)).toMatchObject([{ invokeId: 31, result: Result.FAILED }]);
  expect(enroller.unsealed.filter((m) => m.opCode === OpCode.M_READ_R)).toEqual([]);
  expect(mgr.metrics().dropped).toEqual({ unauthenticated: 0, replayed: 0 });
});

it('during an attempt, an unsealed PDU from another known enroller is dropped and counted, not let through as a handshake answer', async () => {
  const { enroller, mgr } = await connected({ bootstraps: ['other'] });
  const other = enroller.peer('other');
  await other.sendRaw('m', malformedRead(33));
  await settle();
  expect(mgr.metrics().dropped.unauthenticated).toBe(1);
});

it('close() during an attempt sends M_RELEASE through the attempt’s channel: the enroller may have bound an address for it', async () => {
  const { enroller, mgr, outcome } = await connected();
  await mgr.close();
  await settle();
  expect(enroller.opened.filter((m) => m.opCode === OpCode.M_RELEASE)).toHaveLength(1);
  expect(await outcome).toMatchObject({ name: 'EnrollmentAbortedError' });
});

it('enrolled: an unsealed M_CONNECT_R from its enroller is dropped and counted, and is no heartbeat', async () => {
  vi.useFakeTimers();
  const { enroller, mgr } = await connected({ heartbeatIntervalSecs: 0 });
  await enroller.admit(1234);
  await vi.advanceTimersByTimeAsync(10);
  expect(mgr.state).toMatchObject({ type: 'enrolled', address: 1234 });
  const heartbeat = mgr.lastHeartbeat;
  await vi.advanceTimersByTimeAsync(1000);
  await enroller.sendUnsealed({
    opCode: OpCode.M_CONNECT_R,
    absSyntax: 73,
    version: 1n,
    invokeId: 1,
    result: 0,
    srcApName: 'bootstrap',
    destApName: 'm',
  });
  await enroller.sendUnsealed(keepaliveRequest(34));
  await vi.advanceTimersByTimeAsync(10);
  expect(mgr.lastHeartbeat).toBe(heartbeat);
  expect(mgr.metrics().dropped.unauthenticated).toBe(2);
  expect(enroller.opened.filter((m) => m.opCode === OpCode.M_READ_R)).toEqual([]);
});

it('a sealed PDU sent twice is answered once; the copy is dropped and counted as replayed', async () => {
  const { enroller, mgr } = await connected();
  const sealed = enroller.seal(keepaliveRequest(35));
  await enroller.sendUnsealed(sealed);
  await enroller.sendUnsealed(sealed);
  await settle();
  expect(enroller.opened.filter((m) => m.opCode === OpCode.M_READ_R)).toMatchObject([{ invokeId: 35, result: Result.OK }]);
  expect(mgr.metrics().dropped).toEqual({ unauthenticated: 0, replayed: 1 });
});

it('while the result is being stored (a slow RIB), a keepalive sealed by the enrollment’s channel is answered through it', async () => {
  const { enroller, outcome, release } = await storing();
  await enroller.sendSealed(keepaliveRequest(36));
  await settle();
  expect(enroller.opened.filter((m) => m.opCode === OpCode.M_READ_R)).toMatchObject([{ invokeId: 36, result: Result.OK }]);
  release();
  await expect(outcome).resolves.toBe('demo.DIF');
});

it('an unsealed M_START_R "not connected" gets through (the enroller lost the session) and the attempt connects again; an unsealed refusal does not', async () => {
  const { enroller, mgr } = await connected();
  const start = enroller.starts[0] as { invokeId: number };
  const connects = () => enroller.unsealed.filter((m) => m.opCode === OpCode.M_CONNECT).length;
  expect(connects()).toBe(1);
  await enroller.sendUnsealed(enrollmentMessage(OpCode.M_START_R, start.invokeId, {}, Result.FAILED));
  await settle();
  expect(mgr.metrics().dropped.unauthenticated).toBe(1);
  await enroller.sendUnsealed(enrollmentMessage(OpCode.M_START_R, start.invokeId, {}, Result.NOT_CONNECTED));
  await settle();
  expect(connects()).toBe(2);
  expect(mgr.metrics().dropped.unauthenticated).toBe(1);
});

it('enrolled: its keepalives go sealed by the enrollment’s channel', async () => {
  vi.useFakeTimers();
  const { enroller, mgr } = await connected({ heartbeatIntervalSecs: 1 });
  await enroller.admit(1234);
  await vi.advanceTimersByTimeAsync(10);
  expect(mgr.state).toMatchObject({ type: 'enrolled', address: 1234 });
  mgr.startConnectionMonitoring();
  await vi.advanceTimersByTimeAsync(2100);
  expect(enroller.opened.filter((m) => m.opCode === OpCode.M_READ).length).toBeGreaterThanOrEqual(1);
  expect(enroller.unsealed.map((m) => m.opCode)).toEqual([OpCode.M_CONNECT]);
});

it('while the result is being stored, a PDU sealed by the enrollment’s channel but sent from another address is dropped and counted', async () => {
  const { enroller, mgr, outcome, release } = await storing();
  const elsewhere = enroller.net.attach('elsewhere');
  let answers = 0;
  elsewhere.onReceive(() => answers++);
  await elsewhere.send('m', enroller.seal(keepaliveRequest(37)));
  await settle();
  expect(answers).toBe(0);
  expect(mgr.metrics().dropped).toEqual({ unauthenticated: 1, replayed: 0 });
  release();
  await expect(outcome).resolves.toBe('demo.DIF');
});

it('a PDU whose tag does not match is counted as unauthenticated, not as replayed', async () => {
  const { enroller, mgr } = await connected();
  const forged = enroller.seal(keepaliveRequest(38));
  forged[forged.length - 1] = (forged[forged.length - 1] ?? 0) ^ 1;
  await enroller.sendUnsealed(forged);
  await settle();
  expect(enroller.opened.filter((m) => m.opCode === OpCode.M_READ_R)).toEqual([]);
  expect(mgr.metrics().dropped).toEqual({ unauthenticated: 1, replayed: 0 });
});

it('during an attempt, an unsealed answer "not connected" that is not an M_START_R is dropped and counted', async () => {
  const { enroller, mgr } = await connected();
  await enroller.sendUnsealed(replyTo(keepaliveRequest(39), Result.NOT_CONNECTED));
  await settle();
  expect(mgr.metrics().dropped.unauthenticated).toBe(1);
  expect(enroller.unsealed.filter((m) => m.opCode === OpCode.M_CONNECT)).toHaveLength(1);
});
