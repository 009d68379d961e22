/**
 * Authenticated messages (hmac-sha256): every PDU after M_CONNECT_R is sealed
 * (src/auth/channel.ts). An on-path attacker sits between a member and its
 * enroller, relaying, rewriting, forging and replaying; each attack is also
 * run without authentication, where it succeeds, so the tests can fail.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { splitTag } from '../../src/auth/channel.js';
import {
  type AuthOptions,
  decodeCdapMessage,
  decodeEnrollmentInfo,
  EnrollmentTimeoutError,
  encodeCdapMessage,
  encodeEnrollmentInfo,
  MemoryNetwork,
  OpCode,
} from '../../src/index.js';
import { cleanup, member, withEnroller } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

const HMAC: AuthOptions = { mechanism: 'hmac-sha256', key: 'correct horse battery staple' };
const NONE: AuthOptions = { mechanism: 'none' };

type Direction = 'up' | 'down';

/**
 * A relay the member takes for its bootstrap ('mitm'); it talks to the
 * enroller from 'mitm-up'. It records what passes, may rewrite or drop it,
 * and may inject datagrams either way.
 */
class Mitm {
  readonly seen: Record<Direction, Uint8Array[]> = { up: [], down: [] };
  rewrite: (pdu: Uint8Array, direction: Direction) => Uint8Array | undefined = (pdu) => pdu;
  readonly #front;
  readonly #back;
  constructor(net: MemoryNetwork) {
    this.#front = net.attach('mitm');
    this.#back = net.attach('mitm-up');
    this.#front.onReceive((pdu) => this.#relay(pdu, 'up'));
    this.#back.onReceive((pdu) => this.#relay(pdu, 'down'));
  }
  #relay(pdu: Uint8Array, direction: Direction): void {
    this.seen[direction].push(Uint8Array.from(pdu));
    const out = this.rewrite(pdu, direction);
    if (out !== undefined) void this.inject(out, direction);
  }
  /** Sends `pdu` as if it came from the enroller (down) or from the member (up). */
  inject(pdu: Uint8Array, direction: Direction): Promise<void> {
    return direction === 'up' ? this.#back.send('bootstrap', pdu) : this.#front.send('m', pdu);
  }
  /** The PDUs seen going `direction` with this op code. */
  of(direction: Direction, opCode: OpCode): Uint8Array[] {
    return this.seen[direction].filter((p) => decodeCdapMessage(p).opCode === opCode);
  }
}

/** An attacker's edit that keeps the tag it found (it cannot make a new one). */
function withAddress(pdu: Uint8Array, address: number): Uint8Array {
  const msg = decodeCdapMessage(pdu);
  const info = decodeEnrollmentInfo(msg.objValue?.byteval ?? new Uint8Array());
  const body = encodeCdapMessage({ ...msg, objValue: { byteval: encodeEnrollmentInfo({ ...info, address }) } });
  const tag = splitTag(pdu)?.tag;
  return tag === undefined ? body : Uint8Array.from([...body, 0xa2, 0x06, tag.length, ...tag]);
}

async function world(auth: AuthOptions, config = {}) {
  vi.useFakeTimers();
  const net = new MemoryNetwork({ seed: 5 });
  const { enroller } = await withEnroller({ auth, leaseMs: 1000, holdMs: 1000 }, net);
  const mitm = new Mitm(net);
  const { mgr } = member(
    net,
    'm',
    { timeoutMs: 400, maxRetries: 1, heartbeatIntervalSecs: 0.1, connectionTimeoutSecs: 5, ...config },
    { auth, difName: 'demo.DIF' },
  );
  return { net, enroller, mitm, mgr };
}

