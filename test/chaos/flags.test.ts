/**
 * `npm run chaos` flags (chaos/flags.ts): the usage for --help, and for a wrong flag or a value out of range the
 * reason and the usage with exit 2, never a stack trace; one run of chaos/run.ts shows the wiring.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { parseFlags } from '../../chaos/flags.js';

const CALM_S = 28;

it('--help (or -h) gives the usage and exit 0', () => {
  for (const flag of ['--help', '-h']) {
    const r = parseFlags([flag], CALM_S);
    expect(r).toMatchObject({ ok: false, code: 0 });
    if (!r.ok) expect(r.message).toMatch(/^usage: npm run chaos -- [\s\S]*--faults +only these kinds: enroller-kill, /);
  }
});

it('a wrong flag or a value out of range gives its reason, then the usage, and exit 2', () => {
  for (const [args, reason] of [
    [['--bogus'], "Unknown option '--bogus'"],
    [['--seed', '1.5'], '--seed must be an integer (got 1.5)'],
    [['--duration', '32'], '--duration must be at least 33 s: 5 s of faults, then the 28 s calm window (got 32)'],
    [['--duration', 'soon'], '--duration must be at least 33 s: 5 s of faults, then the 28 s calm window (got soon)'],
    [['--schedules', '0'], '--schedules must be an integer >= 1 (got 0)'],
    [['--members', '201'], '--members must be an integer 1-200 (got 201)'],
    [['--faults', 'etcd-kill,meteor'], '--faults: unknown kind meteor'],
    [['--auth', 'rot13'], '--auth must be none or hmac-sha256 (got rot13)'],
  ] as const) {
    const r = parseFlags([...args], CALM_S);
    expect(r, args.join(' ')).toMatchObject({ ok: false, code: 2 });
    if (!r.ok) expect(r.message.split('\n').slice(0, 2)).toEqual([`chaos: ${reason}`, expect.stringMatching(/^usage: /)]);
  }
});

it('the defaults, and every flag taken', () => {
  expect(parseFlags([], CALM_S)).toEqual({
    ok: true,
    seed: 1,
    durationMs: 60_000,
    schedules: 1,
    memberCount: 40,
    kinds: undefined,
    auth: 'none',
    out: undefined,
    verbose: false,
  });
  const args = ['--seed', '7', '--duration', '33', '--schedules', '2', '--members', '3', '--faults', 'etcd-kill, partition'];
  expect(parseFlags([...args, '--auth', 'hmac-sha256', '--out', '/tmp/x', '--verbose'], CALM_S)).toEqual({
    ok: true,
    seed: 7,
    durationMs: 33_000,
    schedules: 2,
    memberCount: 3,
    kinds: ['etcd-kill', 'partition'],
    auth: 'hmac-sha256',
    out: '/tmp/x',
    verbose: true,
  });
});

it('chaos/run.ts exits 2 on a bad flag with the reason on stderr and nothing started', () => {
  const run = fileURLToPath(new URL('../../chaos/run.ts', import.meta.url));
  const r = spawnSync(process.execPath, ['--import', 'tsx', run, '--members', '0'], { encoding: 'utf8', timeout: 20_000 });
  expect([r.status, r.stdout]).toEqual([2, '']);
  expect(r.stderr).toMatch(/^chaos: --members must be an integer 1-200 \(got 0\)\nusage: /);
});
