/**
 * The enroller's own CPU, with no sockets and no member code: one real
 * enrollment's datagrams are recorded once (an EnrollmentManager and an
 * Enroller on a MemoryNetwork), then replayed to a fresh Enroller in this
 * process through a shim that only counts, each member under a name of the
 * same length (so every length prefix stays right), its next datagram sent
 * when the enroller's datagrams before it in the recording have come. What
 * is measured is the enroller's code (decode, admission, assignment, the
 * store, encode, its timers and garbage) and the replay's own copying, which
 * is measured apart. Keepalives are replayed the same way, from every member
 * in turn.
 */
import type { Shim, ShimHandler } from '../../src/index.js';
import { cpuMs, fullGc } from './env.js';
import { Enroller, EnrollmentManager, encodeCdapMessage, KEEPALIVE_OBJECT, MemoryNetwork, MemoryRib, OpCode } from './lib.js';

/** One datagram of a recorded exchange: the member's ('out') or the enroller's ('in'). */
export type Step = readonly ['out' | 'in', Uint8Array];

const NAME = 'replay-000000000';

/** `shim`, recording into `steps` a copy of every datagram it sends and receives, in order. */
export function recording(shim: Shim, steps: Step[]): Shim {
  return {
    localAddress: shim.localAddress,
    send: (to, pdu) => {
      steps.push(['out', pdu.slice()]);
      return shim.send(to, pdu);
    },
    onReceive: (handler) =>
      shim.onReceive((pdu, from) => {
        steps.push(['in', pdu.slice()]);
        handler(pdu, from);
      }),
    close: () => shim.close(),
  };
}

/** The datagrams of one enrollment, the member's ('out') and the enroller's ('in'), up to the member's M_STOP_R. */
async function record(): Promise<Step[]> {
  const net = new MemoryNetwork();
  const enroller = new Enroller({
    shim: net.attach('e'),
    rib: new MemoryRib(),
    ipcpName: 'e',
    difName: 'bench.DIF',
    addressPool: { first: 1, last: 9 },
  });
  await enroller.start();
  const steps: Step[] = [];
  const member = new EnrollmentManager({ shim: recording(net.attach(NAME), steps), rib: new MemoryRib(), ipcpName: NAME });
  await member.enrolWithBootstrap('e');
  await member.close();
  await enroller.stop();
  let outs = 0;
  const end = steps.findIndex(([dir]) => dir === 'out' && ++outs === 5); // the member's fifth datagram is past M_STOP_R (its M_RELEASE)
  return end < 0 ? steps : steps.slice(0, end);
}

/** The recorded steps for member `name` (NAME's length): copies with the name's bytes replaced. */
function scripter(steps: Step[]): (name: string) => Step[] {
  const from = Buffer.from(NAME);
  const at = steps.map(([, pdu]) => {
    const offsets: number[] = [];
    const bytes = Buffer.from(pdu.buffer, pdu.byteOffset, pdu.length);
    for (let i = bytes.indexOf(from); i >= 0; i = bytes.indexOf(from, i + 1)) offsets.push(i);
    return offsets;
  });
  return (name) => {
    const to = Buffer.from(name);
    return steps.map(([dir, pdu], k) => {
      const copy = pdu.slice();
      for (const offset of at[k] ?? []) copy.set(to, offset);
      return [dir, copy] as const;
    });
  };
}

export interface ReplayResult {
  members: number;
  /** Enroller CPU per enrollment, replay's copying included (µs). */
  usPerEnrollment: number;
  /** The replay's own copying per enrollment, with no enroller (µs). */
  usCopyingPerEnrollment: number;
  /** Enroller CPU per keepalive, every member in turn (µs). */
  usPerKeepalive: number;
  /** Shim addresses the enroller's flood guard holds at the end. */
  trackedPeers: number;
}

/** Enrols `members` (500 at a time) into a fresh enroller by replay, then sends `rounds` keepalives from each. */
export async function replayEnroller(members: number, rounds: number): Promise<ReplayResult> {
  if (!(members > 2000)) throw new RangeError(`replayEnroller: ${members} members; the first 2,000 warm the code up, unmeasured`);
  const script = scripter(await record());
  let handler: ShimHandler = () => undefined;
  const inFlight = new Map<string, { steps: Step[]; next: number; done: () => void }>();
  let queue: Array<[Uint8Array, string]> = [];
  const flush = (): void => {
    const now = queue;
    queue = [];
    for (const [pdu, from] of now) handler(pdu, from);
  };
  const deliver = (pdu: Uint8Array, from: string): void => {
    if (queue.push([pdu, from]) === 1) setImmediate(flush); // delivered on a later turn, as a socket would
  };
  const advance = (peer: string): void => {
    const p = inFlight.get(peer);
    if (p === undefined) return;
    for (let step = p.steps[p.next]; step !== undefined && step[0] === 'out'; step = p.steps[++p.next]) deliver(step[1], peer);
    if (p.next === p.steps.length) {
      inFlight.delete(peer);
      p.done();
    }
  };
  const shim: Shim = {
    localAddress: 'e',
    send: (to) => {
      const p = inFlight.get(to);
      if (p !== undefined && p.steps[p.next]?.[0] === 'in') {
        p.next++;
        advance(to);
      }
      return Promise.resolve();
    },
    onReceive: (h) => {
      handler = h;
      return () => undefined;
    },
    close: () => Promise.resolve(),
  };
  const enroller = new Enroller({
    shim,
    rib: new MemoryRib(),
    ipcpName: 'e',
    difName: 'bench.DIF',
    addressPool: { first: 1, last: 10_000_000 },
  });
  await enroller.start();
  let seq = 0;
  const names: string[] = [];
  const enrolOne = (): Promise<void> =>
    new Promise((done) => {
      const name = `replay-${String(seq++).padStart(9, '0')}`;
      names.push(name);
      inFlight.set(name, { steps: script(name), next: 0, done });
      advance(name);
    });
  const enrol = async (n: number): Promise<void> => {
    let left = n;
    await Promise.all(
      Array.from({ length: 500 }, async () => {
        while (left-- > 0) await enrolOne();
      }),
    );
  };
  try {
    const warm = Math.min(2000, members);
    await enrol(warm); // so that the enroller's code is optimised
    await fullGc();
    const c0 = cpuMs();
    await enrol(members - warm);
    // The last members' M_CREATE_R and M_STOP_R, handed over when their scripts ran out, are read in the window too.
    while (queue.length > 0) await new Promise((r) => setImmediate(r));
    const enrolMs = cpuMs() - c0;
    await fullGc();
    const keepalive = encodeCdapMessage({ opCode: OpCode.M_READ, invokeId: 7, ...KEEPALIVE_OBJECT });
    const k0 = cpuMs();
    for (let r = 0; r < rounds; r++) {
      for (const name of names) handler(keepalive, name);
      await new Promise((r) => setImmediate(r));
    }
    const keepaliveMs = cpuMs() - k0;
    const x0 = cpuMs();
    for (let i = 0; i < members - warm; i++) script(`replay-${String(i).padStart(9, '0')}`);
    const copyMs = cpuMs() - x0;
    return {
      members: enroller.members().length,
      usPerEnrollment: (enrolMs * 1000) / (members - warm),
      usCopyingPerEnrollment: (copyMs * 1000) / (members - warm),
      usPerKeepalive: (keepaliveMs * 1000) / (rounds * names.length),
      trackedPeers: enroller.stats().trackedPeers,
    };
  } finally {
    await enroller.stop();
  }
}
