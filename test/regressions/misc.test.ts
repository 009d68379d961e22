import { afterEach, expect, it, vi } from 'vitest';
import { type CdapMessage, decodeCdapMessage, MemoryNetwork, OpCode } from '../../src/index.js';
import { Result, replyTo } from '../../src/cdap/messages.js';
import { cleanup, member, RawPeer, withEnroller } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});
const fast = { heartbeatIntervalSecs: 0.25, connectionTimeoutSecs: 1, timeoutMs: 500, retransmitMs: 100, maxRetransmitMs: 200 };

it('a user reEnroll() that fails while monitoring: recovery follows, reenroll:success fires, but no connection:lost and no outage', async () => {
  vi.useFakeTimers();
  const { net } = await withEnroller();
  const { mgr } = member(net, 'm', { ...fast, heartbeatIntervalSecs: 2, connectionTimeoutSecs: 6, initialBackoffMs: 100 });
  await mgr.enrolWithBootstrap('bootstrap');
  mgr.startConnectionMonitoring();
  const ev: string[] = [];
  for (const n of ['connection:lost', 'reenroll:success', 'reenroll:failure'] as const) mgr.on(n, () => ev.push(n));
  mgr.on('state:change', (s) => ev.push(s.type));
  net.partition('m', 'bootstrap');
  const pr = mgr.reEnroll().then(
    () => 'ok',
    (e) => e.name,
  );
  await vi.advanceTimersByTimeAsync(5000);
  const _r = await pr;
  net.heal('m', 'bootstrap');
  await vi.advanceTimersByTimeAsync(20_000);
  const _m = mgr.metrics();
  expect(ev.filter((e) => e === 'connection:lost').length).toBe(ev.filter((e) => e === 'reenroll:success').length);
});

it('a bootstrap that answers every M_CONNECT with an immediate refusal, and a closed shim: attempts per minute', async () => {
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
});

it('an M_RELEASE from the bootstrap while monitoring: member goes idle and the running monitor never recovers', async () => {
  vi.useFakeTimers();
  const net = new MemoryNetwork({ seed: 8 });
  const { enroller } = await withEnroller({}, net);
  const { mgr } = member(net, 'm', fast);
  await mgr.enrolWithBootstrap('bootstrap');
  const _monitor = mgr.startConnectionMonitoring();
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
