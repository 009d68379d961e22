import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigError, EnrollmentManager, EnrollmentTimeoutError, MemoryRib, OpCode, ProtocolError, ShimError } from '../../src/index.js';
import { createMockShim, createScriptedEnroller, settle } from '../../src/testing/index.js';

const managers: EnrollmentManager[] = [];
afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.close()));
  vi.useRealTimers();
});

const manager = (shim: ReturnType<typeof createMockShim>, config = {}) => {
  const mgr = new EnrollmentManager({
    shim,
    rib: new MemoryRib(),
    ipcpName: 'ipcp',
    config: { maxRetries: 1, timeoutMs: 1000, ...config },
  });
  managers.push(mgr);
  return mgr;
};

describe('createMockShim', () => {
  it('refuses a receive handler that is not a function with ShimError, as the library shims do', () => {
    const shim = createMockShim();
    expect(() => shim.onReceive(null as never)).toThrow(ShimError);
    shim.deliver(Uint8Array.of(1), 'peer'); // and a delivery after it does not throw
  });

  it('records sends (decoded too), delivers on demand, fails when told, and closes', async () => {
    const shim = createMockShim({ localAddress: 'me' });
    const got: Array<[number, string]> = [];
    const off = shim.onReceive((pdu, from) => got.push([pdu.length, from]));
    await shim.send('peer', Uint8Array.of(0x10, 0x08, 0x18, 0x01)); // M_READ, invoke id 1
    await shim.send('peer', Uint8Array.of(0xff));
    expect(shim.sent.map((s) => [s.to, s.message?.opCode])).toEqual([
      ['peer', OpCode.M_READ],
      ['peer', undefined],
    ]);
    expect(shim.messages()).toEqual([{ opCode: OpCode.M_READ, invokeId: 1 }]);
    shim.deliver({ opCode: OpCode.M_READ_R, invokeId: 1, result: 0 }, 'peer');
    expect(got).toEqual([[6, 'peer']]);
    shim.failSends(new Error('cable cut'));
    await expect(shim.send('peer', Uint8Array.of(1))).rejects.toThrow(/cable cut/);
    await expect(shim.send('peer', Uint8Array.of(1))).rejects.toBeInstanceOf(ShimError);
    shim.failSends(false);
    await shim.send('peer', Uint8Array.of(1));
    off();
    shim.deliver(Uint8Array.of(1), 'peer');
    expect(got).toHaveLength(1);
    shim.clear();
    expect(shim.sent).toEqual([]);
    await shim.close();
    expect(shim.closed).toBe(true);
    await expect(shim.send('peer', Uint8Array.of(1))).rejects.toBeInstanceOf(ShimError);
  });
});

// Found by a new user's review (2026-12-07): each case passed before, silently or with a raw TypeError.
describe('createMockShim refuses what a real shim refuses, with typed errors', () => {
  it('refuses a send to a bad destination or of a PDU that is not a Uint8Array with ShimError, recording nothing', async () => {
    const shim = createMockShim();
    for (const [to, pdu] of [
      ['', Uint8Array.of(1)],
      [undefined, Uint8Array.of(1)],
      [7, Uint8Array.of(1)],
      ['peer', 'bytes'],
      ['peer', null],
      ['peer', [1, 2]],
    ] as const) {
      await expect(shim.send(to as never, pdu as never)).rejects.toBeInstanceOf(ShimError);
    }
    expect(shim.sent).toEqual([]);
  });

  it('refuses options it does not know, an empty or non-string localAddress, and null options with ConfigError', () => {
    for (const options of [{ locaAddress: 'm' }, { localAddress: '' }, { localAddress: 5 }, null]) {
      expect(() => createMockShim(options as never)).toThrow(ConfigError);
    }
    expect(() => createMockShim({ locaAddress: 'm' } as never)).toThrow(/locaAddress/);
    expect(createMockShim({ localAddress: 'm' }).localAddress).toBe('m');
  });

  it('refuses an onSend listener that is not a function, and failSends of anything but an Error or false', async () => {
    const shim = createMockShim();
    expect(() => shim.onSend(null as never)).toThrow(ShimError);
    expect(() => shim.failSends('boom' as never)).toThrow(ConfigError);
    await shim.send('peer', Uint8Array.of(1)); // neither left anything behind
    expect(shim.sent).toHaveLength(1);
  });

  it('a listener that throws does not fail the send: its error surfaces on its own, where the runner reports it', async () => {
    const shim = createMockShim();
    const seen: string[] = [];
    shim.onSend(() => {
      throw new Error('bug in the test spy');
    });
    shim.onSend(({ to }) => seen.push(to)); // the listeners after it still run
    const thrown = new Promise<unknown>((resolve) => process.once('uncaughtException', resolve));
    await shim.send('peer', Uint8Array.of(1));
    expect(seen).toEqual(['peer']);
    expect(await thrown).toMatchObject({ message: 'bug in the test spy' });
  });
});

