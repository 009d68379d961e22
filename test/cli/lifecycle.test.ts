/**
 * The shutdown signals of both commands: listened for from before the
 * command starts (test/deploy.test.ts sends one right after the start), and
 * given back to Node when the command fails, so that a signal during the
 * exit is not swallowed and no listener stays behind in the process.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it, vi } from 'vitest';
import { run } from '../../src/cli/run.js';
import { freePort } from '../support/cli.js';

const listeners = () => ({
  SIGINT: process.listenerCount('SIGINT'),
  SIGTERM: process.listenerCount('SIGTERM'),
  SIGHUP: process.listenerCount('SIGHUP'),
});

afterEach(() => vi.restoreAllMocks());

// Found by a review (2026-12-06): once the listeners came before start(), a start that failed left them installed.
it('rina-enroll bootstrap whose start fails leaves no shutdown-signal listener behind', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rina-cli-lifecycle-'));
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    const state = join(dir, 'state.json');
    writeFileSync(state, 'not json'); // the store's load() fails: the enroller cannot start
    const before = listeners();
    const code = await run(['bootstrap', '--listen', '127.0.0.1:0', '--dif', 'demo.DIF', '--pool', '1002-1999', '--state', state]);
    expect(code).toBe(1);
    expect(String(stderr.mock.calls.at(-1)?.[0])).toMatch(/is not an address table/);
    expect(listeners()).toEqual(before);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it('rina-enroll member whose enrollment fails leaves no shutdown-signal listener behind', async () => {
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  const before = listeners();
  const nobody = `127.0.0.1:${await freePort()}`;
  const code = await run(['member', '--name', 'm', '--bootstrap', nobody, '--timeout', '100', '--retries', '1']);
  expect(code).toBe(1);
  expect(listeners()).toEqual(before);
});
