import { afterEach, expect, it, vi } from 'vitest';
import { type CdapMessage, MemoryNetwork, OpCode } from '../../src/index.js';
import { cleanup, member, RawPeer, withEnroller } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});
const fast = { heartbeatIntervalSecs: 0.25, connectionTimeoutSecs: 1, timeoutMs: 500, retransmitMs: 100, maxRetransmitMs: 200 };

it('an M_RELEASE from the bootstrap while monitoring: the monitor brings the member back once an enroller is there', async () => {
  vi.useFakeTimers();
  const net = new MemoryNetwork({ seed: 8 });
  const { enroller } = await withEnroller({}, net);
  const { mgr } = member(net, 'm', fast);
  await mgr.enrolWithBootstrap('bootstrap');
  mgr.startConnectionMonitoring();
  net.detach('bootstrap'); // gone without a word (a crash), not a graceful stop
  await enroller.stop();
  const peer = new RawPeer(net.attach('bootstrap')); // a bootstrap (e.g. an rlite one) that releases the member
  await peer.send('m', { opCode: OpCode.M_RELEASE, invokeId: 7 } as CdapMessage);
  await vi.advanceTimersByTimeAsync(0);
  await peer.shim.close();
  await withEnroller({}, net); // a working enroller is back at the same address
  await vi.advanceTimersByTimeAsync(60_000);
  expect(mgr.state.type).toBe('enrolled');
});
