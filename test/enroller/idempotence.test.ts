/**
 * The enroller answers what a lossy datagram network repeats, late, after
 * the enrollment completed, without a second address or a lost member: a
 * duplicated M_STOP_R, M_START or M_CONNECT arriving after the M_STOP_R, and
 * a duplicated M_RELEASE.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type CdapMessage,
  decodeEnrollmentInfo,
  ENROLLMENT_OBJECT,
  encodeEnrollmentInfo,
  type MemoryNetwork,
  OpCode,
} from '../../src/index.js';
import { cleanup, connectMsg, RawPeer, settle, withEnroller } from '../support/helpers.js';

const start = (invokeId: number, address = 0): CdapMessage => ({
  opCode: OpCode.M_START,
  invokeId,
  ...ENROLLMENT_OBJECT,
  objValue: { byteval: encodeEnrollmentInfo({ address }) },
});

/** A raw peer `name` enrolled in full (M_CONNECT 1, M_START 2, M_STOP_R); its M_STOP_R, for repeating. */
async function enrolled(name = 'm', options = {}) {
  const env = await withEnroller({ addressPool: { first: 1002, last: 1003 }, pendingTimeoutMs: 1000, ...options });
  const peer = new RawPeer(env.net.attach(name));
  await peer.send('bootstrap', connectMsg(1, name));
  await settle();
  await peer.send('bootstrap', start(2));
  await settle();
  const stop = peer.ofType(OpCode.M_STOP)[0];
  const stopReply: CdapMessage = { opCode: OpCode.M_STOP_R, invokeId: stop?.invokeId, ...ENROLLMENT_OBJECT, result: 0 };
  await peer.send('bootstrap', stopReply);
  await settle();
  expect(env.enroller.members()).toMatchObject([{ name, address: 1002 }]);
  peer.clear();
  return { ...env, peer, stopReply };
}

/** What a newcomer `name` asking for `address` is given: the result and address of its M_START_R. */
async function grantedTo(name: string, net: MemoryNetwork, address: number) {
  const peer = new RawPeer(net.attach(name));
  await peer.send('bootstrap', connectMsg(1, name));
  await settle();
  await peer.send('bootstrap', start(2, address));
  await settle();
  const reply = peer.ofType(OpCode.M_START_R)[0];
  return { result: reply?.result ?? 0, address: decodeEnrollmentInfo(reply?.objValue?.byteval ?? new Uint8Array()).address };
}

describe('Enroller: late duplicates after an enrollment completed', () => {
  afterEach(async () => {
    await cleanup();
    vi.useRealTimers();
  });

  it('a duplicated M_STOP_R changes nothing and is not answered', async () => {
    const { enroller, peer, stopReply } = await enrolled();
    const enrolledEvents: string[] = [];
    enroller.on('member:enrolled', ({ name }) => enrolledEvents.push(name));
    await peer.send('bootstrap', stopReply);
    await settle();
    expect(peer.received).toEqual([]);
    expect(enroller.members()).toMatchObject([{ name: 'm', address: 1002 }]);
    expect(enrolledEvents).toEqual([]);
  });

  it('a late M_START is refused as outside a connection (-2); the member keeps its one address', async () => {
    const { enroller, peer } = await enrolled();
    await peer.send('bootstrap', start(2));
    await settle();
    expect(peer.ofType(OpCode.M_START_R).map((r) => r.result)).toEqual([-2]);
    expect(peer.ofType(OpCode.M_CREATE)).toEqual([]);
    expect(enroller.members()).toMatchObject([{ name: 'm', address: 1002 }]);
    expect(enroller.stats().bound).toBe(1);
  });

  it('a late M_CONNECT opens a connection that expires unused: the member stays listed with its address, which nobody else gets', async () => {
    vi.useFakeTimers();
    const { enroller, net, peer } = await enrolled();
    await peer.send('bootstrap', connectMsg(1, 'm'));
    await settle();
    expect(peer.ofType(OpCode.M_CONNECT_R).map((r) => r.result)).toEqual([0]);
    await vi.advanceTimersByTimeAsync(2500); // past pendingTimeoutMs: the connection is forgotten
    expect(enroller.pendingEnrollments).toBe(0);
    expect(enroller.members()).toMatchObject([{ name: 'm', address: 1002 }]);
    // another member asking for 1002 gets the other address
    expect(await grantedTo('o', net, 1002)).toEqual({ result: 0, address: 1003 });
  });

  it('a duplicated M_RELEASE is answered twice alike; the member leaves once and its address is held, not given away', async () => {
    const { enroller, net, peer } = await enrolled();
    const released: string[] = [];
    enroller.on('member:released', ({ name }) => released.push(name));
    const release: CdapMessage = { opCode: OpCode.M_RELEASE, invokeId: 7 };
    await peer.send('bootstrap', release);
    await peer.send('bootstrap', release);
    await settle();
    expect(peer.ofType(OpCode.M_RELEASE_R).map((r) => [r.invokeId, r.result ?? 0])).toEqual([
      [7, 0],
      [7, 0],
    ]);
    expect(released).toEqual(['m']);
    expect(enroller.members()).toEqual([]);
    expect(await grantedTo('o', net, 1002)).toEqual({ result: 0, address: 1003 });
  });
});
