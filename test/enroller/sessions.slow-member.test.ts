import { afterEach, expect, it, vi } from 'vitest';
import { KEEPALIVE_OBJECT, MemoryNetwork, OpCode } from '../../src/index.js';
import { MAX_PENDING_SPANS } from '../../src/enroller/sessions.js';
import { cleanup, connectMsg, RawPeer, startMsg, stopReply, withEnroller } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

const PENDING_MS = 30_000;

// Found by the scale run (40,000 members, keepalive 30 s): on an overloaded
// machine a member host read its M_CONNECT_R and sent M_START some 23 s after
// its M_CONNECT, and its M_STOP_R came 15 s after the burst. The enroller
// forgot the enrollment 30 s after M_CONNECT, while the member was completing
// it, and answered the M_STOP_R with M_RELEASE: thousands of members
// released, each enrolling once more into the same overload.
it('a slow member that keeps answering completes its enrollment, however long since its M_CONNECT', async () => {
  vi.useFakeTimers();
  const net = new MemoryNetwork({ seed: 5 });
  const { enroller } = await withEnroller({ pendingTimeoutMs: PENDING_MS }, net);
  const peer = new RawPeer(net.attach('slow-shim'));
  await peer.send('bootstrap', connectMsg(1, 'slow'));
  await vi.advanceTimersByTimeAsync(25_000);
  expect(peer.ofType(OpCode.M_CONNECT_R)).toHaveLength(1);
  await peer.send('bootstrap', startMsg(2));
  await vi.advanceTimersByTimeAsync(25_000); // 50 s since M_CONNECT, 25 s since M_START
  expect(peer.ofType(OpCode.M_STOP).length).toBeGreaterThan(1); // M_STOP went on being repeated
  expect(enroller.pendingEnrollments).toBe(1);
  await peer.send('bootstrap', stopReply(peer));
  await vi.advanceTimersByTimeAsync(100);
  expect(peer.ofType(OpCode.M_RELEASE)).toEqual([]);
  expect(enroller.members()).toEqual([expect.objectContaining({ name: 'slow', shimAddress: 'slow-shim' })]);
  expect(enroller.pendingEnrollments).toBe(0);
});

it('an enrollment whose member has been silent for the pending timeout is still forgotten; its late M_STOP_R is answered M_RELEASE', async () => {
  vi.useFakeTimers();
  const net = new MemoryNetwork({ seed: 6 });
  const { enroller } = await withEnroller({ pendingTimeoutMs: PENDING_MS }, net);
  const peer = new RawPeer(net.attach('gone-shim'));
  await peer.send('bootstrap', connectMsg(1, 'gone'));
  await vi.advanceTimersByTimeAsync(20_000);
  await peer.send('bootstrap', startMsg(2));
  await vi.advanceTimersByTimeAsync(PENDING_MS - 1000); // silent since M_START: kept
  expect(enroller.pendingEnrollments).toBe(1);
  await vi.advanceTimersByTimeAsync(2000); // silent for longer than the timeout: forgotten
  expect(enroller.pendingEnrollments).toBe(0);
  await peer.send('bootstrap', stopReply(peer));
  await vi.advanceTimersByTimeAsync(100);
  expect(peer.ofType(OpCode.M_RELEASE)).toHaveLength(1);
  expect(enroller.members()).toEqual([]);
});

// Found by a review: with silence alone, a peer that reached M_STOP and then sent anything every 29 s (a refused
// M_READ will do) kept its enrollment, its slot and its address for ever, and was sent M_STOP every 2 s.
it('an enrollment that never completes is forgotten MAX_PENDING_SPANS pending timeouts after M_CONNECT, whatever its member sends', async () => {
  vi.useFakeTimers();
  const net = new MemoryNetwork({ seed: 7 });
  const { enroller } = await withEnroller({ pendingTimeoutMs: PENDING_MS }, net);
  const peer = new RawPeer(net.attach('squat-shim'));
  await peer.send('bootstrap', connectMsg(1, 'squatter'));
  await vi.advanceTimersByTimeAsync(10);
  await peer.send('bootstrap', startMsg(2));
  await vi.advanceTimersByTimeAsync(10);
  expect([peer.ofType(OpCode.M_STOP).length, enroller.stats().bound]).toEqual([1, 1]);
  for (let i = 0; i < 30; i++) {
    await vi.advanceTimersByTimeAsync(20_000);
    await peer.send('bootstrap', { opCode: OpCode.M_READ, invokeId: 100 + i, objClass: 'whatever', objName: '/x' });
    if (i === 4) expect(enroller.pendingEnrollments).toBe(1); // 100 s: still within the bound, since it speaks
  }
  await vi.advanceTimersByTimeAsync(10);
  expect(enroller.pendingEnrollments).toBe(0);
  expect(peer.ofType(OpCode.M_STOP).length).toBeLessThan(((MAX_PENDING_SPANS * PENDING_MS) / 2000) * 1.5);
});

// Found by a review: without authentication every PDU from the address refreshed an enrollment in progress there,
// so an enrolled member's keepalives kept a late duplicate of its M_CONNECT, which goes no further, for 4 timeouts.
it("a late M_CONNECT of an enrolled member is forgotten after the pending timeout, the member's keepalives notwithstanding", async () => {
  vi.useFakeTimers();
  const net = new MemoryNetwork({ seed: 8 });
  const { enroller } = await withEnroller({ pendingTimeoutMs: 1000 }, net);
  const peer = new RawPeer(net.attach('m-shim'));
  await peer.send('bootstrap', connectMsg(1, 'm'));
  await vi.advanceTimersByTimeAsync(10);
  await peer.send('bootstrap', startMsg(2));
  await vi.advanceTimersByTimeAsync(10);
  await peer.send('bootstrap', stopReply(peer));
  await vi.advanceTimersByTimeAsync(10);
  expect(enroller.members()).toHaveLength(1);
  await peer.send('bootstrap', connectMsg(1, 'm')); // a late duplicate
  await vi.advanceTimersByTimeAsync(10);
  expect(enroller.pendingEnrollments).toBe(1);
  for (let i = 0; i < 5; i++) {
    await vi.advanceTimersByTimeAsync(500);
    await peer.send('bootstrap', { opCode: OpCode.M_READ, invokeId: 50 + i, ...KEEPALIVE_OBJECT });
  }
  await vi.advanceTimersByTimeAsync(100);
  expect(enroller.pendingEnrollments).toBe(0);
  expect(peer.ofType(OpCode.M_READ_R).filter((r) => (r.result ?? 0) === 0)).toHaveLength(5); // the member, still served
});
