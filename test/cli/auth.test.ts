/** `rina-enroll --auth`: authentication from the CLI alone, both commands, over UDP on 127.0.0.1. */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { cliRunner, freePort, runCliInProcess } from '../support/cli.js';

const { cli, killAll } = cliRunner();
afterEach(killAll);

const dir = mkdtempSync(join(tmpdir(), 'rina-cli-auth-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  chmodSync(path, 0o600);
  return path;
};
const KEY = 'k9Qm3vX7pL2sR8tW5yZ1aB4cD6eF0gH=';

async function enroller(extra: string[], env: Record<string, string> = {}) {
  const port = await freePort();
  const boot = cli(['bootstrap', '--listen', `127.0.0.1:${port}`, '--dif', 'demo.DIF', '--pool', '1002-1999', ...extra], env);
  await boot.waitFor(/serving demo\.DIF/);
  return { boot, at: `127.0.0.1:${port}` };
}
const member = (name: string, at: string, extra: string[], env: Record<string, string> = {}) =>
  cli(['member', '--name', name, '--dif', 'demo.DIF', '--bootstrap', at, '--timeout', '1000', '--retries', '1', ...extra], env);

describe('rina-enroll --auth', () => {
  // Found by an audit (2026-12-06): SECURITY.md's start-up line, which tells an operator who may enrol, had no test.
  it('the enroller says at start who may enrol: anyone who reaches it, or its mechanism and how many names are allowed', async () => {
    const open = await enroller([]);
    await open.boot.waitFor(new RegExp(`authentication: none \\(anyone who reaches ${open.at.replaceAll('.', '\\.')} may enrol\\)`));
    const names = file('names.txt', 'm1\nm2\n');
    const closed = await enroller(['--auth', 'hmac-sha256', '--allowed-names', names], { RINA_ENROLL_AUTH_KEY: KEY });
    await closed.boot.waitFor(/authentication: hmac-sha256, 2 allowed names/);
  });

  it('hmac-sha256 from a key file on the enroller and the environment on the member: the right key enrols; a wrong key, or none, is refused with -6 and exits 1', async () => {
    // trailing whitespace of a key file is ignored (SECURITY.md): spaces, a tab, CRLF and a blank line after the key
    const { boot, at } = await enroller(['--auth', 'hmac-sha256', '--auth-key-file', file('dif.key', `${KEY} \t\r\n\n`)]);
    const good = member('m1', at, ['--auth', 'hmac-sha256'], { RINA_ENROLL_AUTH_KEY: KEY });
    await good.waitFor(/enrolled in demo\.DIF as address 1002/);
    await boot.waitFor(/member m1 enrolled/);

    const wrong = member('m2', at, ['--auth', 'hmac-sha256'], { RINA_ENROLL_AUTH_KEY: `${KEY}x` });
    expect(await wrong.exited).toBe(1);
    expect(wrong.stderr.join('\n')).toMatch(/result -6.*this member refused the enroller's proof/);
    const none = member('m3', at, []);
    expect(await none.exited).toBe(1);
    expect(none.stderr.join('\n')).toMatch(/-6.*authentication required/);
    // the key appears nowhere in what either side printed
    for (const p of [boot, good, wrong, none]) expect([...p.lines, ...p.stderr].join('\n')).not.toContain(KEY);
  });

  it('passwd, and --allowed-names: only the listed names enrol', async () => {
    const names = file('names.txt', '# members of demo.DIF\nalice\n\n  bob  # the second\n');
    const { at } = await enroller(['--auth', 'passwd', '--allowed-names', names], { RINA_ENROLL_AUTH_KEY: 's3cret' });
    const pw = file('pw', 's3cret\n');
    const alice = member('alice', at, ['--auth', 'passwd', '--auth-key-file', pw]);
    await alice.waitFor(/enrolled in demo\.DIF/);
    const bob = member('bob', at, ['--auth', 'passwd', '--auth-key-file', pw]);
    await bob.waitFor(/enrolled in demo\.DIF/);
    const mallory = member('mallory', at, ['--auth', 'passwd', '--auth-key-file', pw]);
    expect(await mallory.exited).toBe(1);
    expect(mallory.stderr.join('\n')).toMatch(/not allowed to enrol/);
  });

  it.each([
    [
      ['member', '--name', 'm', '--dif', 'd', '--bootstrap', '127.0.0.1:7000', '--auth', 'hmac-sha256'],
      {},
      /needs the key: --auth-key-file PATH, or the RINA_ENROLL_AUTH_KEY/,
    ],
    [
      ['member', '--name', 'm', '--bootstrap', '127.0.0.1:7000', '--auth', 'hmac-sha256'],
      { RINA_ENROLL_AUTH_KEY: KEY },
      /--auth hmac-sha256 needs --dif/,
    ],
    [
      ['member', '--name', 'm', '--dif', 'd', '--bootstrap', '127.0.0.1:7000', '--auth', 'hmac-sha256'],
      { RINA_ENROLL_AUTH_KEY: 'short' },
      /at least 16 bytes, this one has 5/,
    ],
    [
      ['member', '--name', 'm', '--bootstrap', '127.0.0.1:7000', '--auth', 'passwd', '--auth-key-file', '/nonexistent/pw'],
      {},
      /--auth-key-file: cannot read "\/nonexistent\/pw" \(ENOENT\)/,
    ],
    [
      ['member', '--name', 'm', '--bootstrap', '127.0.0.1:7000', '--auth-key-file', '/etc/hostname'],
      {},
      /--auth-key-file needs --auth passwd or --auth hmac-sha256/,
    ],
    [
      ['member', '--name', 'm', '--bootstrap', '127.0.0.1:7000', '--auth', 'rsa'],
      {},
      /argument 'rsa' is invalid. Allowed choices are none, passwd, hmac-sha256/,
    ],
    [
      ['bootstrap', '--listen', '127.0.0.1:0', '--dif', 'd', '--pool', '1-9', '--allowed-names', '/nonexistent/names'],
      {},
      /--allowed-names: cannot read/,
    ],
    [
      ['bootstrap', '--listen', '127.0.0.1:0', '--dif', 'd', '--pool', '1-9', '--max-pdu-bytes', '10'],
      {},
      /--max-pdu-bytes: must be >= 64/,
    ],
    [
      ['bootstrap', '--listen', '127.0.0.1:0', '--dif', 'd', '--pool', '1-9', '--release-per-second', '0'],
      {},
      /--release-per-second: must be >= 1/,
    ],
    [['member', '--name', 'm', '--bootstrap', '127.0.0.1:7000', '--retries', '0'], {}, /--retries: must be >= 1/],
    [
      ['member', '--name', 'm', '--bootstrap', '127.0.0.1:7000'],
      { RINA_ENROLL_AUTH_KEY: KEY },
      /RINA_ENROLL_AUTH_KEY is set but --auth is none, which would ignore it and admit anyone/,
    ],
    [
      [
        'member',
        '--name',
        'm',
        '--dif',
        'd',
        '--bootstrap',
        '127.0.0.1:7000',
        '--auth',
        'hmac-sha256',
        '--auth-key-file',
        file('env', `RINA_ENROLL_AUTH_KEY=${KEY}\n`),
      ],
      {},
      /looks like an environment file \("RINA_ENROLL_AUTH_KEY=\.\.\."\)/,
    ],
    [
      ['member', '--name', 'm', '--bootstrap', '127.0.0.1:7000', '--heartbeat-interval', '5', '--connection-timeout', '3'],
      {},
      /--connection-timeout: must be greater than --heartbeat-interval/,
    ],
  ])('bad usage %j: one line naming the flag, exit 2', async (args, env, message) => {
    const p = await runCliInProcess(args, env as Record<string, string>);
    expect(p.code).toBe(2);
    expect(p.stderr.filter((l) => l.trim() !== '')).toHaveLength(1);
    expect(p.stderr[0]).toMatch(message);
  });

  it('an empty allow-list file is refused at start', async () => {
    const p = cli([
      'bootstrap',
      '--listen',
      '127.0.0.1:0',
      '--dif',
      'd',
      '--pool',
      '1-9',
      '--allowed-names',
      file('empty.txt', '# nobody\n\n'),
    ]);
    expect(await p.exited).toBe(2);
    expect(p.stderr[0]).toMatch(/lists no IPCP name/);
  });
});
