import { afterEach, describe, expect, it, vi } from 'vitest';
import { Result, retryHintOf } from '../../src/cdap/messages.js';
import { RecentRefusals } from '../../src/enroller/refusals.js';
import { MemoryNetwork, OpCode } from '../../src/index.js';
import { cleanup, connectMsg, RawPeer, withEnroller } from '../support/helpers.js';

const pdu = (n: number) => Uint8Array.of(n);

describe('RecentRefusals: the busy answers given lately', () => {
  it('gives the same answer to the same M_CONNECT (address, name, invoke id) until its slot, and nothing to another', () => {
    const kept = new RecentRefusals(10);
    kept.keep('a', 'm', 7, pdu(1), 100, 0);
    expect(kept.repeated('a', 'm', 7, 99)).toEqual(pdu(1));
    expect(kept.repeated('a', 'm', 8, 50)).toBeUndefined(); // a new attempt
    expect(kept.repeated('a', 'other', 7, 50)).toBeUndefined();
    expect(kept.repeated('b', 'm', 7, 50)).toBeUndefined();
    expect(kept.repeated('a', 'm', 7, 100)).toBeUndefined(); // the slot came: a new question
    expect(kept.size).toBe(0); // and forgotten
  });

  it('keeps the latest answer per address', () => {
    const kept = new RecentRefusals(10);
    kept.keep('a', 'm', 7, pdu(1), 100, 0);
    kept.keep('a', 'm', 8, pdu(2), 200, 10);
    expect(kept.size).toBe(1);
    expect(kept.repeated('a', 'm', 7, 20)).toBeUndefined();
    expect(kept.repeated('a', 'm', 8, 20)).toEqual(pdu(2));
  });

  it('holds at most its capacity: the oldest whose slot passed make room; while the oldest holds, a new one is not kept', () => {
    const kept = new RecentRefusals(3);
    for (const [i, until] of [10, 20, 30].entries()) kept.keep(`a${i}`, 'm', 1, pdu(i), until, 0);
    kept.keep('b', 'm', 1, pdu(9), 100, 5); // full, the oldest still holds
    expect(kept.size).toBe(3);
    expect(kept.repeated('b', 'm', 1, 5)).toBeUndefined();
    kept.keep('c', 'm', 1, pdu(8), 100, 25); // a0 and a1 passed: room
    expect(kept.size).toBeLessThanOrEqual(3);
    expect(kept.repeated('c', 'm', 1, 26)).toEqual(pdu(8));
    expect(kept.repeated('a2', 'm', 1, 26)).toEqual(pdu(2));
    for (let i = 0; i < 10_000; i++) kept.keep(`spoof${i}`, 'm', 1, pdu(0), 1000, 26);
    expect(kept.size).toBe(3); // a flood costs bounded memory
    kept.clear();
    expect(kept.size).toBe(0);
  });
});

describe('an enroller answers a repeated M_CONNECT it refused "busy" as before', () => {
  afterEach(async () => {
    await cleanup();
    vi.useRealTimers();
  });

  it('the same answer, no second slot, counted and told once; after the slot, a new answer', async () => {
    vi.useFakeTimers();
    const net = new MemoryNetwork({ seed: 1 });
    const { enroller } = await withEnroller({ maxPendingEnrollments: 2, pendingTimeoutMs: 600_000 }, net);
    const rejected: unknown[] = [];
    enroller.on('enrollment:rejected', (e) => rejected.push(e));
    for (const name of ['squat0', 'squat1']) await new RawPeer(net.attach(name)).send('bootstrap', connectMsg(1, name));
    const m = new RawPeer(net.attach('m'));
    const other = new RawPeer(net.attach('other'));
    await m.send('bootstrap', connectMsg(5, 'm'));
    await vi.advanceTimersByTimeAsync(0);
    await m.send('bootstrap', connectMsg(5, 'm')); // its retransmission
    await vi.advanceTimersByTimeAsync(0);
    await other.send('bootstrap', connectMsg(1, 'other'));
    await vi.advanceTimersByTimeAsync(0);
    const answers = m.ofType(OpCode.M_CONNECT_R);
    expect(answers).toHaveLength(2);
    expect(answers[1]).toEqual(answers[0]);
    expect(answers[0]?.result).toBe(Result.BUSY);
    expect(enroller.stats().busy).toBe(2); // m once, other once
    expect(rejected).toHaveLength(2);
    // other's slot is the one right after m's (0.1 ms apart: the same whole ms), not two slots after
    const mSlot = retryHintOf(answers[0]?.resultReason ?? '') as number;
    expect(retryHintOf(other.ofType(OpCode.M_CONNECT_R)[0]?.resultReason ?? '')).toBe(mSlot);
    await vi.advanceTimersByTimeAsync(mSlot + 1);
    await m.send('bootstrap', connectMsg(5, 'm')); // after its slot: a new question
    await vi.advanceTimersByTimeAsync(0);
    expect(m.ofType(OpCode.M_CONNECT_R)).toHaveLength(3);
    expect(enroller.stats().busy).toBe(3);
  });

  it('forgets them when it stops', async () => {
    vi.useFakeTimers();
    const net = new MemoryNetwork({ seed: 1 });
    const { enroller } = await withEnroller({ maxPendingEnrollments: 1, pendingTimeoutMs: 600_000 }, net);
    await new RawPeer(net.attach('squat')).send('bootstrap', connectMsg(1, 'squat'));
    const m = new RawPeer(net.attach('m'));
    await m.send('bootstrap', connectMsg(5, 'm'));
    await vi.advanceTimersByTimeAsync(0);
    expect(enroller.stats().busy).toBe(1);
    await enroller.stop();
    await enroller.start();
    await new RawPeer(net.attach('squat2')).send('bootstrap', connectMsg(1, 'squat2'));
    await m.send('bootstrap', connectMsg(5, 'm'));
    await vi.advanceTimersByTimeAsync(0);
    expect(m.ofType(OpCode.M_CONNECT_R)).toHaveLength(2);
    expect(enroller.stats().busy).toBe(2); // refused anew, not answered from before the stop
  });
});
