/**
 * The scripted enroller follows every outcome of its script, its own
 * requests (M_CREATE, M_STOP) included, and refuses a script it could not
 * follow when it is given.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ConfigError,
  decodeCdapMessage,
  encodeCdapMessage,
  EnrollmentManager,
  EnrollmentRejectedError,
  EnrollmentTimeoutError,
  MemoryRib,
  OpCode,
  ProtocolError,
} from '../../src/index.js';
import { createMockShim, createScriptedEnroller, type EnrollerScript, type MockShim, settle } from '../../src/testing/index.js';

const managers: EnrollmentManager[] = [];
afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.close()));
  vi.useRealTimers();
});

const OBJECT = { name: '/dif/policy/x', class: 'policy', value: { strval: 'p' } };

function manager(shim: MockShim, rib = new MemoryRib()): EnrollmentManager {
  const mgr = new EnrollmentManager({ shim, rib, ipcpName: 'ipcp', config: { maxRetries: 1, timeoutMs: 1000 } });
  managers.push(mgr);
  return mgr;
}

/** What the member was handed, by op code name (a PDU that is not CDAP: 'malformed'), in order. */
function handed(shim: MockShim): string[] {
  const seen: string[] = [];
  shim.onReceive((pdu) => {
    try {
      const op = decodeCdapMessage(pdu).opCode;
      seen.push(Object.entries(OpCode).find(([, v]) => v === op)?.[0] ?? String(op));
    } catch {
      seen.push('malformed');
    }
  });
  return seen;
}

describe("the scripted enroller's own requests, M_CREATE and M_STOP", () => {
  it("'ok': the objects and M_STOP come after M_START_R, in that order", async () => {
    const shim = createMockShim();
    const order = handed(shim);
    createScriptedEnroller(shim, { objects: [OBJECT] });
    const rib = new MemoryRib();
    await expect(manager(shim, rib).enrolWithBootstrap('bootstrap')).resolves.toBe('demo.DIF');
    expect(order).toEqual(['M_CONNECT_R', 'M_START_R', 'M_CREATE', 'M_STOP']);
    expect(rib.read(OBJECT.name)?.value).toEqual(OBJECT.value);
  });

  it('stop: a delay holds the enrollment back that long; silence and a malformed PDU end the attempt without it', async () => {
    vi.useFakeTimers();
    const late = createMockShim();
    createScriptedEnroller(late, { stop: { ok: true, delayMs: 600 } });
    const mgr = manager(late);
    const enrolled = mgr.enrolWithBootstrap('bootstrap');
    await vi.advanceTimersByTimeAsync(599);
    expect(mgr.state.type).toBe('enrolling');
    await vi.advanceTimersByTimeAsync(1);
    await expect(enrolled).resolves.toBe('demo.DIF');

    const silent = createMockShim();
    createScriptedEnroller(silent, { stop: 'silence' });
    const a = manager(silent)
      .enrolWithBootstrap('bootstrap')
      .catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(1000);
    expect(await a).toBeInstanceOf(EnrollmentTimeoutError);
    expect(silent.messages().map((m) => m.opCode)).not.toContain(OpCode.M_STOP_R);

    const garbled = createMockShim();
    const order = handed(garbled);
    createScriptedEnroller(garbled, { stop: 'malformed' });
    const b = manager(garbled)
      .enrolWithBootstrap('bootstrap')
      .catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(1000);
    const err = (await b) as EnrollmentTimeoutError;
    expect(err).toBeInstanceOf(EnrollmentTimeoutError);
    expect(err.cause).toBeInstanceOf(ProtocolError);
    expect(order.slice(0, 3)).toEqual(['M_CONNECT_R', 'M_START_R', 'malformed']); // then the member's M_START again
  });

  it('create: a malformed PDU in place of the objects, or objects held back, leave M_STOP short of them', async () => {
    vi.useFakeTimers();
    for (const create of ['malformed', 'silence'] as const) {
      const shim = createMockShim();
      const order = handed(shim);
      createScriptedEnroller(shim, { objects: [OBJECT], create });
      const rib = new MemoryRib();
      const a = manager(shim, rib)
        .enrolWithBootstrap('bootstrap')
        .catch((e: unknown) => e);
      await vi.advanceTimersByTimeAsync(1000);
      expect(await a, create).toBeInstanceOf(EnrollmentTimeoutError);
      expect(rib.read(OBJECT.name), create).toBeUndefined();
      const first = create === 'malformed' ? ['M_CONNECT_R', 'M_START_R', 'malformed', 'M_STOP'] : ['M_CONNECT_R', 'M_START_R', 'M_STOP'];
      expect(order.slice(0, first.length), create).toEqual(first);
    }
  });

  it('create: objects sent after a delay arrive after M_STOP', async () => {
    vi.useFakeTimers();
    const shim = createMockShim();
    const order = handed(shim);
    createScriptedEnroller(shim, { objects: [OBJECT], create: { ok: true, delayMs: 300 } });
    const a = manager(shim)
      .enrolWithBootstrap('bootstrap')
      .catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(1000);
    await a;
    expect(order.slice(0, 3)).toEqual(['M_CONNECT_R', 'M_START_R', 'M_STOP']);
    expect(order.indexOf('M_CREATE')).toBeGreaterThan(2); // 300 ms later
  });
});

