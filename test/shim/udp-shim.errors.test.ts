/** "Socket errors never crash the process": an error the socket emits while an enroller serves on it. */
import type { Socket } from 'node:dgram';
import { afterEach, expect, it, vi } from 'vitest';
import { EnrollmentManager, MemoryRib, UdpShim } from '../../src/index.js';
import { cleanup, udpEnroller } from '../support/helpers.js';

/** Every socket the shims make, so that the test can make one fail (UdpShim.bind fetches node:dgram at each call). */
const sockets: Socket[] = [];
const dgram = process.getBuiltinModule('node:dgram');
const createSocket = dgram.createSocket;
vi.spyOn(dgram, 'createSocket').mockImplementation(((...args: Parameters<typeof createSocket>) => {
  const socket = createSocket(...args);
  sockets.push(socket);
  return socket;
}) as typeof createSocket);

const undo: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (undo.length > 0) await undo.pop()?.();
  await cleanup();
  sockets.length = 0;
});

it('an error on the enroller socket is recorded, crashes nothing, and the enroller still admits members', async () => {
  const { shim } = await udpEnroller({ addressPool: { first: 5, last: 5 } });
  const socket = sockets[0] as Socket;
  const failure = Object.assign(new Error('recvmsg ENOBUFS'), { code: 'ENOBUFS' });
  // Without a listener, an 'error' event throws (and would crash the process): emit() returns true when one took it.
  expect(socket.emit('error', failure)).toBe(true);
  expect(shim.lastError).toBe(failure);
  const memberShim = await UdpShim.bind('127.0.0.1:0');
  const mgr = new EnrollmentManager({ shim: memberShim, rib: new MemoryRib(), ipcpName: 'm', difName: 'demo.DIF' });
  undo.push(
    () => memberShim.close(),
    () => mgr.close(),
  );
  // and the member's own socket fails too, before it enrols
  expect((sockets.at(-1) as Socket).emit('error', new Error('EPERM'))).toBe(true);
  await expect(mgr.enrolWithBootstrap(shim.localAddress)).resolves.toBe('demo.DIF');
  expect(mgr.address).toBe(5);
});
