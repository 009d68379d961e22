/**
 * The end of a successful attempt, pinned where the mutation run found it
 * unchecked: a RIB that cannot store the result, a run aborted while it
 * stores it, where the DIF name comes from, the log line of learned
 * alternates, and what counts as a recovery.
 */
import { afterEach, expect, it, vi } from 'vitest';
import {
  decodeCdapMessage,
  decodeEnrollmentInfo,
  EnrollmentAbortedError,
  encodeCdapMessage,
  encodeEnrollmentInfo,
  MemoryNetwork,
  MemoryRib,
  OpCode,
  RibError,
  RibNames,
  type RibObject,
  type Shim,
} from '../../src/index.js';
import { cleanup, member, withEnroller } from '../support/helpers.js';
import { recordingLogger } from '../support/logs.js';
import { deferred } from '../support/scripted-etcd.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

it('a RIB that cannot store the enrolled state fails the enrollment with RibError naming why, the write error its cause', async () => {
  vi.useFakeTimers();
  const { net } = await withEnroller();
  const cause = new Error('disk full');
  class FullRib extends MemoryRib {
    override write(_: RibObject): void {
      throw cause;
    }
  }
  const { mgr } = member(net, 'm', { maxRetries: 1 }, { rib: new FullRib() });
  const outcome = mgr.enrolWithBootstrap('bootstrap').catch((err: unknown) => err);
  await vi.advanceTimersByTimeAsync(1000);
  const error = await outcome;
  expect(error).toBeInstanceOf(RibError);
  expect((error as RibError).message).toBe('cannot store the enrolled state: disk full');
  expect((error as RibError).cause).toBe(cause);
});

it('the alternates an enroller advertises are logged once, at debug, when learned', async () => {
  vi.useFakeTimers();
  const net = new MemoryNetwork({ seed: 6 });
  await withEnroller({ alternates: ['backup-1', 'backup-2'] }, net);
  const { logger, lines } = recordingLogger();
  const { mgr } = member(net, 'm', {}, { logger });
  await mgr.enrolWithBootstrap('bootstrap');
  await mgr.reEnroll(); // the same alternates again: nothing new to say
  const advertised = lines.filter((l) => (l.fields as { event?: string }).event === 'bootstraps:advertised');
  expect(advertised).toHaveLength(1);
  const [line] = advertised as [(typeof advertised)[number]];
  const { learned } = line.fields as { learned: string[] };
  expect([...learned].sort()).toEqual(['backup-1', 'backup-2']);
  expect(line).toEqual({
    level: 'debug',
    fields: { event: 'bootstraps:advertised', ipcpName: 'm', bootstrap: 'bootstrap', learned },
    message: `bootstrap advertised ${learned.join(', ')}`,
  });
});

it('a first enrollment is no recovery; a re-enrollment after a loss is one, its time measured from the loss', async () => {
  vi.useFakeTimers();
  const net = new MemoryNetwork({ seed: 7 });
  await withEnroller({}, net);
  const { mgr } = member(net, 'm', { heartbeatIntervalSecs: 1, connectionTimeoutSecs: 3 });
  const successes: number[] = [];
  mgr.on('reenroll:success', ({ recoveryMs }) => successes.push(recoveryMs));
  await mgr.enrolWithBootstrap('bootstrap');
  expect(successes).toEqual([]);
  expect(mgr.metrics().reenrollSuccesses).toBe(0);
  mgr.startConnectionMonitoring();
  net.partition('m', 'bootstrap');
  await vi.advanceTimersByTimeAsync(3100); // lost at 3 s
  await vi.advanceTimersByTimeAsync(2000); // two seconds of failed recovery
  net.heal('m', 'bootstrap');
  await vi.advanceTimersByTimeAsync(30_000);
  expect(mgr.state.type).toBe('enrolled');
  expect(successes).toHaveLength(1);
  expect(successes[0]).toBeGreaterThanOrEqual(2000);
  expect(successes[0]).toBeLessThan(31_000);
  expect(mgr.metrics().timeToRecoverMs.count).toBe(1);
});

it("a run aborted while the RIB stores the result ends aborted, the signal's reason its cause, never enrolled, and writes nothing more", async () => {
  vi.useFakeTimers();
  const { net } = await withEnroller();
  const written = deferred<void>();
  class SlowRib extends MemoryRib {
    override async write(o: RibObject): Promise<void> {
      await written.promise;
      super.write(o);
    }
  }
  const rib = new SlowRib();
  const { mgr } = member(net, 'm', { maxRetries: 1 }, { rib });
  const controller = new AbortController();
  const outcome = mgr.enrolWithBootstrap('bootstrap', { signal: controller.signal }).catch((err: unknown) => err);
  await vi.advanceTimersByTimeAsync(50); // answered: the result is being stored
  const reason = new Error('the operator changed their mind');
  controller.abort(reason);
  written.resolve();
  const error = await outcome;
  expect(error).toBeInstanceOf(EnrollmentAbortedError);
  expect((error as EnrollmentAbortedError).cause).toBe(reason);
  expect(mgr.state.type).not.toBe('enrolled');
  expect(mgr.address).toBeUndefined();
  await vi.advanceTimersByTimeAsync(50);
  expect(rib.read(RibNames.address)).toBeUndefined(); // the write in flight finished; nothing was written after the abort
});

