/**
 * What the state shows while a run looks its `srv:` entries up (a lookup held
 * open by the test): a re-enrollment of an enrolled member shows itself from
 * the start; a first enrollment, an enrol() of an enrolled member and a
 * re-enrollment from idle show nothing until their attempt starts. An
 * explicit bootstrap is never looked up.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterEach, expect, it, vi } from 'vitest';
import { MemoryNetwork } from '../../src/index.js';
import { scriptedResolver } from '../support/dns.js';
import { cleanup, member, onCleanup, settle, withEnroller } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

const NAME = '_rina-enroll._udp.example.test';
const ENROLLER = '10.0.0.1:7000';

/** A resolver of NAME to ENROLLER (through the target a.test), whose SRV lookups wait while `hold()` is in force. */
const heldResolver = () =>
  scriptedResolver({ [NAME]: [{ name: 'a.test', port: 7000, priority: 0, weight: 0 }] }, { 'a.test': { a: ['10.0.0.1'] } });

/** A member "m" with only the `srv:` entry configured, enrolled with ENROLLER named explicitly (so no lookup yet). */
async function enrolledExplicitly(config = {}) {
  const { net } = await withEnroller({}, new MemoryNetwork({ seed: 4 }), ENROLLER);
  const dns = heldResolver();
  const { mgr } = member(net, 'm', { bootstraps: [`srv:${NAME}`], ...config }, { discovery: { resolver: dns.resolver } });
  await mgr.enrolWithBootstrap(ENROLLER);
  expect(dns.calls.srv).toBe(0); // an explicit bootstrap is not looked up
  return { net, mgr, dns };
}

it('reEnroll() of an enrolled member shows reenrolling with its last bootstrap while the lookup runs', async () => {
  const { mgr, dns } = await enrolledExplicitly();
  const address = mgr.address;
  dns.hold();
  const again = mgr.reEnroll();
  await settle();
  expect(dns.calls.srv).toBe(1);
  expect(mgr.state).toEqual({ type: 'reenrolling', bootstrap: ENROLLER, attempt: 1, previousAddress: address });
  dns.release();
  await expect(again).resolves.toBe('demo.DIF');
});

it('enrol() of an enrolled member is no re-enrollment: it stays enrolled while the lookup runs', async () => {
  const { mgr, dns } = await enrolledExplicitly();
  dns.hold();
  const again = mgr.enrol();
  await settle();
  expect(dns.calls.srv).toBe(1);
  expect(mgr.state.type).toBe('enrolled');
  dns.release();
  await expect(again).resolves.toBe('demo.DIF');
});

it('a first enrol() shows nothing while the lookup runs, a bootstrap configured beside the srv: entry or not', async () => {
  const { net } = await withEnroller({}, new MemoryNetwork({ seed: 4 }), ENROLLER);
  const dns = heldResolver();
  const { mgr } = member(net, 'm', { bootstraps: [`srv:${NAME}`, ENROLLER] }, { discovery: { resolver: dns.resolver } });
  dns.hold();
  const first = mgr.enrol();
  await settle();
  expect(dns.calls.srv).toBe(1);
  expect(mgr.state.type).toBe('idle');
  dns.release();
  await expect(first).resolves.toBe('demo.DIF');
});

it('reEnroll() from idle (the last one gave up) shows nothing while the lookup runs', async () => {
  vi.useFakeTimers();
  const { net, mgr, dns } = await enrolledExplicitly({ maxRetries: 1, timeoutMs: 300 });
  net.partition('m', ENROLLER);
  const failed = mgr.reEnroll().catch((err: Error) => err.name);
  await vi.advanceTimersByTimeAsync(500);
  expect(await failed).toBe('EnrollmentTimeoutError');
  expect(mgr.state.type).toBe('idle');
  net.heal('m', ENROLLER);
  const lookups = dns.calls.srv;
  dns.hold();
  const again = mgr.reEnroll();
  await vi.advanceTimersByTimeAsync(0);
  expect(dns.calls.srv).toBe(lookups + 1); // its one bootstrap failed since the last lookup: another is due
  expect(mgr.state.type).toBe('idle');
  dns.release();
  await vi.advanceTimersByTimeAsync(100);
  await expect(again).resolves.toBe('demo.DIF');
});

it('an enrol() aborted during its first lookup is published as failed with no bootstrap named: none was tried', async () => {
  const { net } = await withEnroller({}, new MemoryNetwork({ seed: 4 }), ENROLLER);
  const dns = heldResolver();
  const failures: Array<{ bootstrap: string }> = [];
  const listener = (message: unknown) => failures.push(message as { bootstrap: string });
  subscribe('rina-enrollment:enrollment:failure', listener);
  onCleanup(() => unsubscribe('rina-enrollment:enrollment:failure', listener));
  const { mgr } = member(net, 'm', { bootstraps: [`srv:${NAME}`] }, { discovery: { resolver: dns.resolver } });
  dns.hold();
  const controller = new AbortController();
  const first = mgr.enrol({ signal: controller.signal }).catch((err: Error) => err.name);
  await settle();
  controller.abort();
  expect(await first).toBe('EnrollmentAbortedError');
  dns.release(); // the run ends when the lookup it waits for does
  await settle();
  expect(failures).toMatchObject([{ bootstrap: '' }]);
  expect(mgr.state.type).toBe('idle');
});
