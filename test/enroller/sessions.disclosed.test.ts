import { afterEach, expect, it, vi } from 'vitest';
import { decodeCdapMessage, MemoryNetwork, OpCode, type Shim } from '../../src/index.js';
import { cleanup, member, withEnroller } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

/** `inner`, except that every M_STOP_R it would send is lost while `losing`. */
function losingStopReplies(inner: Shim): Shim & { lost: number; losing: boolean } {
  const shim = {
    lost: 0,
    losing: true,
    localAddress: inner.localAddress,
    send: (to: string, pdu: Uint8Array) => {
      if (!shim.losing || decodeCdapMessage(pdu).opCode !== OpCode.M_STOP_R) return inner.send(to, pdu);
      shim.lost++;
      return Promise.resolve();
    },
    onReceive: (handler: Parameters<Shim['onReceive']>[0]) => inner.onReceive(handler),
    close: () => inner.close(),
  };
  return shim;
}

// Found by the 100,000-member scale run (two enrolled members held one
// address): an enroller that never heard a member's M_STOP_R gave the
// address it had bound for it back to the pool at once, although its M_STOP
// had told the member the address and the member, answering it, was enrolled
// with it. The next member was given the same address.
it('an enrollment whose M_STOP went out but whose M_STOP_R never came keeps its address held: nobody else gets it, and its member gets it back', async () => {
  vi.useFakeTimers();
  const net = new MemoryNetwork({ seed: 21 });
  const { enroller } = await withEnroller({ addressPool: { first: 1002, last: 1002 }, pendingTimeoutMs: 1000, holdMs: 60_000 }, net);
  const shimA = losingStopReplies(net.attach('a-shim'));
  const { mgr: a } = member(net, 'unused-a', {}, { shim: shimA, ipcpName: 'a' });
  const enrolledA = a.enrolWithBootstrap('bootstrap');
  await vi.advanceTimersByTimeAsync(50);
  await enrolledA;
  expect(a.address).toBe(1002); // a answered M_STOP: it is enrolled with 1002
  expect(shimA.lost).toBeGreaterThan(0);

  await vi.advanceTimersByTimeAsync(1500); // the enroller never heard its M_STOP_R: the enrollment is abandoned
  expect(enroller.pendingEnrollments).toBe(0);
  expect(enroller.members()).toEqual([]);
  expect(a.state).toMatchObject({ type: 'enrolled', address: 1002 });

  // Another member asks: the only address is a's, and stays a's.
  const { mgr: b } = member(net, 'b', { maxRetries: 1, timeoutMs: 200, initialBackoffMs: 50 });
  const outcomeB = b.enrolWithBootstrap('bootstrap').then(
    () => b.address,
    (err: Error) => err.name,
  );
  await vi.advanceTimersByTimeAsync(2000);
  expect(await outcomeB).not.toBe(1002);
  expect(a.state).toMatchObject({ type: 'enrolled', address: 1002 });

  // a's next keepalive is refused (the enroller does not list it); it enrols again, and its address is still its own.
  shimA.losing = false;
  const changes: unknown[] = [];
  a.on('address:change', (e) => changes.push(e));
  await vi.advanceTimersByTimeAsync(40_000);
  expect(a.state.type).toBe('idle'); // (not monitoring: it waits to be asked)
  const again = a.reEnroll();
  await vi.advanceTimersByTimeAsync(100);
  await again;
  expect(enroller.members()).toEqual([expect.objectContaining({ name: 'a', address: 1002, shimAddress: 'a-shim' })]);
  expect(a.address).toBe(1002);
  expect(changes).toEqual([]);
});
