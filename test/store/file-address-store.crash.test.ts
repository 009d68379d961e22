/**
 * "Rewritten crash-safely": an enroller process SIGKILLed while it binds
 * leaves a file that is, at every moment, a valid address table holding
 * every binding it reported done.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { FileAddressStore } from '../../src/index.js';
import { built } from '../support/cli-paths.js';

const SCRIPT = built(new URL('./fixtures/bind-loop.ts', import.meta.url));
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Whether `text` is a table the store reads: `{ bindings: { m0: 1, m1: 2, ... } }`, names and addresses unique. */
function validTable(text: string): number {
  const { bindings } = JSON.parse(text) as { bindings: Record<string, number> };
  const entries = Object.entries(bindings);
  for (const [name, address] of entries) expect(address).toBe(Number(name.slice(1)) + 1);
  return entries.length;
}

it('SIGKILLed at random moments while binding in a loop: every read of the file, and the next load(), is a valid table with every binding reported done', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rina-crash-'));
  dirs.push(dir);
  const path = join(dir, 'table.json');
  let reported = -1;
  let reads = 0;
  for (const killAfterMs of [150 + Math.random() * 150, 50 + Math.random() * 100]) {
    const child: ChildProcess = spawn(process.execPath, [SCRIPT, path], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      for (const m of out.matchAll(/bound (\d+)\n/g)) reported = Math.max(reported, Number(m[1]));
    });
    // wait for the first bind of this run, then read the file while the child keeps writing it
    for (let i = 0; i < 300 && !out.includes('bound'); i++) await new Promise((r) => setTimeout(r, 10));
    expect(out).toContain('bound');
    const until = performance.now() + killAfterMs;
    while (performance.now() < until) {
      validTable(readFileSync(path, 'utf8'));
      reads++;
      await new Promise((r) => setImmediate(r));
    }
    child.kill('SIGKILL');
    await exited;
    // the killed process's lock is stale: a new store takes it over and reads the whole table
    const store = new FileAddressStore(path);
    const table = await store.load();
    await store.close();
    expect(validTable(readFileSync(path, 'utf8'))).toBe(table.length);
    expect(table.length).toBeGreaterThanOrEqual(reported + 1);
    expect(table).toEqual(Array.from({ length: table.length }, (_, i) => ({ name: `m${i}`, address: i + 1 })));
  }
  expect(reads).toBeGreaterThan(0);
});