describe('authenticated messages (hmac-sha256)', () => {
  it('an on-path attacker rewrites the address in M_START_R, keeping the tag: the member drops it and never takes that address (without authentication it does)', async () => {
    const outcomes: Array<number | string> = [];
    for (const auth of [HMAC, NONE]) {
      const { mitm, mgr } = await world(auth);
      mitm.rewrite = (pdu, direction) =>
        direction === 'down' && decodeCdapMessage(pdu).opCode === OpCode.M_START_R ? withAddress(pdu, 1500) : pdu;
      const enrolled = mgr.enrolWithBootstrap('mitm').then(
        () => mgr.address as number,
        (err: Error) => err.name,
      );
      await vi.advanceTimersByTimeAsync(1000);
      outcomes.push(await enrolled);
      if (auth === HMAC) {
        expect(mgr.metrics().dropped.unauthenticated).toBeGreaterThan(0);
        expect(mgr.address).toBeUndefined();
      }
      await cleanup();
      vi.useRealTimers();
    }
    expect(outcomes).toEqual([EnrollmentTimeoutError.name, 1500]);
  });

  it('every PDU after M_CONNECT_R carries a tag, both ways (START, the RIB sync, STOP, keepalives); M_CONNECT and M_CONNECT_R none', async () => {
    const { mitm, mgr, enroller } = await world(HMAC);
    await Promise.all([mgr.enrolWithBootstrap('mitm'), vi.advanceTimersByTimeAsync(100)]);
    mgr.startConnectionMonitoring();
    await vi.advanceTimersByTimeAsync(350);
    const ops = (d: Direction) => new Set(mitm.seen[d].map((p) => decodeCdapMessage(p).opCode));
    expect([...ops('up')]).toEqual(
      expect.arrayContaining([OpCode.M_CONNECT, OpCode.M_START, OpCode.M_CREATE_R, OpCode.M_STOP_R, OpCode.M_READ]),
    );
    expect([...ops('down')]).toEqual(
      expect.arrayContaining([OpCode.M_CONNECT_R, OpCode.M_START_R, OpCode.M_CREATE, OpCode.M_STOP, OpCode.M_READ_R]),
    );
    for (const d of ['up', 'down'] as const) {
      for (const pdu of mitm.seen[d]) {
        const op = decodeCdapMessage(pdu).opCode;
        const handshake = op === OpCode.M_CONNECT || op === OpCode.M_CONNECT_R;
        expect(splitTag(pdu) === undefined, `${d} op ${op}`).toBe(handshake);
      }
    }
    expect(enroller.members()).toHaveLength(1);
    expect(enroller.stats()).toMatchObject({ unauthenticated: 0, replayed: 0 });
    expect(mgr.metrics().dropped).toEqual({ unauthenticated: 0, replayed: 0 });
  });

  it("a forged M_RELEASE or keepalive refusal, and a replay of the enroller's own sealed M_STOP, are dropped and counted: the member stays enrolled (without authentication the forgery ends its enrollment)", async () => {
    const outages: number[] = [];
    for (const auth of [HMAC, NONE]) {
      const { mitm, mgr } = await world(auth);
      await Promise.all([mgr.enrolWithBootstrap('mitm'), vi.advanceTimersByTimeAsync(100)]);
      mgr.startConnectionMonitoring();
      await vi.advanceTimersByTimeAsync(250);
      await mitm.inject(encodeCdapMessage({ opCode: OpCode.M_RELEASE, invokeId: 900 }), 'down');
      if (auth === HMAC) {
        // a refusal of a keepalive: the member's keepalives carry small sequential ids, try a range
        for (let id = 1; id < 40; id++) {
          await mitm.inject(
            encodeCdapMessage({ opCode: OpCode.M_READ_R, invokeId: id, objClass: 'keepalive', objName: '/mgmt/keepalive', result: -1 }),
            'down',
          );
        }
        const stop = mitm.of('down', OpCode.M_STOP)[0] as Uint8Array;
        await mitm.inject(stop, 'down');
        await vi.advanceTimersByTimeAsync(10);
        expect(mgr.metrics().dropped).toEqual({ unauthenticated: 40, replayed: 1 });
      }
      await vi.advanceTimersByTimeAsync(300);
      outages.push(mgr.metrics().outages);
      if (auth === HMAC) expect(mgr.state.type).toBe('enrolled');
      await cleanup();
      vi.useRealTimers();
    }
    expect(outages).toEqual([0, 1]);
  });

  it('replayed keepalives do not keep a silent member alive at the enroller (without authentication they do)', async () => {
    const gone: boolean[] = [];
    for (const auth of [HMAC, NONE]) {
      const { mitm, mgr, enroller } = await world(auth);
      await Promise.all([mgr.enrolWithBootstrap('mitm'), vi.advanceTimersByTimeAsync(100)]);
      mgr.startConnectionMonitoring();
      await vi.advanceTimersByTimeAsync(350);
      const keepalives = mitm.of('up', OpCode.M_READ);
      expect(keepalives.length).toBeGreaterThan(1);
      // The member falls silent (its datagrams stop at the relay), and the relay replays its keepalives.
      mitm.rewrite = (pdu, direction) => (direction === 'up' ? undefined : pdu);
      let left = false;
      enroller.on('member:gone', () => {
        left = true;
      });
      for (let i = 0; i < 30; i++) {
        await mitm.inject(keepalives[i % keepalives.length] as Uint8Array, 'up');
        await vi.advanceTimersByTimeAsync(100);
      }
      gone.push(left);
      if (auth === HMAC) {
        // replays while it is listed; once it is gone there is no channel left to open them with
        const { replayed, unauthenticated } = enroller.stats();
        expect(replayed).toBeGreaterThan(0);
        expect(replayed + unauthenticated).toBe(30);
      }
      await cleanup();
      vi.useRealTimers();
    }
    expect(gone).toEqual([true, false]);
  });
});
