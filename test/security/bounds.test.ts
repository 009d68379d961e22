import { afterEach, describe, expect, it, vi } from 'vitest';
import { Result, retryHintOf } from '../../src/cdap/messages.js';
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

  it('answers "busy" beyond maxPendingEnrollments, naming when to ask again; the member asks again then, less often while nothing completes, then gets in (the busy answers used none of its one attempt)', async () => {
    vi.useFakeTimers();
    const { net, enroller } = await withEnroller({ maxPendingEnrollments: 3, pendingTimeoutMs: 2000 });
    for (let i = 0; i < 3; i++) {
      const squatter = new RawPeer(net.attach(`squat${i}`));
      await squatter.send('bootstrap', connect(1, `squat${i}`)); // and never goes on
    }
    await settle();
    expect(enroller.pendingEnrollments).toBe(3);
    const connects: number[] = [];
    const told: Array<number | undefined> = [];
    net.tap((p) => {
      const msg = decodeCdapMessage(p.pdu);
      if (p.from === 'm' && msg.opCode === OpCode.M_CONNECT) connects.push(performance.now());
      if (p.to === 'm' && msg.opCode === OpCode.M_CONNECT_R && msg.result === Result.BUSY) told.push(retryHintOf(msg.resultReason ?? ''));
    });
    const { mgr } = member(net, 'm', { maxRetries: 1, retransmitMs: 300 });
    const result = mgr.enrolWithBootstrap('bootstrap');
    // the squatters are forgotten at 2 s; a member waits at most twice the stall it was told of
    await vi.advanceTimersByTimeAsync(10_000);
    await expect(result).resolves.toBe('demo.DIF');
    expect(told).toHaveLength(connects.length - 1);
    expect(enroller.stats().busy).toBe(told.length);
    told.forEach((ms, i) => {
      expect(ms).toBeGreaterThanOrEqual(1); // every "busy" named its time
      const gap = (connects[i + 1] as number) - (connects[i] as number);
      expect(gap).toBeGreaterThanOrEqual(ms as number); // and the member came back no sooner
      expect(gap).toBeLessThan((ms as number) + 5);
    });
    // while the squatters held every slot the waits doubled: a handful of M_CONNECTs in 2 s, not one every ms
    expect(connects.length).toBeGreaterThan(3);
    expect(connects.length).toBeLessThan(20);
    expect((told.at(-1) as number) / (told[1] as number)).toBeGreaterThan(100);
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

  // Found by a review (2026-12-06; fixed with it): a flood guard that forgot addresses within its bound let 1,924 of these
  // 2,000 datagrams through.
  it('rate-limits maxTrackedPeers addresses flooding in turns: each within the bound keeps its empty bucket', async () => {
    const { net, enroller } = await withEnroller({ ratePerSecond: 1, rateBurst: 2, maxTrackedPeers: 50 });
    const peers = Array.from({ length: 50 }, (_, i) => new RawPeer(net.attach(`flooder${i}`)));
    for (let round = 0; round < 40; round++) for (const peer of peers) await peer.sendRaw('bootstrap', Uint8Array.of(0xff, round));
    await settle();
    const { received, rateLimited } = enroller.stats();
    expect(received).toBe(2000);
    // 50 bursts of 2 pass, and at most a token or two each from the refill while the test runs; the rest is dropped unread
    expect(received - rateLimited).toBeLessThanOrEqual(50 * 2 + 100);
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
