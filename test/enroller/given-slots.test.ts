import { afterEach, describe, expect, it, vi } from 'vitest';
import { Result, retryHintOf } from '../../src/cdap/messages.js';
import { GivenSlots } from '../../src/enroller/given-slots.js';
import { MemoryNetwork, OpCode } from '../../src/index.js';
import { cleanup, connectMsg, member, RawPeer, withEnroller } from '../support/helpers.js';

describe('GivenSlots: the slots given lately, by shim address', () => {
  it('tells the time left to the slot of the same M_CONNECT (address, invoke id), nothing for another', () => {
    const given = new GivenSlots(10);
    given.keep('a', 7, 100);
    expect(given.left('a', 7, 40)).toBe(60);
    expect(given.left('a', 7, 99.5)).toBe(1);
    expect(given.left('a', 8, 40)).toBeUndefined(); // a new attempt
    expect(given.left('b', 7, 40)).toBeUndefined();
    expect(given.left('a', 7, 100)).toBeUndefined(); // the slot came: a new question
    expect(given.size).toBe(0); // and forgotten
  });

  it('keeps the latest slot per address', () => {
    const given = new GivenSlots(10);
    given.keep('a', 7, 100);
    given.keep('a', 8, 200);
    expect(given.size).toBe(1);
    expect(given.left('a', 7, 20)).toBeUndefined();
    expect(given.left('a', 8, 20)).toBe(180);
  });

  it('holds at most its capacity: when full, it forgets them all (a flood costs bounded memory, constant time per slot)', () => {
    const given = new GivenSlots(3);
    for (let i = 0; i < 3; i++) given.keep(`a${i}`, 1, 1000);
    given.keep('a0', 2, 1000); // an address it holds: no room needed
    expect(given.size).toBe(3);
    given.keep('b', 1, 1000);
    expect(given.size).toBe(1);
    expect(given.left('b', 1, 0)).toBe(1000);
    expect(given.left('a1', 1, 0)).toBeUndefined();
    for (let i = 0; i < 10_000; i++) given.keep(`spoof${i}`, 1, 1000);
    expect(given.size).toBeLessThanOrEqual(3);
    given.clear();
    expect(given.size).toBe(0);
  });
});

describe('an enroller refusing a repeated M_CONNECT "busy" tells it the time left to its slot', () => {
  afterEach(async () => {
    await cleanup();
    vi.useRealTimers();
  });

  /** An enroller whose completed enrollments took 40 ms, with its one place taken: a slot every 40 ms. */
  async function fullEnroller() {
    vi.useFakeTimers();
    const net = new MemoryNetwork({ seed: 1, delayMs: 10 });
    const env = await withEnroller({ maxPendingEnrollments: 1, pendingTimeoutMs: 600_000 }, net);
    const enrolled = member(net, 'first').mgr.enrolWithBootstrap('bootstrap');
    await vi.advanceTimersByTimeAsync(200);
    await enrolled;
    const squatters = [];
    for (const name of ['squat0']) {
      const squatter = new RawPeer(net.attach(name));
      await squatter.send('bootstrap', connectMsg(1, name));
      squatters.push(squatter);
    }
    await vi.advanceTimersByTimeAsync(20);
    return { ...env, net, squatters };
  }

  /** Sends `peer`'s M_CONNECT `invokeId`; the answer, 20 ms later (its way there and back). */
  async function ask(peer: RawPeer, name: string, invokeId: number) {
    peer.clear();
    await peer.send('bootstrap', connectMsg(invokeId, name));
    await vi.advanceTimersByTimeAsync(20);
    const answer = peer.ofType(OpCode.M_CONNECT_R)[0];
    return { result: answer?.result, retryInMs: retryHintOf(answer?.resultReason ?? '') };
  }

  it('not a new slot: the member after it gets the next one', async () => {
    const { net, enroller } = await fullEnroller();
    const m = new RawPeer(net.attach('m'));
    const first = await ask(m, 'm', 5);
    expect(first).toEqual({ result: Result.BUSY, retryInMs: 40 });
    const again = await ask(m, 'm', 5); // its retransmission, 20 ms later (its answer was late)
    expect(again).toEqual({ result: Result.BUSY, retryInMs: 20 }); // the time left to its slot, not a slot 40 ms later
    // the next member, 20 ms after that (40 after m's first refusal): the slot after m's, one gap on, and the stall added
    const other = await ask(new RawPeer(net.attach('other')), 'other', 1);
    expect(other.retryInMs).toBe(40 + 40); // (m's slot is now; the next one in 40 ms) + 40 ms without a completion
    expect(enroller.stats().busy).toBe(3); // every answer counts
  });

  it('admitted when room was made meanwhile, though its slot is still ahead', async () => {
    const { net, squatters } = await fullEnroller();
    const m = new RawPeer(net.attach('m'));
    expect((await ask(m, 'm', 5)).result).toBe(Result.BUSY);
    await squatters[0]?.send('bootstrap', { opCode: OpCode.M_RELEASE, invokeId: 2 }); // one leaves: a place is free
    await vi.advanceTimersByTimeAsync(1);
    expect((await ask(m, 'm', 5)).result).toBe(Result.OK);
  });

  it('a new slot after a restart: stop() forgets the slots given', async () => {
    const { net, enroller } = await fullEnroller();
    const m = new RawPeer(net.attach('m'));
    expect((await ask(m, 'm', 5)).retryInMs).toBe(40);
    await enroller.stop();
    await enroller.start();
    await new RawPeer(net.attach('squat2')).send('bootstrap', connectMsg(1, 'squat2'));
    await vi.advanceTimersByTimeAsync(20);
    // a fresh start measures afresh: the smallest gap, no stall yet; not the time left to the old slot
    expect((await ask(m, 'm', 5)).retryInMs).toBe(1);
  });
});
