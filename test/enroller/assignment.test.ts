/**
 * AddressAssigner, one M_START at a time from a member built by hand: what
 * each refusal says and counts, what a repeated M_START is answered, and
 * what becomes of an address whose bind or RIB read finished after its
 * enrollment was replaced, fenced or could not be encoded.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type CdapMessage, decodeEnrollmentInfo, type EnrollerOptions, OpCode, type Rib } from '../../src/index.js';
import { cleanup, connectMsg, RawPeer, settle, startMsg, stopReply, withEnroller } from '../support/helpers.js';
import { deferred } from '../support/scripted-etcd.js';
import { ManualClock } from './manual-clock.js';
import { SharedMemoryStore } from './shared-memory-store.js';

afterEach(cleanup);

const FENCED_REASON = 'the enroller cannot store addresses now: it lost its lease in the shared store';

/** An enroller on a shared in-memory store and a manual clock, a raw member at m-shim, and what the enroller told. */
async function world(options: Partial<EnrollerOptions> = {}) {
  const store = new SharedMemoryStore();
  const clock = new ManualClock();
  const env = await withEnroller({ store, clock, holdMs: 300, retransmitMs: 50, random: () => 0, ...options }); // the pool proposes from its first address on
  const peer = new RawPeer(env.net.attach('m-shim'));
  const told: string[] = [];
  env.enroller.on('enrollment:rejected', (r) => told.push(`rejected ${r.name} ${r.result} ${r.reason}`));
  env.enroller.on('address:released', (b) => told.push(`released ${b.name}=${b.address}`));
  const send = async (msg: CdapMessage) => {
    await peer.send('bootstrap', msg);
    await settle();
  };
  return { ...env, store, clock, peer, told, send };
}

/** The result, reason and address of each M_START_R `peer` received. */
function startReplies(peer: RawPeer) {
  return peer.ofType(OpCode.M_START_R).map((m) => {
    const bytes = m.objValue?.byteval;
    return {
      result: m.result ?? 0,
      reason: m.resultReason,
      address: bytes === undefined ? undefined : decodeEnrollmentInfo(bytes).address,
    };
  });
}

