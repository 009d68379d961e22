/**
 * The monitor's recovery against the other runs: a caller that joins it, a
 * caller that gives up on it, the monitor stopping it, an explicit bootstrap
 * superseding it, and the monitor started while another run is going.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterEach, expect, it, vi } from 'vitest';
import { decodeCdapMessage, type EnrollmentState, MemoryNetwork, MemoryRib, OpCode } from '../../src/index.js';
import { cleanup, member, onCleanup, withEnroller } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

const config = {
  heartbeatIntervalSecs: 1,
  connectionTimeoutSecs: 3,
  maxRetries: 1,
  timeoutMs: 300,
  reenrollBackoffBaseMs: 100,
  reenrollBackoffCapMs: 400,
};

/** A member "m" enrolled with "bootstrap", monitored, then cut off from it and lost: its recovery is running. */
async function recovering(net = new MemoryNetwork({ seed: 5 })) {
  await withEnroller({}, net);
  const { mgr } = member(net, 'm', config);
  await mgr.enrolWithBootstrap('bootstrap');
  const monitor = mgr.startConnectionMonitoring();
  const attempts: number[] = [];
  const states: Array<EnrollmentState['type']> = [];
  const connects: number[] = [];
  mgr.on('reenroll:attempt', ({ attempt }) => attempts.push(attempt));
  mgr.on('state:change', (s) => states.push(s.type));
  net.tap((p) => {
    if (p.from === 'm' && decodeCdapMessage(p.pdu).opCode === OpCode.M_CONNECT) connects.push(performance.now());
  });
  net.partition('m', 'bootstrap');
  await vi.advanceTimersByTimeAsync(3100);
  expect(mgr.state.type).toBe('reenrolling');
  return { net, mgr, monitor, attempts, states, connects };
}

/** The messages of `err` and of its causes. */
function messages(err: unknown): string[] {
  const out: string[] = [];
  for (let e = err as Error | undefined; e instanceof Error; e = e.cause as Error | undefined) out.push(e.message);
  return out;
}

/** What is published on a diagnostics channel while the test runs. */
function published(name: string): unknown[] {
  const seen: unknown[] = [];
  const listener = (message: unknown) => seen.push(message);
  subscribe(name, listener);
  onCleanup(() => unsubscribe(name, listener));
  return seen;
}

it('reEnroll() during recovery joins it: it outlasts maxRetries, resolves when the member is back, and the attempts go on counting', async () => {
  vi.useFakeTimers();
  const { net, mgr, attempts } = await recovering();
  let settled = false;
  const joined = mgr.reEnroll().finally(() => {
    settled = true;
  });
  await vi.advanceTimersByTimeAsync(3000); // ten times maxRetries x timeoutMs
  expect(settled).toBe(false);
  net.heal('m', 'bootstrap');
  await vi.advanceTimersByTimeAsync(3000);
  await expect(joined).resolves.toBe('demo.DIF');
  expect(mgr.state.type).toBe('enrolled');
  expect(attempts.length).toBeGreaterThan(3);
  expect(attempts).toEqual(attempts.map((_, i) => i + 1)); // one run: 1, 2, 3, ...
});

it('a caller that joined the recovery and gives up leaves it running: no idle state, the attempts go on counting', async () => {
  vi.useFakeTimers();
  const { net, mgr, attempts, states } = await recovering();
  const controller = new AbortController();
  const joined = mgr.reEnroll({ signal: controller.signal }).catch((err: Error) => err.name);
  await vi.advanceTimersByTimeAsync(500);
  states.length = 0;
  controller.abort();
  expect(await joined).toBe('EnrollmentAbortedError');
  await vi.advanceTimersByTimeAsync(1000);
  net.heal('m', 'bootstrap');
  await vi.advanceTimersByTimeAsync(3000);
  expect(mgr.state.type).toBe('enrolled');
  expect(states).not.toContain('idle');
  expect(attempts).toEqual(attempts.map((_, i) => i + 1));
});

it('monitor.stop() during recovery ends it: no attempt after, the member idle, the run published as aborted by the stop', async () => {
  vi.useFakeTimers();
  const failures = published('rina-enrollment:enrollment:failure');
  const { mgr, monitor, connects } = await recovering();
  monitor.stop();
  const sent = connects.length;
  await vi.advanceTimersByTimeAsync(10_000);
  expect(connects).toHaveLength(sent);
  expect(mgr.state.type).toBe('idle');
  expect(failures).toHaveLength(1);
  expect(messages((failures[0] as { error: Error }).error)).toContain('monitoring stopped');
});

