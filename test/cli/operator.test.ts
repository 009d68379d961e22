/**
 * `rina-enroll` as an unlucky or careless operator runs it. Found by an audit (2026-12-06); each case failed before
 * its fix.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cliRunner, freePort, runCliInProcess } from '../support/cli.js';
import { cleanup, onCleanup } from '../support/helpers.js';

const { cli, killAll } = cliRunner();
afterEach(async () => {
  await killAll();
  await cleanup();
});

/** A temporary directory, removed by cleanup. */
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rina-cli-operator-'));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A bootstrap on a free port keeping its table in `state`, serving. */
async function bootstrap(state: string) {
  const port = await freePort();
  const boot = cli(['bootstrap', '--listen', `127.0.0.1:${port}`, '--dif', 'demo.DIF', '--pool', '1002-1999', '--state', state]);
  await boot.waitFor(/serving demo\.DIF/);
  return { boot, at: `127.0.0.1:${port}` };
}

describe('rina-enroll, run carelessly', () => {
  it('stdout closed (piped into head -1): the bootstrap keeps serving, and a SIGTERM still stops it cleanly', async () => {
    const state = join(tempDir(), 'table.json');
    const { boot, at } = await bootstrap(state);
    boot.child.stdout?.destroy(); // the reader went away: every later line is EPIPE
    const m = cli(['member', '--name', 'm1', '--bootstrap', at]);
    await m.waitFor(/enrolled in demo\.DIF/); // the bootstrap logged it, into the closed pipe, and answered on
    boot.child.kill('SIGTERM');
    expect(await boot.exited).toBe(0); // before: exit 1, "Error: write EPIPE", the lock left behind
    expect(existsSync(`${state}.lock`)).toBe(false);
  });

  it('a second SIGTERM while the first one stops the bootstrap does not kill it half-way', async () => {
    const state = join(tempDir(), 'table.json');
    const { boot, at } = await bootstrap(state);
    const members = [1, 2, 3].map((i) => cli(['member', '--name', `m${i}`, '--bootstrap', at]));
    for (const m of members) await m.waitFor(/enrolled in demo\.DIF/);
    boot.child.kill('SIGTERM');
    await boot.waitFor(/stopping: releasing 3 members/); // (two signals sent at once may arrive as one)
    boot.child.kill('SIGTERM');
    expect(await boot.exited).toBe(0); // before: 143, killed by the second
    expect(boot.lines.join('\n')).toMatch(/stopped on SIGTERM/);
    expect(existsSync(`${state}.lock`)).toBe(false);
  });

  it('member --listen 127.0.0.1:0 (any free port, as --help says) enrols', async () => {
    const { at } = await bootstrap(join(tempDir(), 'table.json'));
    const m = cli(['member', '--name', 'm1', '--bootstrap', at, '--listen', '127.0.0.1:0']);
    await m.waitFor(/enrolled in demo\.DIF/); // before: exit 1, 'invalid UDP shim address "127.0.0.1:0"'
  });

  it('the bootstrap says who may enrol at the port it bound, not at the :0 it was given', async () => {
    const boot = cli(['bootstrap', '--listen', '127.0.0.1:0', '--dif', 'demo.DIF', '--pool', '1002-1999']);
    const line = await boot.waitFor(/authentication: none/);
    expect(line).toMatch(/anyone who reaches 127\.0\.0\.1:[1-9]\d* may enrol/);
  });
});

describe('rina-enroll, flags given carelessly', () => {
  it.each([
    [['bootstrap', '--listen', '127.0.0.1:0', '--pool', '1-10', '--dif', '--json'], '--dif needs a value, got the flag --json'],
    [['bootstrap', '--listen', '127.0.0.1:0', '--dif', '--pool', '1-10'], '--dif needs a value, got the flag --pool'],
    [['member', '--bootstrap', '127.0.0.1:1', '--name', '--verbose'], '--name needs a value, got the flag --verbose'],
    [
      ['bootstrap', '--listen', '127.0.0.1:0', '--dif', 'd', '--pool', '1-9', '--state', '--json'],
      '--state needs a value, got the flag --json',
    ],
    [['member', '--name', 'm', '--bootstrap', '127.0.0.1:7000', '--listen', '[::1]:0'], '--listen [::1]:0 is IPv6 but --bootstrap is IPv4'],
    [
      ['bootstrap', '--listen', '127.0.0.1:0', '--dif', 'd', '--pool', '1-9', '--alternate', '0.0.0.0:7000'],
      "option '--alternate <host:port>' argument '0.0.0.0:7000' is invalid. an alternate is advertised to members as it is: give the IP address and port they reach it at, got \"0.0.0.0:7000\"",
    ],
    [
      ['bootstrap', '--listen', '127.0.0.1:0', '--dif', 'd', '--pool', '1-9', '--alternate', 'srv:_rina-enroll._udp.example.com'],
      "option '--alternate <host:port>' argument 'srv:_rina-enroll._udp.example.com' is invalid. an alternate is advertised to members as it is: give the IP address and port they reach it at, got \"srv:_rina-enroll._udp.example.com\"",
    ],
  ])('%j: one line naming the flag, exit 2', async (args, message) => {
    const p = await runCliInProcess(args);
    expect(p.code).toBe(2);
    expect(p.stderr).toHaveLength(1);
    expect(p.stderr[0]).toMatch(/^(rina-enroll: )?error: /); // (commander's own checks print without the prefix)
    expect(p.stderr[0]).toContain(message);
  });

  it('--config given twice: the last one counts, as for every other flag; RINA_ENROLL_CONFIG is read too', async () => {
    const dir = tempDir();
    const bad = (name: string, key: string) => {
      const file = join(dir, name);
      writeFileSync(file, JSON.stringify({ listen: '127.0.0.1:0', dif: 'd', pool: '1-9', [key]: '1-9' }));
      return file;
    };
    const first = bad('first.json', 'poool');
    const last = bad('last.json', 'pooool');
    const twice = await runCliInProcess(['bootstrap', '--config', first, '--config', last]);
    expect([twice.code, twice.stderr[0]]).toEqual([2, expect.stringMatching(/last\.json": unknown key "pooool"/)]);
    const fromEnv = await runCliInProcess(['bootstrap'], { RINA_ENROLL_CONFIG: first });
    expect([fromEnv.code, fromEnv.stderr[0]]).toEqual([2, expect.stringMatching(/first\.json": unknown key "poool"/)]);
    const flagWins = await runCliInProcess(['bootstrap', `--config=${last}`], { RINA_ENROLL_CONFIG: first });
    expect(flagWins.stderr[0]).toMatch(/last\.json": unknown key "pooool"/);
  });

  it('member --metrics-listen on a port in use names the flag, as the bootstrap does', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    onCleanup(() => new Promise<void>((resolve) => busy.close(() => resolve())));
    const { port } = busy.address() as { port: number };
    const p = await runCliInProcess([
      'member',
      '--name',
      'm',
      '--bootstrap',
      `127.0.0.1:${await freePort()}`,
      '--metrics-listen',
      `127.0.0.1:${port}`,
    ]);
    expect(p.code).toBe(1);
    expect(p.stderr).toEqual([
      expect.stringMatching(new RegExp(`^rina-enroll: error: --metrics-listen 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`)),
    ]);
  });
});