it("without a DIF name in M_START_R the member takes the one the RIB synced, and without either the bootstrap's address", async () => {
  vi.useFakeTimers();
  /** `inner`, with the DIF name taken out of every M_START_R it receives. */
  const withoutDifName = (inner: Shim): Shim => ({
    localAddress: inner.localAddress,
    send: (to, pdu) => inner.send(to, pdu),
    close: () => inner.close(),
    onReceive: (handler) =>
      inner.onReceive((pdu, from) => {
        const msg = decodeCdapMessage(pdu);
        const info = msg.objValue?.byteval;
        if (msg.opCode !== OpCode.M_START_R || info === undefined) return handler(pdu, from);
        const { difName: _, ...rest } = decodeEnrollmentInfo(info);
        return handler(encodeCdapMessage({ ...msg, objValue: { byteval: encodeEnrollmentInfo(rest) } }), from);
      }),
  });
  const { net, rib } = await withEnroller();
  rib.write({ name: '/dif/motd', class: 'string', value: { strval: 'not the DIF name' } }); // synced before it
  const joined: string[] = [];
  for (const synced of [true, false]) {
    if (synced) rib.write({ name: RibNames.difName, class: 'dif_config', value: { strval: 'synced.DIF' } });
    else rib.delete(RibNames.difName);
    const shim = withoutDifName(net.attach(`m-${synced}`));
    const { mgr } = member(net, `unused-${synced}`, {}, { shim, ipcpName: `m-${synced}` });
    joined.push(await mgr.enrolWithBootstrap('bootstrap'));
    expect(mgr.difName).toBe(joined.at(-1));
  }
  expect(joined).toEqual(['synced.DIF', 'bootstrap']);
});

it('an explicit reEnroll() with no outage open is a re-enrollment: reenroll:success with its attempts and its time from its start, counted, but no recovery from an outage', async () => {
  vi.useFakeTimers();
  const { net } = await withEnroller();
  const { mgr } = member(net, 'm', { timeoutMs: 300, initialBackoffMs: 200, maxRetries: 3 });
  await mgr.enrolWithBootstrap('bootstrap');
  const address = mgr.address;
  const successes: unknown[] = [];
  mgr.on('reenroll:success', (e) => successes.push(e));
  await vi.advanceTimersByTimeAsync(1000); // the run starts later than the clock's origin
  net.partition('m', 'bootstrap');
  const again = mgr.reEnroll();
  await vi.advanceTimersByTimeAsync(400); // the first attempt timed out at 300 ms; the second comes at 500 ms
  net.heal('m', 'bootstrap');
  await vi.advanceTimersByTimeAsync(200);
  await expect(again).resolves.toBe('demo.DIF');
  expect(successes).toEqual([{ attempts: 2, bootstrap: 'bootstrap', address, previousAddress: address, recoveryMs: expect.any(Number) }]);
  const { recoveryMs } = successes[0] as { recoveryMs: number };
  expect(recoveryMs).toBeGreaterThanOrEqual(500);
  expect(recoveryMs).toBeLessThan(600);
  expect(mgr.metrics()).toMatchObject({ reenrollSuccesses: 1, outages: 0, timeToRecoverMs: { count: 0 } });
});

it('a listener that closes the manager as it becomes enrolled: none of the enrollment’s events follow, no timer is left, and its uptime stops', async () => {
  vi.useFakeTimers();
  const net = new MemoryNetwork({ seed: 11 });
  await withEnroller({}, net);
  const { mgr: other } = member(net, 'o', { heartbeatIntervalSecs: 1, connectionTimeoutSecs: 3 });
  const events: string[] = [];
  for (const name of ['address:change', 'enrolled', 'reenroll:success'] as const) other.on(name, () => events.push(name));
  await other.enrolWithBootstrap('bootstrap');
  events.length = 0;
  const timers = vi.getTimerCount();
  other.on('state:change', (s) => {
    if (s.type === 'enrolled') void other.close();
  });
  await other.reEnroll().catch(() => undefined);
  expect(other.state.type).toBe('closed');
  expect(events).toEqual([]);
  expect(vi.getTimerCount()).toBeLessThanOrEqual(timers);
  await vi.advanceTimersByTimeAsync(1000);
  expect(other.metrics().uptimeRatio).toBeLessThan(1);
});

// Found by an audit (2026-12-06): a RIB write that never settles held enrolWithBootstrap() for ever, close() included.
it('a RIB write that never settles does not hold close() or a caller that aborts: each gets EnrollmentAbortedError', async () => {
  const { net, enroller } = await withEnroller();
  class StuckRib extends MemoryRib {
    override write(_: RibObject): Promise<void> {
      return new Promise(() => undefined);
    }
  }
  const closing = member(net, 'm1', { timeoutMs: 200, maxRetries: 1 }, { rib: new StuckRib() }).mgr;
  const enrolled = closing.enrolWithBootstrap('bootstrap').catch((e: unknown) => e);
  await vi.waitFor(() => expect(closing.state.type).toBe('enrolling'));
  await new Promise((r) => setTimeout(r, 50)); // the exchange is over; the RIB holds the result
  await closing.close();
  expect(await enrolled).toBeInstanceOf(EnrollmentAbortedError);

  const aborting = member(net, 'm2', { timeoutMs: 200, maxRetries: 1 }, { rib: new StuckRib() }).mgr;
  const controller = new AbortController();
  const waited = aborting.enrolWithBootstrap('bootstrap', { signal: controller.signal }).catch((e: unknown) => e);
  await new Promise((r) => setTimeout(r, 50));
  controller.abort(new Error('enough'));
  expect(await waited).toBeInstanceOf(EnrollmentAbortedError);
  expect(aborting.state.type).not.toBe('enrolled');
  expect(enroller.members().map((m) => m.name)).not.toContain('m1');
});
