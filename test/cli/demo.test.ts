import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const DEMO = fileURLToPath(new URL('../../src/cli/demo.ts', import.meta.url));

it('demo --ha without an etcd binary says how to install one and exits non-zero', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', DEMO, '--ha'], {
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