describe('a script the scripted enroller cannot follow', () => {
  const refusals: Array<[string, unknown, RegExp]> = [
    ['a rejection of its own M_STOP', { stop: { reject: 'no' } }, /script\.stop: .*cannot be rejected/],
    ['a rejection of its own M_CREATE', { create: { reject: 'no', result: -1 } }, /script\.create: .*cannot be rejected/],
    ['an unknown outcome', { connect: 'maybe' }, /script\.connect: must be 'ok', 'silence', 'malformed'/],
    ['a negative delay', { keepalive: { ok: true, delayMs: -1 } }, /script\.keepalive\.delayMs: must be >= 0/],
    ['a rejection with result 0 (success)', { start: { reject: 'no', result: 0 } }, /script\.start\.result: must not be 0/],
    // (found by a new user's review: the member saw "M_START refused", the wire carrying no empty reason)
    ['an empty rejection reason', { start: { reject: '' } }, /script\.start\.reject: must not be empty/],
    ['an address the member could not be sent', { assign: -1 }, /script\.assign: must be >= 0/],
    ['an empty enroller address', { address: '' }, /script\.address: must not be empty/],
    ['an object that is not a RIB object', { objects: [{ name: '/x' }] }, /script\.objects\.0: must be a RIB object/],
    ['an unknown field', { conect: 'ok' }, /script: unknown option "conect"/],
    // found by an audit (2026-12-06): accepted, then thrown uncaught from a microtask at every M_START
    [
      'an object the codec cannot encode',
      { objects: [{ name: '/x', class: 'c', value: { int64val: 2n ** 80n } }] },
      /script\.objects\.0: must be a RIB object the CDAP codec can encode/,
    ],
    ['an object whose byteval is a string', { objects: [{ name: '/x', class: 'c', value: { byteval: 'abc' } }] }, /script\.objects\.0: /],
  ];

  it.each(refusals)(
    '%s: ConfigError from createScriptedEnroller, and from update() with the script unchanged',
    async (_what, bad, message) => {
      expect(() => createScriptedEnroller(createMockShim(), bad as EnrollerScript)).toThrow(ConfigError);
      expect(() => createScriptedEnroller(createMockShim(), bad as EnrollerScript)).toThrow(message);
      const shim = createMockShim();
      const enroller = createScriptedEnroller(shim, { assign: 7 });
      expect(() => enroller.update(bad as EnrollerScript)).toThrow(message);
      const mgr = manager(shim);
      await expect(mgr.enrolWithBootstrap('bootstrap')).resolves.toBe('demo.DIF');
      expect(mgr.address).toBe(7);
    },
  );
});

