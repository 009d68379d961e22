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

  it('an unsealed M_CONNECT, replayed or refused, is no sign of life: a dead member is still let go after its lease (without authentication it is kept)', async () => {
    const listedAfter: boolean[] = [];
    for (const auth of [HMAC, NONE]) {
      const { mitm, mgr, enroller } = await world(auth);
      await Promise.all([mgr.enrolWithBootstrap('mitm'), vi.advanceTimersByTimeAsync(100)]);
      mgr.startConnectionMonitoring();
      await vi.advanceTimersByTimeAsync(300);
      const connect = mitm.of('up', OpCode.M_CONNECT)[0] as Uint8Array;
      const refused = encodeCdapMessage({ ...decodeCdapMessage(connect), invokeId: 500, destApName: 'elsewhere' });
      mitm.rewrite = (pdu, direction) => (direction === 'up' ? undefined : pdu); // the member is dead
      for (let i = 0; i < 20; i++) {
        await mitm.inject(i % 2 === 0 ? connect : refused, 'up');
        await vi.advanceTimersByTimeAsync(200);
      }
      listedAfter.push(enroller.members().length > 0);
      await cleanup();
      vi.useRealTimers();
    }
    expect(listedAfter).toEqual([false, true]);
  });

  it("a spoofed M_CONNECT during an enrollment does not end it: the member stays listed with the address it was given (without authentication the enrollment ends unlisted, though the address stays the member's)", async () => {
    const holders: string[][] = [];
    const listed: string[][] = [];
    for (const auth of [HMAC, NONE]) {
      vi.useFakeTimers();
      const net = new MemoryNetwork({ seed: 5 });
      const { enroller } = await withEnroller({ auth, addressPool: { first: 1002, last: 1002 } }, net);
      const mitm = new Mitm(net);
      const victim = member(net, 'm', { timeoutMs: 400, maxRetries: 1 }, { auth, difName: 'demo.DIF' }).mgr;
      let spoofed = false;
      mitm.rewrite = (pdu, direction) => {
        if (!spoofed && direction === 'down' && decodeCdapMessage(pdu).opCode === OpCode.M_STOP) {
          spoofed = true; // just before the member's M_STOP_R: its own M_CONNECT again, with a new invoke id
          void mitm.inject(
            encodeCdapMessage({ ...decodeCdapMessage(mitm.of('up', OpCode.M_CONNECT)[0] as Uint8Array), invokeId: 77 }),
            'up',
          );
        }
        return pdu;
      };
      await Promise.all([victim.enrolWithBootstrap('mitm'), vi.advanceTimersByTimeAsync(100)]);
      const second = member(net, 'm2', { timeoutMs: 300, maxRetries: 1 }, { auth, difName: 'demo.DIF' }).mgr;
      await Promise.all([second.enrolWithBootstrap('bootstrap').catch(() => undefined), vi.advanceTimersByTimeAsync(400)]);
      expect(spoofed).toBe(true);
      holders.push([victim, second].filter((m) => m.address === 1002).map((m) => m.ipcpName as string));
      listed.push(enroller.members().map((m) => `${m.name}=${m.address}`));
      await cleanup();
      vi.useRealTimers();
    }
    expect(listed).toEqual([['m=1002'], []]);
    // The spoof, the member's own name from its own shim address, takes over the address bound for the member: nobody else gets it.
    expect(holders).toEqual([['m'], ['m']]);
  });

  it("a malformed unsealed PDU is answered unsealed, never through a member's channel: an attacker cannot make the enroller refuse a member's M_START for it", async () => {
    const { mitm, mgr } = await world(HMAC, { timeoutMs: 400, maxRetries: 2 });
    let forged = 0;
    mitm.rewrite = (pdu, direction) => {
      if (direction === 'up' && forged === 0 && decodeCdapMessage(pdu).opCode === OpCode.M_START) {
        forged++;
        // the member's own M_START without its tag, plus `result` (field 9): a request must not carry one
        void mitm.inject(Uint8Array.from([...(splitTag(pdu)?.body ?? pdu), 0x48, 0x01]), 'up');
      }
      return pdu;
    };
    await Promise.all([mgr.enrolWithBootstrap('mitm'), vi.advanceTimersByTimeAsync(200)]);
    expect(forged).toBe(1);
    expect(mgr.state.type).toBe('enrolled');
    const refusals = mitm.of('down', OpCode.M_START_R).filter((p) => decodeCdapMessage(p).result !== 0);
    expect(refusals.length).toBeGreaterThan(0);
    for (const p of refusals) expect(splitTag(p)).toBeUndefined();
  });

  it("a RIB sync of 300 objects with reordering completes (the member's replay window covers the burst)", async () => {
    vi.useFakeTimers();
    const net = new MemoryNetwork({ seed: 9 });
    const { rib } = await withEnroller({ auth: HMAC }, net);
    for (let i = 0; i < 300; i++) await rib.write({ name: `/dif/o${i}`, class: 'obj', value: { intval: i } });
    net.setFaults({ jitterMs: 20 });
    const { mgr } = member(net, 'm', { timeoutMs: 2000, maxRetries: 1 }, { auth: HMAC, difName: 'demo.DIF' });
    await Promise.all([mgr.enrolWithBootstrap('bootstrap'), vi.advanceTimersByTimeAsync(2000)]);
    expect(mgr.state.type).toBe('enrolled');
  });

  it('10 members enrol and stay enrolled under loss, duplication and jitter (duplicates are dropped as replays, harmlessly)', async () => {
    vi.useFakeTimers();
    const net = new MemoryNetwork({ seed: 11 });
    const { enroller } = await withEnroller({ auth: HMAC, leaseMs: 3000 }, net);
    net.setFaults({ drop: 0.1, duplicate: 0.3, jitterMs: 15 });
    const members = Array.from(
      { length: 10 },
      (_, i) =>
        member(
          net,
          `m${i}`,
          { timeoutMs: 1000, maxRetries: 5, heartbeatIntervalSecs: 0.2, connectionTimeoutSecs: 2 },
          { auth: HMAC, difName: 'demo.DIF' },
        ).mgr,
    );
    await Promise.all([...members.map((m) => m.enrolWithBootstrap('bootstrap')), vi.advanceTimersByTimeAsync(5000)]);
    for (const m of members) m.startConnectionMonitoring();
    await vi.advanceTimersByTimeAsync(5000);
    expect(members.map((m) => m.state.type)).toEqual(Array(10).fill('enrolled'));
    expect(members.reduce((n, m) => n + m.metrics().outages, 0)).toBe(0);
    expect(enroller.members()).toHaveLength(10);
    expect(enroller.stats().replayed + members.reduce((n, m) => n + m.metrics().dropped.replayed, 0)).toBeGreaterThan(0);
  });

  it("after a failover the member still answers its former enroller's liveness probe, through that enrollment's channel: a second IPCP with its name is refused there (-3)", async () => {
    vi.useFakeTimers();
    const net = new MemoryNetwork({ seed: 3 });
    const { enroller: e1 } = await withEnroller({ auth: HMAC, leaseMs: 60_000 }, net, 'e1');
    await withEnroller({ auth: HMAC, addressPool: { first: 2002, last: 2999 } }, net, 'e2');
    const { mgr } = member(
      net,
      'm',
      { timeoutMs: 500, maxRetries: 1, heartbeatIntervalSecs: 0.1, connectionTimeoutSecs: 0.5 },
      { auth: HMAC, difName: 'demo.DIF' },
    );
    await Promise.all([mgr.enrolWithBootstrap('e1'), vi.advanceTimersByTimeAsync(100)]);
    await Promise.all([mgr.enrolWithBootstrap('e2'), vi.advanceTimersByTimeAsync(100)]);
    expect(e1.members().map((m) => m.name)).toEqual(['m']); // e1 still lists it
    // asked "busy" (-5) while e1 probes the holder, then told the truth
    const duplicate = member(
      net,
      'dup',
      { timeoutMs: 1000, maxRetries: 4, initialBackoffMs: 200 },
      { auth: HMAC, difName: 'demo.DIF', ipcpName: 'm' },
    ).mgr;
    const outcome = duplicate.enrolWithBootstrap('e1').then(
      () => 'enrolled',
      (err: Error & { result?: number }) => err.result ?? `${err.name}: ${err.message}`,
    );
    await vi.advanceTimersByTimeAsync(8000);
    expect(await outcome).toBe(-3);
    expect(mgr.metrics().dropped.unauthenticated).toBe(0);
  });

  it("a PDU withheld under an enrollment's channel and delivered during the next enrollment from that address does not act on it", async () => {
    const { mitm, mgr, enroller } = await world(HMAC, { timeoutMs: 2000, maxRetries: 1 });
    // First enrollment: the first M_START_R is lost, so the member sends M_START again; the relay withholds that copy.
    let startRs = 0;
    let starts = 0;
    let withheld: Uint8Array | undefined;
    mitm.rewrite = (pdu, direction) => {
      const op = decodeCdapMessage(pdu).opCode;
      if (direction === 'down' && op === OpCode.M_START_R && startRs++ === 0) return undefined;
      if (direction === 'up' && op === OpCode.M_START && starts++ === 1) {
        withheld = Uint8Array.from(pdu);
        return undefined;
      }
      return pdu;
    };
    await Promise.all([mgr.enrolWithBootstrap('mitm'), vi.advanceTimersByTimeAsync(1500)]);
    expect(mgr.state.type).toBe('enrolled');
    expect(withheld).toBeDefined();
    // Next enrollment from the same address: as its M_CONNECT_R goes down, the withheld M_START goes up.
    let connectRs = 0;
    mitm.rewrite = (pdu, direction) => {
      if (direction === 'down' && decodeCdapMessage(pdu).opCode === OpCode.M_CONNECT_R && connectRs++ === 0) {
        void mitm.inject(withheld as Uint8Array, 'up');
      }
      return pdu;
    };
    const again = mgr.reEnroll().then(
      () => 'enrolled',
      (err: Error) => `${err.name}: ${err.message}`,
    );
    await vi.advanceTimersByTimeAsync(1500);
    expect(connectRs).toBe(1);
    expect(await again).toBe('enrolled');
    expect(enroller.stats().authFailures).toBe(0);
    expect(enroller.members().map((m) => m.address)).toEqual([mgr.address]);
  });
});
