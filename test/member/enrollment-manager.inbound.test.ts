/**
 * What the manager does with a PDU from its bootstrap in each phase: after
 * close() (even if the shim keeps delivering), between enrollments, while
 * storing an attempt's result, in the backoff between attempts, and while
 * enrolled. The PDUs are handed to the manager as if the shim had received
 * them from "bootstrap", which is a real enroller otherwise.
 */
import { afterEach, expect, it, vi } from 'vitest';
import { keepaliveRequest, Result } from '../../src/cdap/messages.js';
import {
  type CdapMessage,
  decodeCdapMessage,
  EnrollmentManager,
  encodeCdapMessage,
  type MemoryNetwork,
  MemoryRib,
  OpCode,
  type Shim,
  type ShimHandler,
} from '../../src/index.js';
import { cleanup, onCleanup, settle, withEnroller } from '../support/helpers.js';
import { malformedRead } from '../support/hmac-enroller.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

/**
 * A manager "m" on `net` whose shim lets the test hand it a PDU from anyone
 * (`inject`); with `leaky`, unregistering its handler does nothing, as with a
 * careless hand-made shim. `sent` lists what m handed to the network, decoded.
 */
function injectable(net: MemoryNetwork, config = {}, { leaky = false, rib = new MemoryRib() } = {}) {
  const inner = net.attach('m');
  const handlers = new Set<ShimHandler>();
  const shim: Shim = {
    localAddress: inner.localAddress,
    send: (to, pdu) => inner.send(to, pdu),
    close: () => inner.close(),
    onReceive(handler) {
      handlers.add(handler);
      const off = inner.onReceive(handler);
      return leaky
        ? () => undefined
        : () => {
            handlers.delete(handler);
            off();
          };
    },
  };
  const sent: Array<{ to: string; msg: CdapMessage }> = [];
  net.tap((p) => {
    if (p.from === 'm') sent.push({ to: p.to, msg: decodeCdapMessage(p.pdu) });
  });
  const mgr = new EnrollmentManager({ shim, rib, ipcpName: 'm', config });
  onCleanup(() => mgr.close());
  const inject = (msg: CdapMessage | Uint8Array, from = 'bootstrap') => {
    const pdu = msg instanceof Uint8Array ? msg : encodeCdapMessage(msg);
    for (const handler of handlers) handler(pdu, from);
  };
  /** The answers m sent with this op code and invoke id. */
  const answers = (opCode: OpCode, invokeId: number) => sent.filter((s) => s.msg.opCode === opCode && s.msg.invokeId === invokeId);
  return { mgr, rib, sent, inject, answers };
}

const write = (invokeId: number): CdapMessage => ({
  opCode: OpCode.M_WRITE,
  invokeId,
  objName: '/injected',
  objClass: 'string',
  objValue: { strval: 'x' },
});

it('a shim that keeps delivering after close(): the closed manager answers nothing', async () => {
  const { net } = await withEnroller();
  const { mgr, sent, inject } = injectable(net, {}, { leaky: true });
  await mgr.enrolWithBootstrap('bootstrap');
  await mgr.close();
  sent.length = 0;
  inject(keepaliveRequest(41));
  inject(malformedRead(42));
  await settle();
  expect(sent).toEqual([]);
});

it('between enrollments (a re-enrollment gave up): its last bootstrap’s keepalive is answered, a RIB write is neither applied nor answered, a malformed request gets a failure', async () => {
  vi.useFakeTimers();
  const { net } = await withEnroller();
  const { mgr, rib, inject, answers } = injectable(net, { maxRetries: 1, timeoutMs: 500 });
  await mgr.enrolWithBootstrap('bootstrap');
  net.partition('m', 'bootstrap');
  const failed = mgr.reEnroll().catch((err: Error) => err.name);
  await vi.advanceTimersByTimeAsync(1000);
  expect(await failed).toBe('EnrollmentTimeoutError');
  expect(mgr.state.type).toBe('idle');
  net.heal('m', 'bootstrap');
  inject(keepaliveRequest(51));
  inject(write(52));
  inject(malformedRead(53));
  await vi.advanceTimersByTimeAsync(10);
  expect(answers(OpCode.M_READ_R, 51)).toMatchObject([{ to: 'bootstrap', msg: { result: Result.OK } }]);
  expect(answers(OpCode.M_WRITE_R, 52)).toEqual([]);
  expect(await rib.read('/injected')).toBeUndefined();
  expect(answers(OpCode.M_READ_R, 53)).toMatchObject([{ to: 'bootstrap', msg: { result: Result.FAILED } }]);
});

it('while an attempt’s result is being stored (a slow RIB): the bootstrap’s keepalive is answered', async () => {
  const { net } = await withEnroller();
  const rib = new MemoryRib();
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  const write = rib.write.bind(rib);
  let writing = false;
  rib.write = async (object) => {
    writing = true;
    await held;
    return write(object);
  };
  const { mgr, inject, answers } = injectable(net, {}, { rib });
  const enrolled = mgr.enrolWithBootstrap('bootstrap');
  for (let i = 0; i < 50 && !writing; i++) await settle();
  expect(writing).toBe(true);
  inject(keepaliveRequest(61));
  await settle();
  expect(answers(OpCode.M_READ_R, 61)).toMatchObject([{ to: 'bootstrap', msg: { result: Result.OK } }]);
  release();
  await expect(enrolled).resolves.toBe('demo.DIF');
});

it('in the backoff between two attempts: the bootstrap’s keepalive is answered', async () => {
  vi.useFakeTimers();
  const { net } = await withEnroller();
  const { mgr, inject, answers, sent } = injectable(net, { maxRetries: 2, timeoutMs: 300, initialBackoffMs: 5000 });
  net.partition('m', 'bootstrap');
  const outcome = mgr.enrolWithBootstrap('bootstrap').catch((err: Error) => err.name);
  await vi.advanceTimersByTimeAsync(1000); // the first attempt timed out; the second waits 5 s
  const connects = sent.filter((s) => s.msg.opCode === OpCode.M_CONNECT).length;
  net.heal('m', 'bootstrap');
  inject(keepaliveRequest(71));
  await vi.advanceTimersByTimeAsync(10);
  expect(answers(OpCode.M_READ_R, 71)).toMatchObject([{ to: 'bootstrap', msg: { result: Result.OK } }]);
  expect(sent.filter((s) => s.msg.opCode === OpCode.M_CONNECT)).toHaveLength(connects); // still in the backoff
  await vi.advanceTimersByTimeAsync(6000);
  expect(await outcome).toBe('demo.DIF');
});

it('enrolled: an answer from the bootstrap that is not a keepalive answer still shows it alive', async () => {
  vi.useFakeTimers();
  const { net } = await withEnroller();
  const { mgr, inject, sent } = injectable(net, { heartbeatIntervalSecs: 0 });
  await mgr.enrolWithBootstrap('bootstrap');
  const before = mgr.lastHeartbeat as number;
  await vi.advanceTimersByTimeAsync(1000);
  sent.length = 0;
  inject({ opCode: OpCode.M_READ_R, invokeId: 81, objName: '/other', objClass: 'other', result: 0 });
  expect(mgr.lastHeartbeat).toBeGreaterThanOrEqual(before + 1000);
  await settle();
  expect(sent).toEqual([]); // an answer is not answered
});
