import { afterEach, expect, it, vi } from 'vitest';
import { MemoryNetwork, type OpCode } from '../../src/index.js';
import { cleanup, connectMsg, member, RawPeer, withEnroller } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

// Found by the convergence model (seed 99): a member crashed halfway through an
// enrollment; its restarted process, from a new shim address, was refused
// "enrolled from another shim address" (-3) until the dead half-enrollment
// timed out (pendingTimeoutMs, 30 s by default).
it('a member that crashed halfway through an enrollment does not keep its name from its restarted process', async () => {
  vi.useFakeTimers();
  const net = new MemoryNetwork({ seed: 12 });
  const { enroller } = await withEnroller({}, net);
  const old = new RawPeer(net.attach('m-old'));
  await old.send('bootstrap', connectMsg(1, 'm'));
  await vi.advanceTimersByTimeAsync(1);
  expect(enroller.pendingEnrollments).toBe(1);
  net.detach('m-old'); // the process dies: it never answers again

  const { mgr } = member(net, 'm-new', { timeoutMs: 500, maxRetries: 5, initialBackoffMs: 200 }, { ipcpName: 'm' });
  const result = mgr.enrolWithBootstrap('bootstrap').then(
    () => 'enrolled',
    (err: Error) => `${err.name}: ${err.message}`,
  );
  // the enroller asks the old shim address whether it is alive (1 s), answering "busy" meanwhile
  await vi.advanceTimersByTimeAsync(5000);
  expect(await result).toBe('enrolled');
  expect(enroller.members()).toEqual([expect.objectContaining({ name: 'm', shimAddress: 'm-new' })]);
  expect(enroller.pendingEnrollments).toBe(0);
});

it('a live member halfway through its enrollment keeps its name: a second process with that name is refused', async () => {
  vi.useFakeTimers();
  const net = new MemoryNetwork({ seed: 13 });
  await withEnroller({}, net);
  const first = new RawPeer(net.attach('m-first'));
  // A live IPCP mid-enrollment answers the enroller's M_READ (as our attempt does).
  first.shim.onReceive(() => undefined);
  await first.send('bootstrap', connectMsg(1, 'm'));
  await vi.advanceTimersByTimeAsync(1);
  const answering = setInterval(() => {
    for (const r of first.received.splice(0)) {
      if (r.msg.opCode % 2 === 0 && r.msg.invokeId)
        void first.send('bootstrap', { opCode: (r.msg.opCode + 1) as OpCode, invokeId: r.msg.invokeId, result: 0 });
    }
  }, 10);
  try {
    const { mgr } = member(net, 'm-second', { timeoutMs: 500, maxRetries: 5, initialBackoffMs: 200 }, { ipcpName: 'm' });
    const result = mgr.enrolWithBootstrap('bootstrap').then(
      () => 'enrolled',
      (err: Error & { result?: number }) => err.result,
    );
    await vi.advanceTimersByTimeAsync(5000);
    expect(await result).toBe(-3);
  } finally {
    clearInterval(answering);
  }
});
