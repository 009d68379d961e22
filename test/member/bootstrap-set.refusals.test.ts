import { afterEach, expect, it, vi } from 'vitest';
import { decodeCdapMessage, MemoryNetwork, OpCode } from '../../src/index.js';
import { Result, replyTo } from '../../src/cdap/messages.js';
import { cleanup, member, RawPeer, withEnroller } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});
const fast = { heartbeatIntervalSecs: 0.25, connectionTimeoutSecs: 1, timeoutMs: 500, retransmitMs: 100, maxRetransmitMs: 200 };

it('a bootstrap that refuses every M_CONNECT at once is retried with backoff: fewer than 60 attempts a minute', async () => {
  vi.useFakeTimers();
  const net = new MemoryNetwork({ seed: 8 });
  const { enroller } = await withEnroller({}, net);
  const { mgr } = member(net, 'm', fast);
  await mgr.enrolWithBootstrap('bootstrap');
  mgr.startConnectionMonitoring();
  net.detach('bootstrap'); // gone without a word (a crash), not a graceful stop
  await enroller.stop();
  const refuser = new RawPeer(net.attach('bootstrap'));
  refuser.shim.onReceive((pdu, from) => {
    const msg = decodeCdapMessage(pdu);
    if (msg.opCode === OpCode.M_CONNECT || msg.opCode === OpCode.M_READ) void refuser.send(from, replyTo(msg, Result.FAILED, 'no'));
  });
  let attempts = 0;
  mgr.on('reenroll:attempt', () => attempts++);
  await vi.advanceTimersByTimeAsync(60_000);
  expect(attempts).toBeLessThan(60);
  expect(attempts).toBeGreaterThan(3); // spaced, not stopped
  expect(mgr.state.type).toBe('reenrolling');
});
