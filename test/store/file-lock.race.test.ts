/**
 * Found by a review (2026-12-05; fixed with it): FileAddressStore's lock could be held by two live processes at
 * once. (1) The lock file was created, and only after an await was the process id written into it: another process
 * reading it empty in between took it for a dead holder's, removed it and made its own. (2) A lock found stale was
 * removed by path after an await, without checking it was still the stale one: of two processes taking over a dead
 * holder's lock, the slower removed the faster one's new lock and took it too. Two enrollers on one file hand out
 * the same addresses and overwrite each other's table. Now the lock appears with its content (hard-linked into
 * place), and a dead holder's lock is removed by the one process that wins its takeover (a file created
 * exclusively, per dead lock), only if it is still that lock. (A first version moved the lock aside and put back
 * another process's lock moved by mistake; a review showed that three processes at once left two holders.)
 *
 * This test process is one enroller, held at one step by a mock of node:fs/promises; the other is a real child
 * process (test/store/lock-child.ts). (vi.mock: listed in vitest.config.ts's MOCKING.)
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, expect, it, vi } from 'vitest';
import { FileAddressStore } from '../../src/index.js';
import { until } from '../support/helpers.js';

const hooks = vi.hoisted(() => ({
  /** Held before the lock is linked into place. */
  beforeLink: undefined as Promise<void> | undefined,
  /** Held before a dead holder's lock's takeover is claimed. */
  beforeClaim: undefined as Promise<void> | undefined,
  /** Held before a dead holder's lock is moved aside (its takeover won). */
  beforeMove: undefined as Promise<void> | undefined,
  reached: false,
}));
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  const held = async (which: 'beforeLink' | 'beforeClaim' | 'beforeMove') => {
    const gate = hooks[which];
    if (gate === undefined) return;
    hooks[which] = undefined;
    hooks.reached = true;
    await gate;
  };
  const link = async (...args: Parameters<typeof real.link>) => {
    await held('beforeLink');
    return real.link(...args);
  };
  const open = async (...args: Parameters<typeof real.open>) => {
    if (String(args[0]).endsWith('.taken')) await held('beforeClaim');
    return real.open(...args);
  };
  const rename = async (...args: Parameters<typeof real.rename>) => {
    if (String(args[0]).endsWith('.lock')) await held('beforeMove');
    return real.rename(...args);
  };
  return { ...real, link, open, rename, default: { ...real, link, open, rename } };
});

