import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ConfigError,
  decodeEnrollmentInfo,
  Enroller,
  type EnrollerOptions,
  encodeEnrollmentInfo,
  ENROLLMENT_OBJECT,
  KEEPALIVE_OBJECT,
  MemoryNetwork,
  MemoryRib,
  OpCode,
} from '../../src/index.js';
import { cleanup, RawPeer, settle, withEnroller, connectMsg } from '../support/helpers.js';

const connect = connectMsg;
const start = (invokeId: number, address = 0) => ({
  opCode: OpCode.M_START,
  invokeId,
  ...ENROLLMENT_OBJECT,
  objValue: { byteval: encodeEnrollmentInfo({ address }) },
});

async function connected(peerName = 'member-1', options: Partial<EnrollerOptions> = {}) {
  const env = await withEnroller(options);
  env.rib.write({ name: '/dif/policy/x', class: 'policy', value: { strval: 'p' } });
  env.rib.write({ name: '/mgmt/secret-local', class: 'local', value: { intval: 1 } });
  const peer = new RawPeer(env.net.attach(peerName));
  await peer.send('bootstrap', connect(1, peerName));
  await settle();
  return { ...env, peer };
}

describe('Enroller: the exchange of docs/PROTOCOL.md', () => {
  afterEach(async () => {
    await cleanup();
    vi.useRealTimers();
  });

  it('answers CONNECT, then START with an address, its RIB objects and STOP; enrolls on STOP_R', async () => {
    const { peer, enroller } = await connected();
    const [connectReply] = peer.ofType(OpCode.M_CONNECT_R);
    expect(connectReply).toMatchObject({ invokeId: 1, result: 0, srcApName: 'bootstrap', destApName: 'member-1' });

    await peer.send('bootstrap', start(2));
    await settle();
    const [startReply] = peer.ofType(OpCode.M_START_R);
    expect(startReply).toMatchObject({ invokeId: 2, result: 0, ...ENROLLMENT_OBJECT });
    const info = decodeEnrollmentInfo(startReply?.objValue?.byteval ?? new Uint8Array());
    expect(info).toMatchObject({ address: 1002, difName: 'demo.DIF', dtConstants: { addressWidth: 4 } });

    const creates = peer.ofType(OpCode.M_CREATE);
    expect(creates.map((c) => c.objName).sort()).toEqual(['/dif/config/name', '/dif/policy/x']); // never /mgmt/
    const [stop] = peer.ofType(OpCode.M_STOP);
    expect(decodeEnrollmentInfo(stop?.objValue?.byteval ?? new Uint8Array())).toEqual({ startEarly: true, ribObjectCount: 2 });
    // fresh, non-zero, distinct invoke ids on the enroller's requests
    const ids = [...creates, stop].map((m) => m?.invokeId);
    expect(new Set(ids).size).toBe(3);
    expect(ids.every((id) => typeof id === 'number' && id > 0)).toBe(true);

    expect(enroller.members()).toEqual([]);
    await peer.send('bootstrap', { opCode: OpCode.M_STOP_R, invokeId: stop?.invokeId, ...ENROLLMENT_OBJECT, result: 0 });
    await settle();
    expect(enroller.members()).toMatchObject([{ name: 'member-1', address: 1002, shimAddress: 'member-1' }]);
    expect(enroller.pendingEnrollments).toBe(0);
  });

  it('answers a repeated START with the same address and the same messages', async () => {
    const { peer, enroller } = await connected();
    await peer.send('bootstrap', start(2));
    await settle();
    const first = peer.received.map((r) => r.msg).filter((m) => m.opCode !== OpCode.M_CONNECT_R);
    peer.clear();
    await peer.send('bootstrap', start(2));
    await settle();
    expect(peer.received.map((r) => r.msg)).toEqual(first);
    // A repeated CONNECT is answered the same way and does not reset the session.
    peer.clear();
    await peer.send('bootstrap', connect(1));
    await settle();
    expect(peer.ofType(OpCode.M_CONNECT_R)).toHaveLength(1);
    expect(enroller.pendingEnrollments).toBe(1);
  });

  it('gives the same name its address back when it enrols again, whatever it asks for; honours a free requested address for a new name', async () => {
    const { peer, net } = await connected();
    await peer.send('bootstrap', start(2));
    await settle();
    const first = decodeEnrollmentInfo(peer.ofType(OpCode.M_START_R)[0]?.objValue?.byteval ?? new Uint8Array()).address;
    peer.clear();
    await peer.send('bootstrap', connect(3));
    await settle();
    await peer.send('bootstrap', start(4, 1500)); // the name holds an address here: it keeps it
    await settle();
    const info = decodeEnrollmentInfo(peer.ofType(OpCode.M_START_R)[0]?.objValue?.byteval ?? new Uint8Array());
    expect(info.address).toBe(first);

    const other = new RawPeer(net.attach('member-2'));
    await other.send('bootstrap', connect(1, 'member-2'));
    await settle();
    await other.send('bootstrap', start(2, 1500)); // free: granted
    await settle();
    const otherInfo = decodeEnrollmentInfo(other.ofType(OpCode.M_START_R)[0]?.objValue?.byteval ?? new Uint8Array());
    expect(otherInfo.address).toBe(1500);

    const third = new RawPeer(net.attach('member-3'));
    await third.send('bootstrap', connect(1, 'member-3'));
    await settle();
    await third.send('bootstrap', start(2, 1500)); // taken by member-2: gets another
    await settle();
    const thirdInfo = decodeEnrollmentInfo(third.ofType(OpCode.M_START_R)[0]?.objValue?.byteval ?? new Uint8Array());
    expect(thirdInfo.address).not.toBe(1500);
    expect(thirdInfo.address).not.toBe(first);
  });

  it('grants an address of its pool to a member asking for one outside it; refuses only when the pool is exhausted', async () => {
    const { net } = await withEnroller({ addressPool: { first: 1002, last: 1002 } });
    const a = new RawPeer(net.attach('a'));
    await a.send('bootstrap', connect(1, 'a'));
    await settle();
    await a.send('bootstrap', start(2, 7));
    await settle();
    const granted = a.ofType(OpCode.M_START_R)[0];
    expect(granted).toMatchObject({ result: 0 });
    expect(decodeEnrollmentInfo(granted?.objValue?.byteval ?? new Uint8Array()).address).toBe(1002);
    const b = new RawPeer(net.attach('b'));
    await b.send('bootstrap', connect(1, 'b'));
    await settle();
    await b.send('bootstrap', start(2));
    await settle();
    expect(b.ofType(OpCode.M_START_R)[0]).toMatchObject({ result: -1, resultReason: 'address pool 1002-1002 is exhausted' });
  });

  it('rejects CONNECT to another name; an open enroller ignores credentials it does not ask for', async () => {
    const { net } = await withEnroller();
    const peer = new RawPeer(net.attach('m'));
    await peer.send('bootstrap', connect(1, 'm', 'someone-else'));
    await peer.send('bootstrap', { ...connect(2, 'm'), authMech: 1 });
    await peer.send('bootstrap', connect(3, 'm', 'demo.DIF')); // the DIF's name is accepted too
    await settle();
    const replies = peer.ofType(OpCode.M_CONNECT_R);
    expect(replies.map((r) => r.result)).toEqual([-1, 0, 0]);
    expect(replies[0]?.resultReason).toMatch(/unknown destination "someone-else"/);
  });

  it('on a wildcard socket it is any address at its port, and its advertised one; another port is another enroller', async () => {
    const { net } = await withEnroller({ ipcpName: 'e1', advertisedAddress: '10.1.1.1:9000' }, undefined, '0.0.0.0:7000');
    const peer = new RawPeer(net.attach('m'));
    const named = ['127.0.0.1:7000', '10.0.0.5:7000', '10.1.1.1:9000', '127.0.0.1:7001', '[::1]:7000', '0.0.0.0:7000'];
    for (const [i, dest] of named.entries()) await peer.send('0.0.0.0:7000', connect(i + 1, 'm', dest));
    await settle();
    expect(peer.ofType(OpCode.M_CONNECT_R).map((r) => r.result)).toEqual([0, 0, 0, -1, -1, 0]);
  });

  it('refuses START without CONNECT, and START of another object', async () => {
    const { net, enroller } = await withEnroller();
    const peer = new RawPeer(net.attach('m'));
    await peer.send('bootstrap', start(2));
    await peer.send('bootstrap', { opCode: OpCode.M_START, invokeId: 3, objClass: 'x', objName: '/x' });
    await settle();
    expect(peer.ofType(OpCode.M_START_R).map((r) => r.resultReason)).toEqual(['not connected: send M_CONNECT first', 'cannot start /x']);
    expect(enroller.pendingEnrollments).toBe(0);
  });

  it('answers a malformed request with a failure and acts on nothing; ignores undecodable bytes', async () => {
    const { net, enroller } = await withEnroller();
    const peer = new RawPeer(net.attach('m'));
    // M_READ (8) with invoke id 6 and abs_syntax 73, which a READ must not carry
    await peer.sendRaw('bootstrap', Uint8Array.from([0x08, 0x49, 0x10, 0x08, 0x18, 0x06]));
    await peer.sendRaw('bootstrap', Uint8Array.from([0xff, 0xff, 0xff]));
    await settle();
    expect(peer.received.map((r) => r.msg)).toEqual([
      { opCode: OpCode.M_READ_R, invokeId: 6, result: -1, resultReason: 'invalid M_READ: must not carry abs_syntax' },
    ]);
    expect(enroller.pendingEnrollments).toBe(0);
    expect(enroller.members()).toEqual([]);
  });

  it('answers keepalives of members, refuses them from strangers, and lets members leave', async () => {
    const { peer, enroller, net } = await connected();
    await peer.send('bootstrap', start(2));
    await settle();
    const stop = peer.ofType(OpCode.M_STOP)[0];
    await peer.send('bootstrap', { opCode: OpCode.M_STOP_R, invokeId: stop?.invokeId, result: 0 });
    await peer.send('bootstrap', { opCode: OpCode.M_READ, invokeId: 9, ...KEEPALIVE_OBJECT });
    const stranger = new RawPeer(net.attach('x'));
    await stranger.send('bootstrap', { opCode: OpCode.M_READ, invokeId: 9, ...KEEPALIVE_OBJECT });
    await settle();
    expect(peer.ofType(OpCode.M_READ_R)[0]).toMatchObject({ invokeId: 9, result: 0, ...KEEPALIVE_OBJECT });
    expect(stranger.ofType(OpCode.M_READ_R)[0]).toMatchObject({ invokeId: 9, result: -1, resultReason: 'not enrolled' });

    const released = vi.fn();
    enroller.on('member:released', released);
    await peer.send('bootstrap', { opCode: OpCode.M_RELEASE, invokeId: 10 });
    await settle();
    expect(peer.ofType(OpCode.M_RELEASE_R)[0]).toMatchObject({ invokeId: 10, result: 0 });
    expect(released).toHaveBeenCalledWith(expect.objectContaining({ name: 'member-1', address: 1002 }));
    expect(enroller.members()).toEqual([]);
  });

  it('repeats M_STOP with backoff until M_STOP_R arrives, and forgets a half-finished enrollment', async () => {
    vi.useFakeTimers();
    const { peer, enroller } = await connected('member-1', { holdMs: 1000 });
    await peer.send('bootstrap', start(2));
    await settle();
    peer.clear();
    await vi.advanceTimersByTimeAsync(250 + 500 + 1000 + 1);
    expect(peer.ofType(OpCode.M_STOP).length).toBe(3);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(enroller.pendingEnrollments).toBe(0);
    // the sweep timer stopped with the last session; the address it was told is held (holdMs), then no timer is left
    // (twice the hold: the sweep may have let the session go late in the 30 s above, and a hold ends on the wheel's
    // bucket after its time; at 1 s this failed once in CI)
    await vi.advanceTimersByTimeAsync(2000);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('start is idempotent, stop clears its timer, and a stopped enroller answers nothing', async () => {
    vi.useFakeTimers();
    const { peer, enroller } = await connected();
    await enroller.start();
    await peer.send('bootstrap', start(2));
    await settle();
    expect(vi.getTimerCount()).toBe(1);
    await enroller.stop();
    expect(vi.getTimerCount()).toBe(0);
    expect(enroller.running).toBe(false);
    await peer.send('bootstrap', connect(5));
    await settle();
    expect(peer.ofType(OpCode.M_CONNECT_R)).toHaveLength(1); // nobody answers while stopped
  });

  it('validates its options', () => {
    const net = new MemoryNetwork();
    const base = { shim: net.attach('b'), rib: new MemoryRib(), ipcpName: 'b', difName: 'd', addressPool: { first: 1, last: 9 } };
    expect(() => new Enroller({ ...base, addressPool: { first: 9, last: 1 } })).toThrow(/addressPool.last: must be >= addressPool.first/);
    expect(() => new Enroller({ ...base, addressPool: { first: 0, last: 1 } })).toThrow(/addressPool.first: must be >= 1/);
    expect(() => new Enroller({ ...base, addressPool: { first: 1, last: 2 ** 32 } })).toThrow(/addressWidth/);
    expect(() => new Enroller({ ...base, difName: '' })).toThrow(ConfigError);
    expect(() => new Enroller({ ...base, rib: {} as never })).toThrow(/rib: must implement Rib/);
  });
});
