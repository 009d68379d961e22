/**
 * warmUp(): one real enrollment (seen on the diagnostics channels), and nothing left behind — no entry in the
 * shared timing wheel, no timer, no socket — since a startup snapshot taken after it must hold no handle.
 * Real timers and, for `udp`, real sockets on 127.0.0.1.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { getEventListeners } from 'node:events';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { ConfigError, warmUp } from '../src/index.js';
import { systemClock } from '../src/util/clock.js';
import { tickerFor } from '../src/util/ticker.js';

const wheel = tickerFor(systemClock);
/** Node's handles of these kinds open (ref'd or not): the runner's own come and go, so compare with at most. */
const resources = async () => {
  await new Promise((resolve) => setTimeout(resolve, 20)); // a closed socket's handle goes a loop turn or two later
  const all = process.getActiveResourcesInfo();
  return { timers: all.filter((r) => r === 'Timeout').length, sockets: all.filter((r) => r === 'UDPWrap').length };
};

const expectNoMore = (now: { timers: number; sockets: number }, before: { timers: number; sockets: number }) => {
  expect(now.timers).toBeLessThanOrEqual(before.timers);
  expect(now.sockets).toBeLessThanOrEqual(before.sockets);
};

let successes: Array<{ ipcpName: string; bootstrap: string; address: number }> = [];
const onSuccess = (message: unknown) => successes.push(message as (typeof successes)[number]);
beforeEach(() => {
  successes = [];
  subscribe('rina-enrollment:enrollment:success', onSuccess);
});
afterEach(() => unsubscribe('rina-enrollment:enrollment:success', onSuccess));

it('enrols once in memory and leaves no wheel entry, timer or socket', async () => {
  const before = await resources();
  const wheelBefore = wheel.size;
  await warmUp();
  expect(successes).toEqual([expect.objectContaining({ ipcpName: 'warm-up.member', bootstrap: 'enroller', address: 1 })]);
  expect(wheel.size).toBe(wheelBefore);
  expectNoMore(await resources(), before);
});

/** Every listener on the process, by event. */
const processListeners = () => Object.fromEntries(process.eventNames().map((e) => [String(e), process.listenerCount(e)]));

// Found by an audit (2026-12-06): the README's "no listener" and the wheel after `udp` were not checked.
it('with udp, also enrols over two UdpShims on 127.0.0.1 and closes both; no listener or wheel entry stays', async () => {
  const before = await resources();
  const wheelBefore = wheel.size;
  const listenersBefore = processListeners();
  const controller = new AbortController();
  await warmUp({ udp: true, signal: controller.signal });
  expect(successes.map((s) => s.bootstrap)).toEqual(['enroller', expect.stringMatching(/^127\.0\.0\.1:\d+$/)]);
  expectNoMore(await resources(), before);
  expect(wheel.size).toBe(wheelBefore);
  expect(processListeners()).toEqual(listenersBefore);
  expect(getEventListeners(controller.signal, 'abort')).toEqual([]); // the caller's signal holds nothing of it
});

// Found by an audit (2026-12-06): warmUp(null) and { signal: 5 } rejected with a TypeError.
it('options it cannot use are a ConfigError, before anything is opened', async () => {
  await expect(warmUp(null as never)).rejects.toThrow(ConfigError);
  await expect(warmUp({ signal: 5 } as never)).rejects.toThrow(/options\.signal: must be an AbortSignal/);
  await expect(warmUp({ upd: true } as never)).rejects.toThrow(/options\.upd: unknown option: the options are signal, udp/);
  expect(successes).toEqual([]);
});

it('an aborted signal rejects with its reason before anything is opened', async () => {
  const reason = new Error('not now');
  await expect(warmUp({ signal: AbortSignal.abort(reason), udp: true })).rejects.toBe(reason);
  expect(successes).toEqual([]);
});

// Found by an audit (2026-12-06): aborted once the enrollment had begun, it rejected with the member's
// EnrollmentAbortedError (the reason only as its cause), not with the reason COLD-START.md promises.
it("aborted while enrolling, it rejects with the signal's reason and still leaves nothing open", async () => {
  const before = await resources();
  const wheelBefore = wheel.size;
  const controller = new AbortController();
  const warming = warmUp({ signal: controller.signal, udp: true });
  const reason = new Error('stop');
  controller.abort(reason);
  await expect(warming).rejects.toBe(reason);
  expect(wheel.size).toBe(wheelBefore);
  expectNoMore(await resources(), before);
});
