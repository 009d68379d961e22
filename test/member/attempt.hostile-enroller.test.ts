/**
 * What an enroller (or whoever sends from its address) may not do to a member. Found by an audit (2026-12-06) that
 * played a hostile enroller; each case failed before its fix.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createRequest, enrollmentMessage, MAX_ALTERNATES, Result, replyTo } from '../../src/cdap/messages.js';
import { type CdapMessage, EnrollmentManager, MemoryNetwork, MemoryRib, OpCode, RibNames, type Shim, ShimError } from '../../src/index.js';
import { createMockShim } from '../../src/testing/index.js';
import { cleanup, onCleanup, withEnroller } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

/**
 * A member on a mock shim, and a fake enroller at 'bootstrap' that sends `during` after its M_CONNECT_R, and answers the
 * M_START a little later (the member has handled them by then), with M_STOP announcing `announced` objects.
 */
function rig(during: () => CdapMessage[], announced?: number) {
  const shim = createMockShim({ localAddress: 'member' });
  const rib = new MemoryRib();
  const deliver = (msg: CdapMessage) => queueMicrotask(() => shim.deliver(msg, 'bootstrap'));
  shim.onSend(({ message }) => {
    if (message?.opCode === OpCode.M_CONNECT) {
      deliver(replyTo(message));
      for (const msg of during()) deliver(msg);
    }
    if (message?.opCode !== OpCode.M_START) return;
    setTimeout(() => {
      deliver(enrollmentMessage(OpCode.M_START_R, message.invokeId ?? 0, { address: 42, difName: 'demo.DIF' }, 0));
      deliver(enrollmentMessage(OpCode.M_STOP, 500, { ribObjectCount: announced ?? 0 }));
    }, 5);
  });
  const mgr = new EnrollmentManager({ shim, rib, ipcpName: 'm', config: { maxRetries: 1, timeoutMs: 1000, heartbeatIntervalSecs: 0 } });
  onCleanup(() => mgr.close());
  const answers = (op: OpCode) => shim.messages().filter((m) => m.opCode === op);
  return { shim, rib, mgr, deliver, answers };
}

