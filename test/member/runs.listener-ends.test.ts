/**
 * A listener of a run's first event (its state change to enrolling or reenrolling) that ends it:
 * `close()`, `monitor.stop()` or an abort of the caller's signal. Found by an audit (2026-12-06): the run was not
 * current yet when its first event fired, so nothing ended it; a closed manager went back to `enrolling` and kept
 * sending, for ever in a recovery.
 */
import { afterEach, expect, it, vi } from 'vitest';
import { decodeCdapMessage, type EnrollmentState, MemoryNetwork, OpCode } from '../../src/index.js';
import { cleanup, member, withEnroller } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

/** An enroller and member `m` (attempts of 300 ms), and every datagram `m` sends from the moment `counting()` is called. */
async function world() {
  vi.useFakeTimers();
  const { enroller, net } = await withEnroller({}, new MemoryNetwork({ seed: 9 }));
  const { mgr } = member(net, 'm', { timeoutMs: 300, retransmitMs: 100, heartbeatIntervalSecs: 0.2, connectionTimeoutSecs: 0.6 });
  const sent: string[] = [];
  let counting = false;
  net.tap((p) => {
    const op = decodeCdapMessage(p.pdu).opCode;
    if (counting && p.from === 'm') sent.push(Object.entries(OpCode).find(([, v]) => v === op)?.[0] ?? String(op));
  });
  const states: string[] = [];
  mgr.on('state:change', (s: EnrollmentState) => states.push(s.type));
  return { enroller, net, mgr, sent, states, count: () => (counting = true) };
}

it('close() from a listener of the change to enrolling ends the enrollment: aborted, closed, nothing sent after', async () => {
  const t = await world();
  t.mgr.on('state:change', (s: EnrollmentState) => {
    if (s.type === 'enrolling') {
      t.count();
      void t.mgr.close();
    }
  });
  const outcome = t.mgr.enrolWithBootstrap('bootstrap').catch((e: unknown) => e);
  await vi.advanceTimersByTimeAsync(5_000);
  expect(((await outcome) as Error).name).toBe('EnrollmentAbortedError'); // before: EnrollmentTimeoutError after 3 attempts
  expect(t.mgr.state.type).toBe('closed'); // before: idle, through closed -> enrolling
  expect(t.states).toEqual(['enrolling', 'closed']);
  expect(t.sent.filter((op) => op === 'M_CONNECT')).toHaveLength(0);
});

it('close() from a listener of the change to reenrolling (the monitor’s recovery) ends it: nothing sent after', async () => {
  const t = await world();
  await t.mgr.enrolWithBootstrap('bootstrap');
  t.mgr.startConnectionMonitoring();
  let attempted = 0;
  t.mgr.on('state:change', (s: EnrollmentState) => {
    if (s.type !== 'reenrolling' || attempted++ > 0) return;
    t.count();
    void t.mgr.close();
  });
  t.net.partition('m', 'bootstrap'); // the bootstrap goes silent: a loss, then the recovery
  await vi.advanceTimersByTimeAsync(20_000);
  expect(attempted).toBe(1);
  expect(t.mgr.state.type).toBe('closed');
  expect(t.sent.filter((op) => op !== 'M_RELEASE')).toEqual([]); // before: M_CONNECTs for ever
});

it('monitor.stop() from a listener of the change to reenrolling ends the recovery: nothing sent after', async () => {
  const t = await world();
  await t.mgr.enrolWithBootstrap('bootstrap');
  const monitor = t.mgr.startConnectionMonitoring();
  let attempted = 0;
  t.mgr.on('state:change', (s: EnrollmentState) => {
    if (s.type !== 'reenrolling' || attempted++ > 0) return;
    t.count();
    monitor.stop();
  });
  t.net.partition('m', 'bootstrap');
  await vi.advanceTimersByTimeAsync(20_000);
  expect(attempted).toBe(1);
  expect(t.sent).toEqual([]); // before: 12 and climbing
  expect(t.mgr.state.type).toBe('idle');
});

it('the caller’s signal aborted by a listener of the change to enrolling ends the run: the member does not enrol behind its back', async () => {
  const t = await world();
  const controller = new AbortController();
  t.mgr.on('state:change', (s: EnrollmentState) => {
    if (s.type === 'enrolling' && !controller.signal.aborted) {
      t.count();
      controller.abort(new Error('changed my mind'));
    }
  });
  const outcome = t.mgr.enrolWithBootstrap('bootstrap', { signal: controller.signal }).catch((e: unknown) => e);
  await vi.advanceTimersByTimeAsync(5_000);
  expect(((await outcome) as Error).name).toBe('EnrollmentAbortedError');
  expect(t.mgr.state.type).toBe('idle'); // before: enrolled, with keepalives running
  expect(t.enroller.members()).toEqual([]);
  // The first M_CONNECT left in the same turn (p-retry starts its first attempt at once); nothing after it.
  expect(t.sent).toEqual(['M_CONNECT']);
});

// Found by a review (2026-12-06) of the fixes above.
it('close() from a listener of the change to closed joins the close: one M_RELEASE, not two', async () => {
  const t = await world();
  await t.mgr.enrolWithBootstrap('bootstrap');
  t.mgr.on('state:change', (s: EnrollmentState) => {
    if (s.type === 'closed') void t.mgr.close();
  });
  t.count();
  await t.mgr.close();
  await vi.advanceTimersByTimeAsync(100);
  expect(t.sent).toEqual(['M_RELEASE']);
});

it('enrolWithBootstrap() from a listener of the recovery’s first change: the explicit run’s attempt hears its answers', async () => {
  vi.useFakeTimers();
  const net = new MemoryNetwork({ seed: 9 });
  await withEnroller({}, net, 'bootstrap');
  await withEnroller({ addressPool: { first: 2002, last: 2999 } }, net, 'alt');
  await withEnroller({ addressPool: { first: 3002, last: 3999 } }, net, 'other');
  const config = {
    bootstraps: ['bootstrap', 'alt'],
    timeoutMs: 300,
    retransmitMs: 100,
    heartbeatIntervalSecs: 0.2,
    connectionTimeoutSecs: 0.6,
    maxRetries: 1,
  };
  const { mgr } = member(net, 'm', config);
  await mgr.enrolWithBootstrap('bootstrap');
  mgr.startConnectionMonitoring();
  let explicit: Promise<unknown> | undefined;
  mgr.on('state:change', (s: EnrollmentState) => {
    if (s.type === 'reenrolling' && explicit === undefined) explicit = mgr.enrolWithBootstrap('other').catch((e: unknown) => e);
  });
  net.partition('m', 'bootstrap');
  await vi.advanceTimersByTimeAsync(3_000);
  expect(await explicit).toBe('demo.DIF'); // before: EnrollmentTimeoutError, its attempt overwritten by the recovery's
  expect(mgr.state).toMatchObject({ type: 'enrolled', bootstrap: 'other' });
});
