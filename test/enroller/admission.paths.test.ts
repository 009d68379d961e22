/**
 * ConnectAnswerer through the Enroller, with HMAC-SHA256: a retransmitted
 * M_CONNECT is a repeat, answered as the first was, not a new enrollment with
 * a new nonce. (Another name with the same invoke id: test/enroller/
 * enroller.paths.test.ts; a spoofed M_CONNECT during an enrollment:
 * test/auth/messages.test.ts.)
 */
import { afterEach, describe, expect, it } from 'vitest';
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