describe('AddressAssigner: refusals', () => {
  // Counted since a new user's review (2026-12-07): refusals at M_START were told but not counted, or counted but not told.
  it('a fenced enroller answers an M_START "unavailable" (-4), says why, tells it and counts it as rejected', async () => {
    const { enroller, store, peer, told, send } = await world();
    await send(connectMsg(1, 'm'));
    store.vouch = false;
    await send(startMsg(2));
    expect(startReplies(peer)).toEqual([{ result: -4, reason: FENCED_REASON, address: undefined }]);
    expect(told).toEqual([`rejected m -4 ${FENCED_REASON}`]);
    expect(enroller.stats()).toMatchObject({ rejected: 1, busy: 0, authFailures: 0 });
    expect(store.callsOf('bind')).toEqual([]);
  });

  it('no address left: refused -1 and told once; the same M_START again gets the same refusal, with nothing stored', async () => {
    const { enroller, net, store, peer, told, send } = await world({ addressPool: { first: 1002, last: 1002 } });
    const a = new RawPeer(net.attach('a-shim'));
    await a.send('bootstrap', connectMsg(1, 'a'));
    await a.send('bootstrap', startMsg(2));
    await settle();
    await a.send('bootstrap', stopReply(a));
    await settle();
    expect(enroller.members()).toMatchObject([{ name: 'a', address: 1002 }]);
    await send(connectMsg(1, 'm'));
    await send(startMsg(2));
    const refusal = startReplies(peer);
    expect(refusal).toMatchObject([{ result: -1, reason: expect.stringMatching(/./) }]);
    await send(startMsg(2)); // a retransmission
    expect(startReplies(peer)).toEqual([...refusal, ...refusal]);
    expect(told).toEqual([`rejected m -1 ${refusal[0]?.reason}`]);
    expect(enroller.stats()).toMatchObject({ rejected: 1, busy: 0 }); // once, as told
    expect(store.callsOf('bind')).toEqual(['bind a']);
  });

  // Found by a new user's review (2026-12-07): the refused newcomer's enrollment stayed "in progress" for the pending
  // timeout (30 s), so with maxPendingEnrollments 1 the member whose address was held was answered "busy" meanwhile.
  it('an M_START refused for good leaves no enrollment in progress: the member whose address is held gets in at once', async () => {
    const { enroller, net, peer, send } = await world({ addressPool: { first: 1002, last: 1002 }, maxPendingEnrollments: 1 });
    const x = new RawPeer(net.attach('x-shim'));
    const step = async (msg: CdapMessage) => {
      await x.send('bootstrap', msg);
      await settle();
    };
    await step(connectMsg(1, 'x'));
    await step(startMsg(2));
    await step(stopReply(x));
    await step({ opCode: OpCode.M_RELEASE, invokeId: 3 }); // x leaves: 1002 is held for it
    expect(enroller.members()).toEqual([]);
    await send(connectMsg(1, 'y'));
    await send(startMsg(2));
    expect(startReplies(peer)).toMatchObject([{ result: -1 }]); // no address for a newcomer
    expect(enroller.stats().pending).toBe(0);
    await send(startMsg(2)); // its repeat gets the same answer
    expect(startReplies(peer)).toMatchObject([{ result: -1 }, { result: -1 }]);
    await step(connectMsg(4, 'x')); // x comes back
    expect(x.ofType(OpCode.M_CONNECT_R).map((m) => m.result ?? 0)).toEqual([0, 0]); // not "busy"
    await step(startMsg(5));
    expect(startReplies(x).map((r) => r.address)).toEqual([1002, 1002]);
  });

  // Found by a review of the change above (2026-12-07): the capacity guard let an M_CONNECT from an address with an
  // enrollment in progress through ("it replaces that one"), and the refused one counted for none.
  it('a member refused for good connecting again takes a place like any newcomer: maxPendingEnrollments holds', async () => {
    const { enroller, net, peer, send } = await world({ addressPool: { first: 1002, last: 1002 }, maxPendingEnrollments: 1 });
    const x = new RawPeer(net.attach('x-shim'));
    await x.send('bootstrap', connectMsg(1, 'x'));
    await x.send('bootstrap', startMsg(2));
    await settle();
    await x.send('bootstrap', stopReply(x)); // x holds the only address
    await settle();
    await send(connectMsg(1, 'y'));
    await send(startMsg(2));
    expect(startReplies(peer).map((r) => r.result)).toEqual([-1]);
    const z = new RawPeer(net.attach('z-shim'));
    await z.send('bootstrap', connectMsg(1, 'z')); // admitted: y's refused enrollment holds no place
    await settle();
    await send(connectMsg(3, 'y')); // y's application enrols again
    expect(peer.ofType(OpCode.M_CONNECT_R).map((m) => m.result ?? 0)).toEqual([0, -5]);
    expect(enroller.pendingEnrollments).toBe(1);
  });

  // Found by the same review: a repeat of an M_START refused "the DIF is full" was judged anew, counted and told again.
  it('a repeat of an M_START refused for good gets the same answer, neither counted nor told again', async () => {
    const { enroller, net, peer, told, send } = await world({ maxMembers: 1 });
    const a = new RawPeer(net.attach('a-shim'));
    await a.send('bootstrap', connectMsg(1, 'a'));
    await send(connectMsg(1, 'm'));
    await a.send('bootstrap', startMsg(2));
    await settle();
    await a.send('bootstrap', stopReply(a));
    await settle();
    await send(startMsg(2));
    await send(startMsg(2)); // its M_START_R was lost: the member retransmits
    expect(startReplies(peer)).toEqual([
      { result: -1, reason: 'the DIF is full: 1 members', address: undefined },
      { result: -1, reason: 'the DIF is full: 1 members', address: undefined },
    ]);
    expect(told).toEqual(['rejected m -1 the DIF is full: 1 members']);
    expect(enroller.stats().rejected).toBe(1);
  });

  it("a full DIF refuses a newcomer's M_START -1, counted as rejected and told, nothing bound; a member enrolling again is no newcomer", async () => {
    const { enroller, net, store, peer, told, send } = await world({ maxMembers: 1 });
    const a = new RawPeer(net.attach('a-shim'));
    await a.send('bootstrap', connectMsg(1, 'a'));
    await send(connectMsg(1, 'm')); // connected while there was room
    await a.send('bootstrap', startMsg(2));
    await settle();
    await a.send('bootstrap', stopReply(a));
    await settle();
    await send(startMsg(2));
    expect(startReplies(peer)).toEqual([{ result: -1, reason: 'the DIF is full: 1 members', address: undefined }]);
    expect(enroller.stats().rejected).toBe(1);
    expect(told).toEqual(['rejected m -1 the DIF is full: 1 members']);
    expect(store.callsOf('bind')).toEqual(['bind a']);
    await a.send('bootstrap', connectMsg(3, 'a'));
    await a.send('bootstrap', startMsg(4));
    await settle();
    expect(startReplies(a).map((r) => r.result)).toEqual([0, 0]);
  });

  it('a RIB that fails to list is answered -1 with its error, not told as a refusal; the next M_START is answered anew, the address kept', async () => {
    const { rib, store, peer, told, send } = await world();
    vi.spyOn(rib, 'list').mockRejectedValueOnce(new Error('disk gone'));
    await send(connectMsg(1, 'm'));
    await send(startMsg(2));
    expect(startReplies(peer)).toEqual([{ result: -1, reason: 'enroller RIB failure: disk gone', address: undefined }]);
    expect(told).toEqual([]);
    await send(startMsg(2)); // the same invoke id: not a retransmission of an answer, a new M_START
    expect(startReplies(peer).at(-1)).toEqual({ result: 0, reason: undefined, address: 1002 });
    expect(store.callsOf('bind')).toEqual(['bind m']); // bound once
  });

  it("a RIB object that cannot be encoded is answered -1 with the encoder's error; nothing half-sent", async () => {
    const { rib, peer, told, send } = await world();
    vi.spyOn(rib, 'list').mockResolvedValueOnce([{ name: '/x', class: 'c', value: { intval: 'not a number' as unknown as number } }]);
    await send(connectMsg(1, 'm'));
    await send(startMsg(2));
    expect(startReplies(peer)).toEqual([
      { result: -1, reason: expect.stringMatching(/^cannot encode the RIB: cannot encode CDAP message: .*intval/), address: undefined },
    ]);
    expect(peer.ofType(OpCode.M_CREATE)).toEqual([]);
    expect(peer.ofType(OpCode.M_STOP)).toEqual([]);
    expect(told).toEqual([]);
  });
});

