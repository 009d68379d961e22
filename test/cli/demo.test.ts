import { spawn } from 'node:child_process';
import { expect, it } from 'vitest';
import { DEMO_BUILD } from '../support/cli-paths.js';

it('demo --ha without an etcd binary says how to install one and exits non-zero', async () => {
  const child = spawn(process.execPath, [DEMO_BUILD, '--ha'], {
    env: { ...process.env, ETCD_BIN: '/nonexistent/etcd' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  expect(code).toBe(1);
  expect(stderr).toMatch(/demo --ha needs etcd: .*apt-get install etcd-server/);
});

it('demo --help prints its usage and exits 0; an unknown flag prints it on stderr and exits 2, never a stack trace', async () => {
  const run = async (args: string[]) => {
    const child = spawn(process.execPath, [DEMO_BUILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    return { code, out, err };
  };
  const help = await run(['--help']);
  expect(help.code).toBe(0);
  expect(help.out).toMatch(/^usage: npm run demo -- \[--members N\]/);
  const bad = await run(['--bogus']);
  expect(bad.code).toBe(2);
  expect(bad.err).toMatch(/^demo: Unknown option '--bogus'/);
  expect(bad.err).not.toMatch(/\n\s+at /);
});
