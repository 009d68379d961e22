/**
 * An enrollment waiting out its backoff keeps no process alive: every timer
 * it holds is unref'd (real timers: Node counts only ref'd ones as active).
 */
import { afterEach, expect, it } from 'vitest';
import { cleanup, member, withEnroller } from '../support/helpers.js';

afterEach(cleanup);

/** Timers that keep the process alive now. */
const refTimers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

it('in the backoff between two attempts (a minute), no timer of the library is ref’d', async () => {
  const { net } = await withEnroller();
  net.partition('m', 'bootstrap');
  const { mgr } = member(net, 'm', { timeoutMs: 20, retransmitMs: 10, maxRetries: 2, initialBackoffMs: 60_000 });
  const outcome = mgr.enrolWithBootstrap('bootstrap').catch((err: Error) => err.name);
  await new Promise((resolve) => setTimeout(resolve, 100)); // the first attempt timed out at 20 ms
  expect(mgr.state.type).toBe('enrolling');
  const waiting = refTimers();
  await mgr.close();
  expect(await outcome).toBe('EnrollmentAbortedError');
  expect(refTimers()).toBe(waiting); // the backoff's timer, now cleared, was not among them
});