describe('AddressAssigner: a repeated M_START', () => {
  it('is answered with the same burst while the binding is proven, and "unavailable" once a fence voided it: the enrollment is let go', async () => {
    const { enroller, store, peer, told, send } = await world();
    await send(connectMsg(1, 'm'));
    await send(startMsg(2));
    await send(startMsg(2));
    expect(startReplies(peer)).toEqual([
      { result: 0, reason: undefined, address: 1002 },
      { result: 0, reason: undefined, address: 1002 },
    ]);
    expect(peer.ofType(OpCode.M_STOP)).toHaveLength(2);
    store.vouch = false; // the lease is in doubt
    await send(startMsg(2));
    expect(startReplies(peer).at(-1)).toEqual({ result: -4, reason: FENCED_REASON, address: undefined });
    expect(told).toEqual([`rejected m -4 ${FENCED_REASON}`]);
    store.vouch = true;
    await send(stopReply(peer)); // too late: the enrollment was let go
    expect(enroller.members()).toEqual([]);
  });
});

describe('AddressAssigner: binds the store refuses or fails', () => {
  it('an address another enroller took meanwhile is not handed out: the next one is bound and given', async () => {
    const { store, peer, send } = await world();
    store.script.push('taken');
    await send(connectMsg(1, 'm'));
    await send(startMsg(2));
    expect(startReplies(peer)).toEqual([{ result: 0, reason: undefined, address: 1003 }]);
    expect(store.callsOf('bind')).toEqual(['bind m', 'bind m']);
  });

  it('after 8 addresses taken in a row the member is told busy (-5), not told as a refusal; it asks again and gets the next', async () => {
    const { store, peer, told, send } = await world();
    store.script.push(...Array.from({ length: 8 }, () => 'taken' as const));
    await send(connectMsg(1, 'm'));
    await send(startMsg(2));
    expect(startReplies(peer)).toEqual([
      { result: -5, reason: 'busy: 8 addresses were taken by other enrollers meanwhile, try again', address: undefined },
    ]);
    expect(store.callsOf('bind')).toHaveLength(8);
    expect(told).toEqual([]);
    await send(startMsg(3));
    expect(startReplies(peer).at(-1)).toEqual({ result: 0, reason: undefined, address: 1010 });
  });

  it("a bind that throws is answered -4 with the store's error and told; the pool forgets the address", async () => {
    const { enroller, store, peer, told, send } = await world();
    store.script.push('fail');
    await send(connectMsg(1, 'm'));
    await send(startMsg(2));
    const reason = 'the enroller cannot store addresses now: etcd: deadline exceeded';
    expect(startReplies(peer)).toEqual([{ result: -4, reason, address: undefined }]);
    expect(told).toEqual([`rejected m -4 ${reason}`]);
    await send(startMsg(3));
    await send(stopReply(peer));
    expect(enroller.members()).toMatchObject([{ name: 'm', address: 1002 }]);
  });

  it('a lease lost while the bind was in the store: answered -4, the enrollment let go and its fresh address freed', async () => {
    const { enroller, store, peer, told, send } = await world();
    const bind = deferred<void>();
    store.script.push(bind.promise);
    await send(connectMsg(1, 'm'));
    await send(startMsg(2));
    store.vouch = false;
    bind.resolve();
    await settle();
    expect(startReplies(peer)).toEqual([{ result: -4, reason: FENCED_REASON, address: undefined }]);
    expect(told).toContain(`rejected m -4 ${FENCED_REASON}`);
    expect(store.callsOf('release')).toEqual(['release m']);
    expect(peer.ofType(OpCode.M_STOP)).toEqual([]);
    expect(enroller.members()).toEqual([]);
  });
});