describe('a hostile enroller and the member', () => {
  it('requests without an invoke id during the attempt get no answer, and do not end it', async () => {
    const t = rig(() => [
      { opCode: OpCode.M_READ, objClass: 'x', objName: '/x' },
      { opCode: OpCode.M_STOP, objClass: 'x', objName: '/x' },
      { opCode: OpCode.M_START, invokeId: 0, objClass: 'operational_status', objName: '/o' },
    ]);
    // Before: ProtocolError "invalid M_READ_R: must carry invoke_id", the run not retried.
    expect(await t.mgr.enrolWithBootstrap('bootstrap')).toBe('demo.DIF');
    expect([...t.answers(OpCode.M_READ_R), ...t.answers(OpCode.M_STOP_R).filter((m) => m.objName === '/x')]).toEqual([]);
  });

  it('an object named "/" (which no RIB takes) is refused with -1 and not kept: the enrollment does not fail storing it', async () => {
    const t = rig(
      () => [
        createRequest(7, { name: '/', class: 'c', value: { intval: 1 } }),
        createRequest(8, { name: '/ok', class: 'c', value: { intval: 2 } }),
      ],
      1,
    );
    expect(await t.mgr.enrolWithBootstrap('bootstrap')).toBe('demo.DIF'); // before: RibError after the "/" was acknowledged
    expect(t.answers(OpCode.M_CREATE_R).map((m) => [m.invokeId, m.result])).toEqual([
      [7, Result.FAILED],
      [8, Result.OK],
    ]);
    expect((await t.rib.list()).map((o) => o.name)).toEqual(['/mgmt/address', '/ok']);
  });

  it('objects under /mgmt/ are refused during the attempt: the member keeps its own state', async () => {
    const t = rig(() => [
      createRequest(7, { name: RibNames.address, class: 'address', value: { int64val: 9n } }),
      createRequest(8, { name: '/mgmt/x', class: 'c', value: { intval: 1 } }),
    ]);
    await t.mgr.enrolWithBootstrap('bootstrap');
    expect(t.answers(OpCode.M_CREATE_R).map((m) => [m.invokeId, m.result])).toEqual([
      [7, Result.FAILED],
      [8, Result.FAILED],
    ]);
    expect(await t.rib.list()).toEqual([{ name: RibNames.address, class: 'address', value: { int64val: 42n } }]);
  });

  it('once enrolled, M_WRITE and M_DELETE of /mgmt/address are refused with -1 and change nothing', async () => {
    const t = rig(() => []);
    await t.mgr.enrolWithBootstrap('bootstrap');
    t.deliver({ opCode: OpCode.M_WRITE, invokeId: 9, objClass: 'address', objName: RibNames.address, objValue: { strval: 'garbage' } });
    t.deliver({ opCode: OpCode.M_DELETE, invokeId: 10, objClass: 'address', objName: RibNames.address });
    t.deliver({ opCode: OpCode.M_WRITE, invokeId: 11, objClass: 'c', objName: '/dif/x', objValue: { intval: 3 } }); // the enroller's to write
    await vi.waitFor(() => expect(t.answers(OpCode.M_WRITE_R)).toHaveLength(2));
    await vi.waitFor(() => expect(t.answers(OpCode.M_DELETE_R)).toHaveLength(1));
    expect([...t.answers(OpCode.M_WRITE_R), ...t.answers(OpCode.M_DELETE_R)].map((m) => [m.invokeId, m.result])).toEqual([
      [9, Result.FAILED],
      [11, Result.OK],
      [10, Result.FAILED],
    ]);
    expect(await t.rib.read(RibNames.address)).toEqual({ name: RibNames.address, class: 'address', value: { int64val: 42n } });
    expect(t.mgr.address).toBe(42);
  });

  it(`keeps at most ${MAX_ALTERNATES} of the enrollers one enroller advertises, each once`, async () => {
    const alternates = Array.from({ length: 20_000 }, (_, i) => `alt-${i % 5000}`);
    const shim = createMockShim({ localAddress: 'member' });
    const deliver = (msg: CdapMessage) => queueMicrotask(() => shim.deliver(msg, 'bootstrap'));
    shim.onSend(({ message }) => {
      if (message?.opCode === OpCode.M_CONNECT) deliver(replyTo(message));
      if (message?.opCode !== OpCode.M_START) return;
      deliver(enrollmentMessage(OpCode.M_START_R, message.invokeId ?? 0, { address: 42, alternates }, 0));
      deliver(enrollmentMessage(OpCode.M_STOP, 500, {}));
    });
    const mgr = new EnrollmentManager({ shim, rib: new MemoryRib(), ipcpName: 'm' });
    onCleanup(() => mgr.close());
    await mgr.enrolWithBootstrap('bootstrap');
    const advertised = mgr
      .bootstraps()
      .filter((b) => b.source === 'advertised')
      .map((b) => b.address);
    expect(advertised).toHaveLength(MAX_ALTERNATES);
    expect(new Set(advertised).size).toBe(MAX_ALTERNATES);
    expect(advertised.every((a) => a.startsWith('alt-'))).toBe(true);
  });

  it("an advertised enroller the shim cannot send to is forgotten, and enrol() moves on (it was the run's end, as ShimError)", async () => {
    vi.useFakeTimers();
    const net = new MemoryNetwork({ seed: 3 });
    const { enroller } = await withEnroller({ alternates: ['bogus'] }, net);
    const real = net.attach('m');
    // A shim for which 'bogus' is no address of its kind, as UdpShim refuses "not-an-address".
    const shim: Shim = {
      localAddress: real.localAddress,
      send: (to, pdu) => (to === 'bogus' ? Promise.reject(new ShimError(`invalid address "${to}"`)) : real.send(to, pdu)),
      onReceive: (h) => real.onReceive(h),
      close: () => real.close(),
    };
    const config = { timeoutMs: 500, retransmitMs: 100, maxRetries: 4, initialBackoffMs: 100, heartbeatIntervalSecs: 0 };
    const mgr = new EnrollmentManager({ shim, rib: new MemoryRib(), ipcpName: 'm', config });
    onCleanup(() => mgr.close());
    await mgr.enrolWithBootstrap('bootstrap');
    expect(mgr.bootstraps().map((b) => b.address)).toEqual(['bootstrap', 'bogus']);
    await enroller.stop();
    net.detach('bootstrap'); // the enroller is gone; 'bogus' is the other one the member knows
    const again = mgr.enrol().then(
      (dif) => dif,
      (err: unknown) => err,
    );
    await vi.advanceTimersByTimeAsync(800); // 'bootstrap' timed out, then 'bogus' failed
    expect(mgr.bootstraps().map((b) => b.address)).toEqual(['bootstrap']);
    await withEnroller({}, net); // back
    await vi.advanceTimersByTimeAsync(5_000);
    expect(await again).toBe('demo.DIF');
  });
});
