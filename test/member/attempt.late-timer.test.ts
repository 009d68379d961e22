/**
 * A member whose process is busy when its retransmission timer falls due
 * reads the answers that queued meanwhile before it sends its request again:
 * an answer already in its socket is no loss. (At 10,000 members in one
 * process, the timers of thousands fired before their M_CONNECT_Rs were read,
 * and the enroller received 5,000-9,000 copies of M_CONNECT for nothing.)
 */
import { afterEach, expect, it } from 'vitest';
import { decodeCdapMessage } from '../../src/cdap/codec.js';
import { EnrollmentManager, MemoryRib, OpCode, type Shim, UdpShim } from '../../src/index.js';
import { cleanup, onCleanup, udpEnroller } from '../support/helpers.js';

afterEach(cleanup);

/** Blocks the event loop for `ms`, as a process busy with other work does. */
function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // busy
  }
}

it('a retransmission timer that fires late waits for the answer already queued: one M_CONNECT, and the member enrols', async () => {
  const inner = await UdpShim.bind('127.0.0.1:0');
  onCleanup(() => inner.close());
  const connects: number[] = [];
  let blocked = false;
  const shim: Shim = {
    localAddress: inner.localAddress,
    send: async (to, pdu) => {
      await inner.send(to, pdu);
      if (!blocked && decodeCdapMessage(pdu).opCode === OpCode.M_CONNECT_R) {
        blocked = true;
        busy(300); // the M_CONNECT_R waits in the member's socket, and its 100 ms timer falls due meanwhile
      }
    },
    onReceive: (handler) =>
      inner.onReceive((pdu, from) => {
        if (pdu[0] !== 0 && decodeCdapMessage(pdu).opCode === OpCode.M_CONNECT) connects.push(performance.now());
        handler(pdu, from);
      }),
    close: () => inner.close(),
  };
  await udpEnroller({ shim, retransmitMs: 250 }); // (its own shim, unused, is closed at the end)
  const memberShim = await UdpShim.bind('127.0.0.1:0');
  onCleanup(() => memberShim.close());
  const manager = new EnrollmentManager({
    shim: memberShim,
    rib: new MemoryRib(),
    ipcpName: 'm',
    difName: 'demo.DIF',
    config: { retransmitMs: 100, timeoutMs: 2000 },
  });
  onCleanup(() => manager.close());
  expect(await manager.enrolWithBootstrap(inner.localAddress)).toBe('demo.DIF');
  expect(manager.address).toBe(1002);
  expect(blocked).toBe(true);
  expect(connects).toHaveLength(1);
});