const dir = mkdtempSync(join(tmpdir(), 'rina-lock-race-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const undo: Array<() => unknown> = [];
afterEach(async () => {
  while (undo.length > 0) await undo.pop()?.();
  hooks.reached = false;
});

const gate = () => {
  let open!: () => void;
  const held = new Promise<void>((r) => (open = r));
  return { held, open };
};

/** Another enroller process loading the store at `path`: what it said. */
async function otherProcess(path: string): Promise<{ child: ChildProcess; said: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'lock-child.ts'), path], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  undo.push(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout?.on('data', (d) => (out += String(d)));
  await until(() => out.includes('\n'), 15_000, 'the other process loads');
  return { child, said: out.trim() };
}

const outcome = (load: Promise<unknown>) =>
  load.then(
    () => 'locked',
    (err: Error) => `refused: ${err.message}`,
  );

it('control: a lock held by a live process is respected by another', { timeout: 30_000 }, async () => {
  const path = join(dir, 'zero.json');
  const a = new FileAddressStore(path);
  await a.load();
  undo.push(() => a.close());
  expect((await otherProcess(path)).said).toMatch(/^refused: .* is in use by another enroller/);
});

it('a lock being made is never seen empty: of two processes starting at once, one holds it', { timeout: 30_000 }, async () => {
  const path = join(dir, 'one.json');
  const a = new FileAddressStore(path);
  const g = gate();
  hooks.beforeLink = g.held;
  const aLoad = outcome(a.load()); // A: its lock written, about to be put in place
  undo.push(() => a.close());
  await until(() => hooks.reached, 2000, 'A made its lock');
  const b = await otherProcess(path);
  g.open();
  expect([b.said, await aLoad].filter((s) => s === 'locked')).toHaveLength(1);
  expect(readdirSync(dir).filter((f) => f.startsWith('one.json.lock.'))).toEqual([]); // no file of a lock being made is left
});

it("a dead holder's lock taken over by three processes at once goes to one of them", { timeout: 30_000 }, async () => {
  const path = join(dir, 'two.json');
  const dead = spawnSync(process.execPath, ['-e', '']).pid as number; // a process that has exited
  writeFileSync(`${path}.lock`, `${dead}\n`);
  const a = new FileAddressStore(path);
  const g = gate();
  hooks.beforeClaim = g.held;
  const aLoad = outcome(a.load()); // A: found the lock dead, about to claim its takeover
  undo.push(() => a.close());
  await until(() => hooks.reached, 2000, 'A found the lock stale');
  // B and E do the same at once, without pausing: one of them takes it over and makes its own lock.
  const [b, e] = await Promise.all([otherProcess(path), otherProcess(path)]);
  g.open(); // A claims the takeover too late, finds the lock live, and gives up
  const said = [b.said, e.said, await aLoad];
  expect(
    said.filter((s) => s === 'locked'),
    JSON.stringify(said),
  ).toHaveLength(1);
  const holder = b.said === 'locked' ? b.child.pid : e.said === 'locked' ? e.child.pid : process.pid;
  expect(readFileSync(`${path}.lock`, 'utf8')).toMatch(new RegExp(`^${holder}( \\d+)?\n$`));
});

/** Found by a review of the fix (2026-12-05; fixed with it): a file a killed process left while making its lock. */
it('a file left by a dead process given this process id does not keep the lock from being taken', async () => {
  const path = join(dir, 'left.json');
  // What a process with this id, killed between writing its own file and removing it, left (any of its first locks).
  for (let n = 1; n <= 20; n++) writeFileSync(`${path}.lock.${process.pid}.${n}`, `${process.pid}\n`);
  const store = new FileAddressStore(path);
  await expect(store.load()).resolves.toEqual([]);
  await store.close();
});

/**
 * Found by a review (2026-12-05; fixed with it): the winner of a takeover, paused past the stale time of its mark
 * (a GC pause, SIGSTOP, a suspended VM) after finding the lock still the dead one, removed by path the lock another
 * process had made meanwhile. It now moves the lock aside and checks it there, and puts another's lock back.
 */
it('the winner of a takeover paused past its stale time does not remove the lock made meanwhile', { timeout: 30_000 }, async () => {
  const path = join(dir, 'paused.json');
  const dead = spawnSync(process.execPath, ['-e', '']).pid as number;
  writeFileSync(`${path}.lock`, `${dead}\n`);
  const a = new FileAddressStore(path);
  const g = gate();
  hooks.beforeMove = g.held;
  const aLoad = outcome(a.load()); // A: won the takeover, found the lock still dead, about to move it aside
  undo.push(() => a.close());
  await until(() => hooks.reached, 2000, 'A won the takeover');
  // A has been paused long enough: its mark looks stale to others.
  const old = new Date(Date.now() - 60_000);
  for (const f of readdirSync(dir).filter((f) => f.startsWith('paused.json.lock.') && f.endsWith('.taken')))
    utimesSync(join(dir, f), old, old);
  const b = await otherProcess(path); // B takes the dead lock over and makes its own
  expect(b.said).toBe('locked');
  g.open(); // A resumes
  const said = [b.said, await aLoad];
  expect(
    said.filter((s) => s === 'locked'),
    JSON.stringify(said),
  ).toHaveLength(1);
  expect(readFileSync(`${path}.lock`, 'utf8')).toMatch(new RegExp(`^${b.child.pid}( \\d+)?\n$`));
});