describe('the shim it is given', () => {
  it('must be a mock shim: anything else is a ConfigError', () => {
    for (const bad of [null, {}, { onSend: () => undefined }]) {
      expect(() => createScriptedEnroller(bad as never)).toThrow(/shim: must be a MockShim from createMockShim\(\)/);
    }
  });
});

describe('update(), stop() and the script fields', () => {
  it('update(): what it names changes from the next request; what it leaves out keeps its value', async () => {
    const shim = createMockShim();
    const enroller = createScriptedEnroller(shim, { assign: 2000, difName: 'a.DIF' });
    const mgr = manager(shim);
    await mgr.enrolWithBootstrap('bootstrap');
    enroller.update({ start: { reject: 'full', result: -3 } });
    const refused = (await mgr.reEnroll().catch((e: unknown) => e)) as EnrollmentRejectedError;
    expect(refused).toBeInstanceOf(EnrollmentRejectedError);
    expect(refused).toMatchObject({ reason: 'full', result: -3 });
    enroller.update({ start: 'ok' });
    await expect(mgr.reEnroll()).resolves.toBe('a.DIF');
    expect(mgr.address).toBe(2000);
  });

  it('address and ipcpName: the enroller answers only at its address, under its name', async () => {
    const shim = createMockShim();
    const enroller = createScriptedEnroller(shim, { address: 'e7', ipcpName: 'enroller-7' });
    const answers: Array<{ from: string; op: number; srcApName: string | undefined }> = [];
    shim.onReceive((pdu, from) => {
      const msg = decodeCdapMessage(pdu);
      answers.push({ from, op: msg.opCode, srcApName: msg.srcApName });
    });
    await expect(manager(shim).enrolWithBootstrap('e7')).resolves.toBe('demo.DIF');
    expect(enroller.received[0]?.opCode).toBe(OpCode.M_CONNECT);
    expect(answers[0]).toEqual({ from: 'e7', op: OpCode.M_CONNECT_R, srcApName: 'enroller-7' });
    expect(answers.every((a) => a.from === 'e7')).toBe(true);

    vi.useFakeTimers();
    const other = createMockShim();
    const elsewhere = createScriptedEnroller(other, { address: 'e7' });
    const a = manager(other)
      .enrolWithBootstrap('bootstrap')
      .catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(1000);
    expect(await a).toBeInstanceOf(EnrollmentTimeoutError);
    expect(elsewhere.received).toEqual([]);
  });

  it('stop(): no answer from then on, to anything, and nothing more recorded', async () => {
    vi.useFakeTimers();
    const shim = createMockShim();
    const enroller = createScriptedEnroller(shim, { start: { ok: true, delayMs: 100 } });
    const mgr = manager(shim);
    const a = mgr.enrolWithBootstrap('bootstrap').catch((e: unknown) => e);
    await settle();
    enroller.stop(); // with M_START_R on its way: it is not sent
    const before = enroller.received.length;
    await vi.advanceTimersByTimeAsync(1000);
    expect(await a).toBeInstanceOf(EnrollmentTimeoutError);
    expect(enroller.received.length).toBe(before);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('onSend(): observes every send until the function it returned is called', async () => {
    const shim = createMockShim();
    const seen: string[] = [];
    const off = shim.onSend(({ to, message }) => seen.push(`${to}:${message?.opCode}`));
    await shim.send('x', encodeCdapMessage({ opCode: OpCode.M_RELEASE, invokeId: 1 }));
    off();
    await shim.send('x', encodeCdapMessage({ opCode: OpCode.M_RELEASE, invokeId: 2 }));
    expect(seen).toEqual([`x:${OpCode.M_RELEASE}`]);
    expect(shim.sent).toHaveLength(2);
  });
});
