/**
 * ConnectAnswerer and ChannelOpener through the Enroller, with HMAC-SHA256:
 * a retransmitted M_CONNECT is a repeat, answered as the first was, not a new
 * enrollment with a new nonce; sealed PDUs no channel opens get an answer only
 * when they are an M_START (the member connects again within its attempt). (Another name with the same invoke id: test/enroller/
 * enroller.paths.test.ts; a spoofed M_CONNECT during an enrollment:
 * test/auth/messages.test.ts.)
 */
import { afterEach, describe, expect, it } from 'vitest';
import { keepaliveRequest, Result } from '../../src/cdap/messages.js';
import { OpCode } from '../../src/index.js';
import { cleanup, settle, withEnroller } from '../support/helpers.js';
import { HmacPeer } from '../support/hmac-peer.js';

afterEach(cleanup);

const KEY = 'correct horse battery staple';
const AUTH = { mechanism: 'hmac-sha256', key: KEY } as const;

describe('ConnectAnswerer: a repeated M_CONNECT', () => {
  it('with HMAC-SHA256, a retransmitted M_CONNECT gets the very answer of the first (the same enroller nonce), and one enrollment', async () => {
    const { enroller, net } = await withEnroller({ auth: AUTH });
    const peer = new HmacPeer(net.attach('m-shim'), 'm', KEY);
    await peer.connect(1);
    await settle();
    await peer.connect(1);
    await settle();
    const [first, again] = peer.ofType(OpCode.M_CONNECT_R);
    expect(first).toMatchObject({ result: 0 });
    expect(again).toEqual(first);
    expect(enroller.pendingEnrollments).toBe(1);
  });
});

describe('ChannelOpener: sealed PDUs that no channel opens', () => {
  it('an M_START sealed for an enrollment the enroller forgot is answered "not connected", unsealed; any other such PDU, nothing', async () => {
    const { enroller, net } = await withEnroller({ auth: AUTH });
    const peer = new HmacPeer(net.attach('m-shim'), 'm', KEY);
    await peer.connect(1);
    await settle();
    await enroller.stop(); // it forgets the enrollment and its channel
    await enroller.start();
    await peer.send(keepaliveRequest(5));
    await peer.start(6);
    await settle();
    expect(peer.received.filter((m) => m.opCode !== OpCode.M_CONNECT_R)).toMatchObject([
      { opCode: OpCode.M_START_R, invokeId: 6, result: Result.NOT_CONNECTED, resultReason: 'not connected: send M_CONNECT first' },
    ]);
    expect(enroller.stats().unauthenticated).toBe(2);
  });

  it('a sealed M_START received twice (a duplicated datagram) is answered once; the copy is counted as replayed, not "not connected"', async () => {
    const { enroller, net } = await withEnroller({ auth: AUTH });
    const sent: Uint8Array[] = [];
    net.tap((p) => {
      if (p.from === 'm-shim') sent.push(p.pdu);
    });
    const shim = net.attach('m-shim');
    const peer = new HmacPeer(shim, 'm', KEY);
    await peer.connect(1);
    await settle();
    await peer.start(2);
    await settle();
    await shim.send('bootstrap', sent.at(-1) as Uint8Array);
    await settle();
    expect(peer.ofType(OpCode.M_START_R).map((m) => m.result)).toEqual([0]);
    expect(enroller.stats().replayed).toBe(1);
  });
});
