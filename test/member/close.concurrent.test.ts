/**
 * close() called twice at once. Found by an audit (2026-12-06): the second resolved at once, before the first one's
 * M_RELEASE was sent, so a caller closing the shim after it could cut that M_RELEASE off.
 */
import { afterEach, expect, it } from 'vitest';
import { decodeCdapMessage, EnrollmentManager, MemoryNetwork, MemoryRib, OpCode, type Shim } from '../../src/index.js';
import { cleanup, withEnroller } from '../support/helpers.js';

afterEach(cleanup);

it('every close() resolves once the M_RELEASE is sent, the second one too', async () => {
  const { net } = await withEnroller({}, new MemoryNetwork({ seed: 2 }));
  const real = net.attach('m');
  const sent: number[] = [];
  // A shim that takes 30 ms to hand each datagram over.
  const shim: Shim = {
    localAddress: real.localAddress,
    send: async (to, pdu) => {
      await new Promise((r) => setTimeout(r, 30));
      await real.send(to, pdu);
      sent.push(decodeCdapMessage(pdu).opCode);
    },
    onReceive: (h) => real.onReceive(h),
    close: () => real.close(),
  };
  const mgr = new EnrollmentManager({ shim, rib: new MemoryRib(), ipcpName: 'm', config: { heartbeatIntervalSecs: 0 } });
  await mgr.enrolWithBootstrap('bootstrap');
  const first = mgr.close();
  await mgr.close(); // before: resolved at once
  expect(sent).toContain(OpCode.M_RELEASE);
  await first;
});