describe('AddressAssigner: an enrollment replaced while its address was in the store', () => {
  it("by another name from the same shim address: the first name's fresh binding is released at once, and never answered", async () => {
    const { enroller, store, peer, told, send } = await world();
    const bind = deferred<void>();
    store.script.push(bind.promise);
    await send(connectMsg(1, 'a'));
    await send(startMsg(2));
    await send(connectMsg(3, 'b'));
    bind.resolve();
    await settle();
    expect(peer.ofType(OpCode.M_START_R)).toEqual([]);
    expect(store.callsOf('release')).toEqual(['release a']);
    await send(startMsg(4));
    await send(stopReply(peer));
    expect(enroller.members()).toMatchObject([{ name: 'b', address: 1002 }]);
    expect(told).toEqual([]);
  });

  /** `a` enrolled from m-shim and released (its hold of 300 ms runs), then asking again from there; its bind waits for the returned gate. */
  async function heldThenAskingAgain() {
    const w = await world();
    await w.send(connectMsg(1, 'a'));
    await w.send(startMsg(2));
    await w.send(stopReply(w.peer));
    await w.send({ opCode: OpCode.M_RELEASE, invokeId: 9 });
    const bind = deferred<void>();
    w.store.script.push(bind.promise);
    w.clock.advance(100);
    await w.send(connectMsg(10, 'a'));
    await w.send(startMsg(11));
    return { ...w, bind };
  }

  it('by another name, when the first name was on hold: the hold goes on from where it was, the address freed when it ends', async () => {
    const { store, told, send, clock, bind } = await heldThenAskingAgain();
    await send(connectMsg(12, 'b'));
    bind.resolve();
    await settle();
    expect(store.callsOf('release')).toEqual([]);
    expect(store.callsOf('leave')).toEqual(['leave a', 'leave a']); // at M_RELEASE, and when the bind is let go
    clock.advance(210); // 310 ms since the M_RELEASE
    expect(told).toEqual(['released a=1002']);
    expect(store.callsOf('release')).toEqual(['release a']);
  });

  it('by another name, after the hold ran out meanwhile: the address is held again, whole, then freed', async () => {
    const { store, told, send, clock, bind } = await heldThenAskingAgain();
    clock.advance(250); // the hold ends while the name is being bound: not freed under it
    expect(told).toEqual([]);
    await send(connectMsg(12, 'b'));
    bind.resolve();
    await settle();
    clock.advance(290);
    expect(told).toEqual([]);
    clock.advance(20);
    expect(told).toEqual(['released a=1002']);
    expect(store.callsOf('release')).toEqual(['release a']);
  });
  it('by another name, with the bind refused meanwhile: nothing was stored for the first name, nothing is released', async () => {
    const { store, peer, send } = await world();
    const bind = deferred<'taken'>();
    store.script.push(bind.promise);
    await send(connectMsg(1, 'a'));
    await send(startMsg(2));
    await send(connectMsg(3, 'b'));
    bind.resolve('taken');
    await settle();
    expect(store.callsOf('release')).toEqual([]);
    expect(store.callsOf('leave')).toEqual([]);
    await send(startMsg(4));
    expect(startReplies(peer)).toEqual([{ result: 0, reason: undefined, address: 1003 }]);
  });

  it('by another name, when the first name is still a member: its binding is left alone, neither left nor held', async () => {
    const { enroller, store, peer, told, send, clock } = await world();
    await send(connectMsg(1, 'a'));
    await send(startMsg(2));
    await send(stopReply(peer));
    const bind = deferred<void>();
    store.script.push(bind.promise);
    await send(connectMsg(10, 'a')); // the member enrols again
    await send(startMsg(11));
    await send(connectMsg(12, 'b'));
    bind.resolve();
    await settle();
    clock.advance(400); // past any hold
    expect(store.calls).toEqual(['bind a', 'bind a']);
    expect(told).toEqual([]);
    expect(enroller.members()).toMatchObject([{ name: 'a', address: 1002 }]);
  });
});

