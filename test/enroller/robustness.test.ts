/** What a hostile or unlucky peer can do to an enroller, and what it must not achieve. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ConfigError,
  decodeCdapMessage,
  Enroller,
  ENROLLMENT_OBJECT,
  encodeEnrollmentInfo,
  MemoryNetwork,
  MemoryRib,
  OpCode,
  type Rib,
} from '../../src/index.js';
import { systemClock } from '../../src/util/clock.js';
import { tickerFor } from '../../src/util/ticker.js';
import { cleanup, member, RawPeer, settle, withEnroller, connectMsg } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

const connect = connectMsg;
const start = (invokeId: number | undefined, address = 0) => ({
  opCode: OpCode.M_START,
  ...(invokeId === undefined ? {} : { invokeId }),
  ...ENROLLMENT_OBJECT,
  objValue: { byteval: encodeEnrollmentInfo({ address }) },
});

describe('Enroller robustness', () => {
  it('a START without invoke id is dropped, even one the pool would refuse; the enroller keeps serving', async () => {
    const { net, enroller } = await withEnroller();
    const peer = new RawPeer(net.attach('evil'));
    await peer.send('bootstrap', connect(1, 'evil'));
    await peer.send('bootstrap', start(5));
    await peer.send('bootstrap', start(undefined, 999));
    await peer.send('bootstrap', start(undefined));
    await settle();
    expect(peer.ofType(OpCode.M_START_R)).toHaveLength(1); // only the one with an invoke id
    const { mgr } = member(net, 'good');
    await expect(mgr.enrolWithBootstrap('bootstrap')).resolves.toBe('demo.DIF');
    expect(enroller.running).toBe(true);
  });

  it('refuses dtConstants that do not fit the wire at construction, naming the field', () => {
    const net = new MemoryNetwork();
    const base = { shim: net.attach('b'), rib: new MemoryRib(), ipcpName: 'b', difName: 'd', addressPool: { first: 1, last: 9 } };
    expect(() => new Enroller({ ...base, dtConstants: { addressWidth: 4, maxPduSize: 2 ** 32 } })).toThrow(
      /dtConstants.maxPduSize: must fit in 32 bits/,
    );
    expect(() => new Enroller({ ...base, dtConstants: { addressWidth: 'x' as never } })).toThrow(/dtConstants.addressWidth/);
    expect(() => new Enroller({ ...base, dtConstants: { bogus: 1 } as never })).toThrow(ConfigError);
  });

  it('refuses a second live IPCP with an enrolled name, after asking the first whether it is there', async () => {
    vi.useFakeTimers();
    const { net, enroller } = await withEnroller({ leaseMs: 60_000 });
    const first = member(net, 'dup@a', { heartbeatIntervalSecs: 0 }).mgr; // no keepalives: only the probe's answer shows it alive
    first.setIpcpName('dup');
    await first.enrolWithBootstrap('bootstrap');
    // "busy" while the enroller asks the first: asked again within 200 ms
    const second = member(net, 'dup@b', { initialBackoffMs: 100, reenrollBackoffBaseMs: 100, reenrollBackoffCapMs: 200 }).mgr;
    second.setIpcpName('dup');
    const refused = second.enrolWithBootstrap('bootstrap').catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(1500); // "busy" while the first is asked, then the final answer
    expect(await refused).toMatchObject({
      code: 'ENROLLMENT_REJECTED',
      result: -3,
      reason: 'IPCP name "dup" is enrolled from another shim address',
    });
    expect(enroller.members().map((m) => m.shimAddress)).toEqual(['dup@a']);
  });

  it('a probe answered before its second M_READ ends with the verdict: no timer of it outlives the enroller stopping', async () => {
    vi.useFakeTimers();
    const { net, enroller } = await withEnroller({ leaseMs: 60_000 }, new MemoryNetwork({ seed: 1, delayMs: 5 }));
    const probes: string[] = [];
    net.tap((p) => {
      if (p.from === 'bootstrap' && decodeCdapMessage(p.pdu).opCode === OpCode.M_READ) probes.push(p.to);
    });
    const first = member(net, 'dup@a', { heartbeatIntervalSecs: 0 }).mgr;
    first.setIpcpName('dup');
    const enrolled = first.enrolWithBootstrap('bootstrap');
    await vi.advanceTimersByTimeAsync(100);
    await enrolled;
    const second = member(net, 'dup@b', { initialBackoffMs: 50 }).mgr;
    second.setIpcpName('dup');
    const refused = second.enrolWithBootstrap('bootstrap').catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(300); // "busy"; the first answers within 10 ms; a retry 250 ms later (retransmitMs, the floor): "in use"
    expect(await refused).toMatchObject({ result: -3 });
    expect(probes).toEqual(['dup@a']);
    await first.close();
    await second.close();
    await enroller.stop();
    expect(tickerFor(systemClock).size).toBe(0); // not even the second M_READ's, due at 500 ms
  });

  it('lets an IPCP that crashed and restarts from a new address take its name and address back at once', async () => {
    vi.useFakeTimers();
    const { net, enroller } = await withEnroller({ leaseMs: 90_000 });
    const gone: string[] = [];
    enroller.on('member:gone', (m) => gone.push(m.shimAddress));
    const first = member(net, 'dup@a', { heartbeatIntervalSecs: 0 }).mgr;
    first.setIpcpName('dup');
    await first.enrolWithBootstrap('bootstrap');
    net.detach('dup@a'); // crashed: it answers nothing any more
    // "busy" while the enroller asks the first: asked again within 200 ms
    const second = member(net, 'dup@b', { initialBackoffMs: 100, reenrollBackoffBaseMs: 100, reenrollBackoffCapMs: 200 }).mgr;
    second.setIpcpName('dup');
    const back = second.enrolWithBootstrap('bootstrap');
    await vi.advanceTimersByTimeAsync(1500); // one probe period, not the 90 s lease
    await expect(back).resolves.toBe('demo.DIF');
    expect(second.address).toBe(first.address);
    expect(gone).toEqual(['dup@a']);
    expect(enroller.members().map((m) => m.shimAddress)).toEqual(['dup@b']);
  });

  it('a member whose CDAP connection the enroller lost connects again instead of failing', async () => {
    vi.useFakeTimers();
    const { net, enroller } = await withEnroller({ pendingTimeoutMs: 1000 });
    const { mgr } = member(net, 'm', { timeoutMs: 5000, retransmitMs: 300, maxRetransmitMs: 300 });
    const seen: Array<[number, number | undefined]> = [];
    net.tap((p) => {
      const msg = decodeCdapMessage(p.pdu);
      seen.push([msg.opCode, msg.result]);
      // Cut the link the moment the first CONNECT_R leaves: START goes unanswered.
      if (msg.opCode === OpCode.M_CONNECT_R && seen.filter(([op]) => op === OpCode.M_CONNECT_R).length === 1) {
        net.partition('m', 'bootstrap');
      }
    });
    const result = mgr.enrolWithBootstrap('bootstrap');
    await vi.advanceTimersByTimeAsync(1500); // the enroller forgets the half-open connection
    expect(enroller.pendingEnrollments).toBe(0);
    net.heal('m', 'bootstrap');
    await vi.advanceTimersByTimeAsync(1000);
    await expect(result).resolves.toBe('demo.DIF');
    expect(seen.filter(([op]) => op === OpCode.M_START_R).map(([, r]) => r)).toEqual([-2, 0]);
    expect(seen.filter(([op]) => op === OpCode.M_CONNECT)).toHaveLength(2);
  });

  it('half-finished enrollments use up the pool only for holdMs (their members were told their addresses, and may hold them)', async () => {
    vi.useFakeTimers();
    const { net } = await withEnroller({ addressPool: { first: 10, last: 19 }, pendingTimeoutMs: 1000, holdMs: 5000 });
    const peer = new RawPeer(net.attach('hoarder'));
    for (let i = 0; i < 10; i++) {
      await peer.send('bootstrap', connect(100 + i, `ghost-${i}`));
      await settle();
      await peer.send('bootstrap', start(200 + i));
      await settle();
    }
    await vi.advanceTimersByTimeAsync(2000); // every session expires without M_STOP_R
    const { mgr } = member(net, 'real', { maxRetries: 1 });
    const refused = mgr.enrolWithBootstrap('bootstrap');
    const failed = expect(refused).rejects.toThrow(/result -1\): address/);
    await vi.advanceTimersByTimeAsync(100);
    await failed;
    await vi.advanceTimersByTimeAsync(5000); // the holds end
    const enrolled = mgr.enrolWithBootstrap('bootstrap');
    await vi.advanceTimersByTimeAsync(100);
    await expect(enrolled).resolves.toBe('demo.DIF');
  });

  it('stop() during a slow start() wins: the enroller does not start listening', async () => {
    const net = new MemoryNetwork();
    let release: () => void = () => undefined;
    const slow = new MemoryRib();
    const rib: Rib = {
      read: (n) => slow.read(n),
      delete: (n) => slow.delete(n),
      list: (p) => slow.list(p),
      write: (o) => new Promise<void>((r) => (release = () => r(slow.write(o)))),
    };
    const enroller = new Enroller({ shim: net.attach('b'), rib, ipcpName: 'b', difName: 'd', addressPool: { first: 1, last: 9 } });
    const starting = enroller.start();
    await enroller.stop();
    release();
    await starting;
    expect(enroller.running).toBe(false);
  });

  it('a throwing listener neither stops the enroller nor the enrollment', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error & { code?: string }) => warnings.push(`${w.code}: ${w.message}`);
    process.on('warning', onWarning);
    try {
      const { net, enroller } = await withEnroller();
      enroller.on('member:enrolled', () => {
        throw new Error('listener bug');
      });
      const { mgr } = member(net, 'm');
      await mgr.enrolWithBootstrap('bootstrap');
      await vi.waitFor(() => expect(enroller.members()).toHaveLength(1));
      await vi.waitFor(() =>
        expect(warnings.some((w) => w.startsWith('RINA_ENROLLMENT_LISTENER: ') && w.includes('listener bug'))).toBe(true),
      );
    } finally {
      process.off('warning', onWarning);
    }
  });
});
