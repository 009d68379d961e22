import { afterEach, expect, it, vi } from 'vitest';
import { decodeCdapMessage, EnrollmentManager, MemoryNetwork, MemoryRib, OpCode, type Shim } from '../../src/index.js';
import { cleanup, onCleanup, withEnroller } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

/** The member's shim loses its first `n` M_STOP_R datagrams (an ordinary lossy link). */
function losingStopR(shim: Shim, n: number): Shim {
  let left = n;
  return {
    localAddress: shim.localAddress,
    onReceive: (h) => shim.onReceive(h),
    close: () => shim.close(),
    send: async (to, pdu) => {
      if (decodeCdapMessage(pdu).opCode === OpCode.M_STOP_R && left > 0) {
        left--;
        return;
      }
      return shim.send(to, pdu);
    },
  };
}

it('lost M_STOP_R datagrams do not make the next keepalive "refused": no spurious outage right after enrolling', async () => {
  vi.useFakeTimers();
  const net = new MemoryNetwork({ seed: 5 });
  await withEnroller({}, net); // enroller retransmits M_STOP after 250 ms, 500 ms, 1 s, ...
  const mgr = new EnrollmentManager({
    shim: losingStopR(net.attach('m'), 2),
    rib: new MemoryRib(),
    ipcpName: 'm',
    config: { heartbeatIntervalSecs: 0.5, connectionTimeoutSecs: 2 },
  });
  onCleanup(() => mgr.close());
  const lost: string[] = [];
  mgr.on('connection:lost', ({ reason }) => lost.push(reason));
  await mgr.enrolWithBootstrap('bootstrap');
  mgr.startConnectionMonitoring();
  await vi.advanceTimersByTimeAsync(5000);
  expect(lost).toEqual([]);
});