describe('AddressAssigner: the RIB read, and a binding kept by a retry', () => {
  it('an enrollment replaced while the RIB was being read is not answered; fenced meanwhile, it is answered -4', async () => {
    for (const meanwhile of ['replaced', 'fenced'] as const) {
      const { rib, store, peer, send } = await world();
      const list = deferred<[]>();
      vi.spyOn(rib as Rib, 'list').mockImplementationOnce(() => list.promise); // a RIB behind I/O
      await send(connectMsg(1, 'a'));
      await send(startMsg(2));
      if (meanwhile === 'replaced') await send(connectMsg(3, 'b'));
      else store.vouch = false;
      list.resolve([]);
      await settle();
      expect(startReplies(peer)).toEqual(meanwhile === 'replaced' ? [] : [{ result: -4, reason: FENCED_REASON, address: undefined }]);
      expect(peer.ofType(OpCode.M_STOP)).toEqual([]);
    }
  });

  it('a fresh address kept by a retry, told to its member and never confirmed: abandoned, it is held for holdMs, then freed', async () => {
    const { store, peer, send, clock } = await world({ pendingTimeoutMs: 1000 });
    await send(connectMsg(1, 'm'));
    await send(startMsg(2));
    await send(connectMsg(3, 'm')); // its answers were lost: it asks again
    await send(startMsg(4));
    expect(startReplies(peer).map((r) => r.address)).toEqual([1002, 1002]);
    expect(store.callsOf('bind')).toEqual(['bind m']);
    clock.advance(1100); // never confirmed (its M_STOP_R may have been lost): abandoned
    expect(store.callsOf('release')).toEqual([]);
    expect(store.callsOf('leave')).toEqual(['leave m']);
    clock.advance(300); // holdMs
    expect(store.callsOf('release')).toEqual(['release m']);
  });

  it('a fresh address told in an earlier enrollment stays told when the same member asks again and takes it over: abandoned before its own M_START, it is held', async () => {
    const { store, send, clock } = await world({ pendingTimeoutMs: 1000 });
    await send(connectMsg(1, 'm'));
    await send(startMsg(2)); // told 1002 (M_START_R, M_STOP); its M_STOP_R lost
    await send(connectMsg(3, 'm')); // asks again: the new enrollment takes the binding over, and never gets to M_START
    clock.advance(1100);
    expect(store.callsOf('release')).toEqual([]);
    expect(store.callsOf('leave')).toEqual(['leave m']);
  });

  it('a fresh address never told (the bind answered after the enrollment was abandoned) is freed at once', async () => {
    const { store, peer, send, clock } = await world({ pendingTimeoutMs: 1000 });
    const bind = deferred<void>();
    store.script.push(bind.promise);
    await send(connectMsg(1, 'm'));
    await send(startMsg(2));
    clock.advance(1100); // abandoned while its bind is in flight
    bind.resolve();
    await settle();
    expect(startReplies(peer)).toEqual([]);
    expect(store.callsOf('release')).toEqual(['release m']);
    expect(store.callsOf('leave')).toEqual([]);
  });
});
