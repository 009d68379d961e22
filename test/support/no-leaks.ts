/**
 * Setup of every test file that shares its worker with others (vitest.config.ts, project "shared"): a file
 * fails if it leaves an entry in the process-wide timing wheel (a manager or an enroller it did not close or
 * stop: its timers would run in the files after it), or fake timers installed.
 */
import { afterAll, vi } from 'vitest';
import { systemClock } from '../../src/util/clock.js';
import { tickerFor } from '../../src/util/ticker.js';

const wheel = tickerFor(systemClock);
// Read when the setup runs, before the test file's own top-level code: what that code starts counts too.
const before = wheel.size;

afterAll(async () => {
  const fake = vi.isFakeTimers();
  vi.useRealTimers();
  // What the file's last continuations schedule (a close() not awaited, an attempt ending) counts too.
  await new Promise((resolve) => setTimeout(resolve, 20));
  const left = wheel.size - before;
  if (left > 0) throw new Error(`the file left ${left} timer(s) in the shared wheel: close every manager, stop every enroller`);
  if (fake) throw new Error('the file left fake timers installed: call vi.useRealTimers() after each test that installs them');
});
