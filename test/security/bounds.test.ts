import { afterEach, describe, expect, it, vi } from 'vitest';
import { decodeCdapMessage, OpCode } from '../../src/index.js';
import { cleanup, member, RawPeer, settle, withEnroller, connectMsg } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

const connect = connectMsg;

describe('enroller bounds', () => {
  it('drops PDUs over maxPduBytes unread', async () => {
    const { net, enroller } = await withEnroller({ maxPduBytes: 100 });
    const peer = new RawPeer(net.attach('p'));
    await peer.sendRaw('bootstrap', new Uint8Array(101));
    await peer.send('bootstrap', connect(1, 'p'));
    await settle();
    expect(enroller.stats()).toMatchObject({ received: 2, oversize: 1 });
    expect(peer.ofType(OpCode.M_CONNECT_R)).toHaveLength(1);
  });

  it('answers "busy" beyond maxPendingEnrollments; a member backs off, then gets in (the busy answer used none of its one attempt)', async () => {
    vi.useFakeTimers();
    const { net, enroller } = await withEnroller({ maxPendingEnrollments: 3, pendingTimeoutMs: 2000 });
    for (let i = 0; i < 3; i++) {
      const squatter = new RawPeer(net.attach(`squat${i}`));
      await squatter.send('bootstrap', connect(1, `squat${i}`)); // and never goes on
    }
    await settle();
    expect(enroller.pendingEnrollments).toBe(3);
    const connects: number[] = [];
    net.tap((p) => {
      if (p.from === 'm' && decodeCdapMessage(p.pdu).opCode === OpCode.M_CONNECT) connects.push(performance.now());
    });
    const { mgr } = member(net, 'm', { maxRetries: 1, retransmitMs: 300 });
    const result = mgr.enrolWithBootstrap('bootstrap');
    await vi.advanceTimersByTimeAsync(10);
    expect(enroller.stats().busy).toBe(1);
    // the squatters are forgotten at 2 s; the jittered waits (up to 1, 2, 4 s) end by 7 s at the latest
    await vi.advanceTimersByTimeAsync(10_000);
    await expect(result).resolves.toBe('demo.DIF');
    // not at once: the retry waited a jittered backoff, never shorter than retransmitMs
    expect((connects[1] ?? 0) - (connects[0] ?? 0)).toBeGreaterThanOrEqual(300);
  });

  it('rate-limits each address, and remembers at most maxTrackedPeers of them', async () => {
    const { net, enroller } = await withEnroller({ ratePerSecond: 10, rateBurst: 20, maxTrackedPeers: 50 });
    const flooder = new RawPeer(net.attach('flooder'));
    for (let i = 0; i < 1000; i++) await flooder.sendRaw('bootstrap', Uint8Array.of(0xff, i & 0xff));
    for (let i = 0; i < 200; i++) await new RawPeer(net.attach(`spoof${i}`)).sendRaw('bootstrap', Uint8Array.of(0xff));
    await settle();
    const stats = enroller.stats();
    expect(stats.rateLimited).toBeGreaterThanOrEqual(1000 - 20 - 5);
    expect(stats.trackedPeers).toBeLessThanOrEqual(50);
    // a real member from its own address is not affected
    await expect(member(net, 'm').mgr.enrolWithBootstrap('bootstrap')).resolves.toBe('demo.DIF');
  });

  it('refuses members beyond maxMembers', async () => {
    const { net } = await withEnroller({ maxMembers: 2 });
    await member(net, 'a').mgr.enrolWithBootstrap('bootstrap');
    await member(net, 'b').mgr.enrolWithBootstrap('bootstrap');
    await expect(member(net, 'c').mgr.enrolWithBootstrap('bootstrap')).rejects.toMatchObject({
      code: 'ENROLLMENT_REJECTED',
      reason: 'the DIF is full: 2 members',
    });
  });

  it('forgets a half-finished enrollment after pendingTimeoutMs', async () => {
    vi.useFakeTimers();
    const { net, enroller } = await withEnroller({ pendingTimeoutMs: 1000 });
    const peer = new RawPeer(net.attach('p'));
    await peer.send('bootstrap', connect(1, 'p'));
    await settle();
    expect(enroller.pendingEnrollments).toBe(1);
    await vi.advanceTimersByTimeAsync(1300);
    expect(enroller.pendingEnrollments).toBe(0);
  });
});