it('an explicit enrolWithBootstrap() supersedes the recovery: its end is published as superseded, and the member is never idle before the explicit run ends', async () => {
  vi.useFakeTimers();
  const net = new MemoryNetwork({ seed: 6 });
  await withEnroller({}, net, 'b2');
  const failures = published('rina-enrollment:enrollment:failure');
  const { mgr, states } = await recovering(net);
  net.partition('m', 'b2'); // the explicit run takes a while
  states.length = 0;
  const explicit = mgr.enrolWithBootstrap('b2');
  await vi.advanceTimersByTimeAsync(200);
  expect(failures).toHaveLength(1);
  expect(messages((failures[0] as { error: Error }).error)).toContain('superseded by an explicit enrollment');
  net.heal('m', 'b2');
  await vi.advanceTimersByTimeAsync(1000);
  await expect(explicit).resolves.toBe('demo.DIF');
  expect(mgr.state).toMatchObject({ type: 'enrolled', bootstrap: 'b2' });
  expect(states).not.toContain('idle');
});

it('startConnectionMonitoring() during an explicit reEnroll() starts no second run', async () => {
  vi.useFakeTimers();
  const net = new MemoryNetwork({ seed: 7 });
  await withEnroller({}, net);
  const { mgr } = member(net, 'm', { ...config, maxRetries: 3 });
  await mgr.enrolWithBootstrap('bootstrap');
  net.partition('m', 'bootstrap');
  const attempts: number[] = [];
  mgr.on('reenroll:attempt', ({ attempt }) => attempts.push(attempt));
  const explicit = mgr.reEnroll().catch((err: Error) => err.name);
  expect(mgr.startConnectionMonitoring().running).toBe(true);
  await vi.advanceTimersByTimeAsync(100);
  expect(attempts).toEqual([1]);
  net.heal('m', 'bootstrap');
  await vi.advanceTimersByTimeAsync(2000);
  expect(await explicit).toBe('demo.DIF');
  expect(mgr.state.type).toBe('enrolled');
});

it('a listener that starts an enrollment when a failed reEnroll() leaves the member idle has its turn: the monitor opens no outage', async () => {
  vi.useFakeTimers();
  const net = new MemoryNetwork({ seed: 8 });
  await withEnroller({}, net);
  await withEnroller({}, net, 'b2');
  const { mgr } = member(net, 'm', config);
  await mgr.enrolWithBootstrap('bootstrap');
  mgr.startConnectionMonitoring();
  net.partition('m', 'bootstrap');
  let mine: Promise<string> | undefined;
  mgr.on('state:change', (s) => {
    if (s.type === 'idle' && mine === undefined) mine = mgr.enrolWithBootstrap('b2');
  });
  const lost: string[] = [];
  mgr.on('connection:lost', ({ reason }) => lost.push(reason));
  const failed = mgr.reEnroll().catch((err: Error) => err.name);
  await vi.advanceTimersByTimeAsync(400);
  expect(await failed).toBe('EnrollmentTimeoutError');
  await expect(mine).resolves.toBe('demo.DIF');
  expect(mgr.state).toMatchObject({ type: 'enrolled', bootstrap: 'b2' });
  expect(lost).toEqual([]);
  expect(mgr.metrics().outages).toBe(0);
});

it('monitor.stop() while the recovery stores what it brought (a slow RIB): the run is published aborted, the stop its cause, and the member is not enrolled', async () => {
  vi.useFakeTimers();
  const failures = published('rina-enrollment:enrollment:failure');
  const net = new MemoryNetwork({ seed: 9 });
  await withEnroller({}, net);
  const rib = new MemoryRib();
  const write = rib.write.bind(rib);
  let hold: Promise<void> | undefined;
  rib.write = async (object) => {
    await hold;
    return write(object);
  };
  const { mgr } = member(net, 'm', config, { rib });
  await mgr.enrolWithBootstrap('bootstrap');
  const monitor = mgr.startConnectionMonitoring();
  net.partition('m', 'bootstrap');
  await vi.advanceTimersByTimeAsync(3100);
  let release: () => void = () => undefined;
  hold = new Promise((resolve) => {
    release = resolve;
  });
  net.heal('m', 'bootstrap');
  await vi.advanceTimersByTimeAsync(1000); // answered: the result is being stored
  monitor.stop();
  release();
  await vi.advanceTimersByTimeAsync(10);
  expect(failures).toHaveLength(1);
  const error = (failures[0] as { error: Error }).error;
  expect(error.name).toBe('EnrollmentAbortedError');
  expect((error.cause as Error).message).toBe('monitoring stopped');
  expect(mgr.state.type).toBe('idle');
});

it('close() while the recovery waits out a backoff reports no failed attempt: the run ends aborted, by the close', async () => {
  vi.useFakeTimers();
  const { mgr } = await recovering();
  const failures: Array<number | undefined> = [];
  mgr.on('reenroll:failure', ({ retryInMs }) => failures.push(retryInMs));
  await vi.advanceTimersByTimeAsync(350); // the first attempt timed out at 300 ms: waiting for the next
  expect(failures).toHaveLength(1);
  expect(failures[0]).toBeGreaterThan(0);
  await mgr.close();
  await vi.advanceTimersByTimeAsync(1000);
  expect(failures).toHaveLength(1);
  expect(mgr.state.type).toBe('closed');
});
