/**
 * Starting and joining runs, on the paths the mutation run found unchecked:
 * an explicit bootstrap against a run already going, the error of a run
 * with nothing to try, and the cause of an abort before the start.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterEach, expect, it } from 'vitest';
import { decodeCdapMessage, EnrollmentAbortedError, EnrollmentInProgressError, NoBootstrapPeersError, OpCode } from '../../src/index.js';
import { cleanup, member, onCleanup, withEnroller } from '../support/helpers.js';

afterEach(cleanup);

it('another bootstrap while one is being tried is refused, naming both; a call without one joins the run, and so does the reverse', async () => {
  const { net } = await withEnroller();
  const connects: string[] = [];
  net.tap((p) => {
    if (decodeCdapMessage(p.pdu).opCode === OpCode.M_CONNECT) connects.push(p.from);
  });
  const { mgr } = member(net, 'm', { bootstraps: ['bootstrap'] });
  const explicit = mgr.enrolWithBootstrap('bootstrap');
  const refused = mgr.enrolWithBootstrap('elsewhere').catch((err: unknown) => err);
  const joined = mgr.enrol();
  expect(await refused).toEqual(
    new EnrollmentInProgressError('an enrollment with "bootstrap" is in progress; cannot start one with "elsewhere"'),
  );
  expect(await Promise.all([explicit, joined])).toEqual(['demo.DIF', 'demo.DIF']);
  const { mgr: other } = member(net, 'o', { bootstraps: ['bootstrap'] });
  const configured = other.enrol();
  const named = other.enrolWithBootstrap('bootstrap');
  expect(await Promise.all([configured, named])).toEqual(['demo.DIF', 'demo.DIF']);
  expect(connects).toEqual(['m', 'o']); // one run each
});

it('enrol() with no bootstrap known: NoBootstrapPeersError saying what to do, refused before any enrollment starts: nothing sent, nothing reported', async () => {
  const { net } = await withEnroller();
  const sent: string[] = [];
  net.tap((p) => sent.push(p.from));
  const { mgr } = member(net, 'm');
  const failures: unknown[] = [];
  const listener = (message: unknown) => failures.push(message);
  subscribe('rina-enrollment:enrollment:failure', listener);
  onCleanup(() => unsubscribe('rina-enrollment:enrollment:failure', listener));
  const states: string[] = [];
  mgr.on('state:change', (state) => states.push(state.type));
  await expect(mgr.enrol()).rejects.toThrow(new NoBootstrapPeersError('no bootstrap is known: configure bootstraps or enrol with one'));
  expect(sent).toEqual([]);
  expect(states).toEqual([]);
  expect(failures).toEqual([]); // refused up front: no enrollment started, so none failed
});

it('a signal aborted before the call: EnrollmentAbortedError whose cause is the signal’s reason', async () => {
  const { net } = await withEnroller();
  const { mgr } = member(net, 'm');
  const controller = new AbortController();
  const reason = new Error('shutting down');
  controller.abort(reason);
  const error = await mgr.enrolWithBootstrap('bootstrap', { signal: controller.signal }).catch((err: unknown) => err);
  expect(error).toBeInstanceOf(EnrollmentAbortedError);
  expect((error as Error).cause).toBe(reason);
});

it('each attempt is published on the diagnostics channel enrollment:start: who, with whom, which attempt, which kind', async () => {
  const { net } = await withEnroller();
  const starts: unknown[] = [];
  const listener = (message: unknown) => starts.push(message);
  subscribe('rina-enrollment:enrollment:start', listener);
  onCleanup(() => unsubscribe('rina-enrollment:enrollment:start', listener));
  const { mgr } = member(net, 'm');
  await mgr.enrolWithBootstrap('bootstrap');
  await mgr.reEnroll();
  expect(starts).toEqual([
    { ipcpName: 'm', bootstrap: 'bootstrap', attempt: 1, kind: 'enrolling' },
    { ipcpName: 'm', bootstrap: 'bootstrap', attempt: 1, kind: 'reenrolling' },
  ]);
});
