/**
 * Setup of every test file that shares its worker with others (vitest.config.ts, project "shared"): a file
 * fails if it leaves an entry in the process-wide timing wheel (a manager or an enroller it did not close or
 * stop: its timers would run in the files after it), a UDP socket open (a shim it did not close, or one the
 * library left behind), or fake timers installed.
 */
import { afterAll, vi } from 'vitest';
import { systemClock } from '../../src/util/clock.js';
import { tickerFor } from '../../src/util/ticker.js';

const wheel = tickerFor(systemClock);
/** UDP sockets open now (Node's UDPWrap handles; an unref'd one is not counted). */
const udpSockets = (): number => process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length;
// Read when the setup runs, before the test file's own top-level code: what that code starts counts too.
const before = wheel.size;
const socketsBefore = udpSockets();

afterAll(async () => {
  const fake = vi.isFakeTimers();
  vi.useRealTimers();
  // What the file's last continuations schedule (a close() not awaited, an attempt ending) counts too.
  await new Promise((resolve) => setTimeout(resolve, 20));
  const left = wheel.size - before;
  if (left > 0) throw new Error(`the file left ${left} timer(s) in the shared wheel: close every manager, stop every enroller`);
  const sockets = udpSockets() - socketsBefore;
  if (sockets > 0) throw new Error(`the file left ${sockets} UDP socket(s) open: close every shim`);
  if (fake) throw new Error('the file left fake timers installed: call vi.useRealTimers() after each test that installs them');
});
