/**
 * examples/snapshot-member.mjs done as its first lines say, with this Node: bundled (esbuild, `rina-enrollment`
 * resolved to src/ through tsconfig's paths), built into a V8 startup snapshot whose builder runs warmUp(), then
 * two processes started from that one snapshot enrol with an enroller in this process over UDP on 127.0.0.1:
 * each gets an address of its own (nothing the builder held, such as an invoke-id or a random state, makes the
 * two processes collide), and each leaves with M_RELEASE.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import type { MemberInfo } from '../src/index.js';
import { freePort as freeUdpPort } from './support/cli.js';
import { cleanup, udpEnroller, until } from './support/helpers.js';

const EXAMPLE = fileURLToPath(new URL('../examples/snapshot-member.mjs', import.meta.url));
const TIMERS = fileURLToPath(new URL('./support/snapshot-timers.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'rina-snapshot-'));
const blob = join(dir, 'member.blob');
const timersBlob = join(dir, 'timers.blob');

/** Bundles `source` as CommonJS and builds a snapshot of it into `out`; resolves with the builder's exit and output. */
async function snapshot(source: string, out: string) {
  const entry = out.replace(/\.blob$/, '.cjs');
  await build({ entryPoints: [source], bundle: true, platform: 'node', format: 'cjs', outfile: entry, logLevel: 'error' });
  return node(['--snapshot-blob', out, '--build-snapshot', entry]);
}

/** Runs this Node with `args`; resolves with its exit code and output (killed after 10 s). */
function node(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  // No warning either: node:dgram is loaded at the first bind, so Node has nothing to say about it.
  expect(await snapshot(EXAMPLE, blob)).toEqual({ code: 0, stdout: '', stderr: '' });
  expect(await snapshot(TIMERS, timersBlob)).toEqual({ code: 0, stdout: '', stderr: '' });
}, 30_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(cleanup);

it('two processes from one snapshot enrol, each at an address of its own, and release it', async () => {
  const { enroller, address } = await udpEnroller();
  const enrolled: MemberInfo[] = [];
  const released: string[] = [];
  enroller.on('member:enrolled', (m) => enrolled.push(m));
  enroller.on('member:released', (m) => released.push(m.name));
  const runs = await Promise.all(['snap-1', 'snap-2'].map((name) => node(['--snapshot-blob', blob, address, name])));
  for (const [i, run] of runs.entries()) {
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`^snap-${i + 1} enrolled in demo\\.DIF as address \\d+ \\(first enrollment: [\\d.]+ ms\\)\\n$`));
  }
  const addresses = runs.map((r) => Number(/as address (\d+)/.exec(r.stdout)?.[1]));
  expect(enrolled.map((m) => [m.name, m.address]).sort()).toEqual([
    ['snap-1', addresses[0]],
    ['snap-2', addresses[1]],
  ]);
  expect(new Set(addresses).size).toBe(2);
  await until(() => released.length === 2, 2000, 'both M_RELEASEs handled'); // (sent before each process exited)
  expect(released.sort()).toEqual(['snap-1', 'snap-2']);
}, 20_000);

it('timers fire in a process from a snapshot whose builder ran warmUp({ udp: true }): a plain one, and the enrollment timeouts (a newcomer, 2026-12-06)', async () => {
  // Before the fix, Node's timer lists of the builder's cleared, unref'd timers came with the snapshot and no
  // timer was armed: neither fired, and the process hung until killed.
  const run = await node(['--snapshot-blob', timersBlob, `127.0.0.1:${await freeUdpPort()}`]);
  expect(run.code, run.stderr).toBe(0);
  const { outcome, timerMs } = JSON.parse(run.stdout) as { outcome: string; timerMs: number };
  expect(outcome).toBe('EnrollmentTimeoutError');
  expect(timerMs).toBeGreaterThanOrEqual(999);
}, 20_000);
