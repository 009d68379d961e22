/**
 * A shim whose send throws instead of rejecting (a hand-written mock, say):
 * each of the enroller's answers is then a lost datagram; nothing throws
 * out of its receive handler, and it serves as soon as the shim sends again.
 */
import { afterEach, expect, it, vi } from 'vitest';
import { decodeCdapMessage, MemoryNetwork, OpCode } from '../../src/index.js';
import { cleanup, failingShim, member, newEnroller } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

it('an enroller whose shim throws on send: no handler error, no unhandled rejection, no member, and it serves once the shim sends again', async () => {
  vi.useFakeTimers();
  const net = new MemoryNetwork({ seed: 3 });
  let broken = true;
  // Broken after the handshake: M_CONNECT_R goes out, what answers M_START (and its failure reply) throws.
  const { shim, refused } = failingShim(
    net.attach('bootstrap'),
    'throws',
    (pdu) => broken && decodeCdapMessage(pdu).opCode !== OpCode.M_CONNECT_R,
  );
  const { enroller } = newEnroller({ shim, ipcpName: 'bootstrap' }, net, 'unused');
  await enroller.start();
  const { mgr } = member(net, 'm', { timeoutMs: 400, retransmitMs: 100, maxRetransmitMs: 100, maxRetries: 1 });
  const first = mgr.enrolWithBootstrap('bootstrap').catch((err: Error) => err);
  await vi.advanceTimersByTimeAsync(3000);
  expect(await first).toBeInstanceOf(Error);
  expect(refused()).toBeGreaterThanOrEqual(1);
  expect(net.stats().handlerErrors).toBe(0);
  expect(enroller.members()).toEqual([]);
  broken = false;
  const second = mgr.enrolWithBootstrap('bootstrap');
  await vi.advanceTimersByTimeAsync(500);
  await expect(second).resolves.toBe('demo.DIF');
  expect(enroller.members().map((m) => m.name)).toEqual(['m']);
});