describe('settle', () => {
  it('lets a whole exchange with the scripted enroller run, with no timer advanced', async () => {
    vi.useFakeTimers();
    const shim = createMockShim();
    createScriptedEnroller(shim, { assign: 7 });
    const mgr = manager(shim);
    let done = false;
    void mgr.enrolWithBootstrap('bootstrap').then(() => {
      done = true;
    });
    await settle();
    expect(done).toBe(true);
    expect(mgr.address).toBe(7);
  });
});

describe('createScriptedEnroller', () => {
  it('enrols a member, with the address and the RIB objects of the script', async () => {
    const shim = createMockShim();
    const enroller = createScriptedEnroller(shim, {
      assign: 2000,
      difName: 'test.DIF',
      objects: [{ name: '/dif/policy/x', class: 'policy', value: { strval: 'p' } }],
    });
    const rib = new MemoryRib();
    const mgr = new EnrollmentManager({ shim, rib, ipcpName: 'ipcp' });
    managers.push(mgr);
    await expect(mgr.enrolWithBootstrap('bootstrap')).resolves.toBe('test.DIF');
    expect(mgr.address).toBe(2000);
    expect(rib.read('/dif/policy/x')?.value).toEqual({ strval: 'p' });
    expect(enroller.received.map((m) => m.opCode)).toEqual([OpCode.M_CONNECT, OpCode.M_START, OpCode.M_CREATE_R, OpCode.M_STOP_R]);
  });

  it('silence: the member times out; a late reply arrives after its delay (fake timers)', async () => {
    vi.useFakeTimers();
    const quiet = createMockShim();
    createScriptedEnroller(quiet, { connect: 'silence' });
    const a = manager(quiet)
      .enrolWithBootstrap('bootstrap')
      .catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(1000);
    expect(await a).toBeInstanceOf(EnrollmentTimeoutError);

    const slow = createMockShim();
    createScriptedEnroller(slow, { start: { ok: true, delayMs: 800 } });
    const mgr = manager(slow);
    const b = mgr.enrolWithBootstrap('bootstrap');
    await vi.advanceTimersByTimeAsync(799);
    expect(mgr.state.type).toBe('enrolling');
    await vi.advanceTimersByTimeAsync(1);
    await expect(b).resolves.toBe('demo.DIF');
  });

  it('a malformed reply is a protocol problem: the attempt times out with it as the cause', async () => {
    vi.useFakeTimers();
    const shim = createMockShim();
    createScriptedEnroller(shim, { connect: 'malformed' });
    const a = manager(shim)
      .enrolWithBootstrap('bootstrap')
      .catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(1000);
    const err = (await a) as EnrollmentTimeoutError;
    expect(err).toBeInstanceOf(EnrollmentTimeoutError);
    expect(err.cause).toBeInstanceOf(ProtocolError);
  });

  // Found by a new user's review (2026-12-07): both were silent.
  it('refuses a second running enroller at one address on a shim, and a change after stop(); a new one then runs', async () => {
    const shim = createMockShim();
    const first = createScriptedEnroller(shim);
    expect(() => createScriptedEnroller(shim)).toThrow(/already runs on this shim/);
    const other = createScriptedEnroller(shim, { address: 'other' }); // another address is another enroller
    expect(() => other.update({ address: 'bootstrap' })).toThrow(ConfigError);
    expect(() => createScriptedEnroller(createMockShim())).not.toThrow(); // another shim
    first.stop();
    expect(() => first.update({ assign: 5 })).toThrow(/was stopped/);
    const second = createScriptedEnroller(shim, { assign: 1500 });
    const mgr = manager(shim);
    await mgr.enrolWithBootstrap('bootstrap');
    expect(mgr.address).toBe(1500);
    expect(second.received.map((m) => m.opCode)).toContain(OpCode.M_START);
    expect(first.received).toEqual([]);
  });

  it('stop() clears the timers of delayed answers: a test that stops it in its teardown leaves none', async () => {
    vi.useFakeTimers();
    const shim = createMockShim();
    const enroller = createScriptedEnroller(shim, { start: { ok: true, delayMs: 400 } });
    const mgr = manager(shim, { timeoutMs: 1000 });
    const enrolled = mgr.enrolWithBootstrap('bootstrap');
    await vi.advanceTimersByTimeAsync(400);
    await enrolled;
    await mgr.close();
    expect(vi.getTimerCount()).toBeGreaterThan(0); // the answer to the member's repeated M_START, still delayed
    enroller.stop();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a refused keepalive makes a monitored member re-enroll; stop() ends the script', async () => {
    vi.useFakeTimers();
    const shim = createMockShim();
    const enroller = createScriptedEnroller(shim, { keepalive: { reject: 'not enrolled' } });
    const mgr = manager(shim, { heartbeatIntervalSecs: 1, connectionTimeoutSecs: 3 });
    await mgr.enrolWithBootstrap('bootstrap');
    mgr.startConnectionMonitoring();
    const lost = vi.fn();
    mgr.on('connection:lost', lost);
    await vi.advanceTimersByTimeAsync(1100);
    expect(lost).toHaveBeenCalledWith(expect.objectContaining({ reason: 'keepalive-refused' }));
    enroller.stop();
    await mgr.close();
    expect(vi.getTimerCount()).toBe(0);
  });
});
