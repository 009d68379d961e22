/** `npm run bench` with a wrong flag: its reason and the usage, exit 2, nothing measured and no stack trace. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

it('bench/run.ts exits 2 on an unknown flag or scenario, and 0 with the usage for -h', () => {
  const run = fileURLToPath(new URL('../bench/run.ts', import.meta.url));
  const bench = (...args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', run, ...args], { encoding: 'utf8', timeout: 20_000 });
  const bogus = bench('--bogus');
  expect([bogus.status, bogus.stdout]).toEqual([2, '']);
  expect(bogus.stderr).toMatch(/^bench: Unknown option '--bogus'\nusage: npm run bench /);
  const unknown = bench('--only', 'speed');
  expect([unknown.status, unknown.stderr]).toEqual([
    2,
    'bench: unknown scenario "speed"; known: latency, throughput, idle, detection, storm, codec, stores, cold, scale\n',
  ]);
  const help = bench('-h');
  expect([help.status, help.stderr]).toEqual([0, '']);
  expect(help.stdout).toMatch(/^usage: npm run bench /);
}, 60_000);
