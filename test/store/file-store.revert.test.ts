/**
 * Found by a review (2026-12-05; fixed with it): FileAddressStore.bind puts its table back on a failed write "unless the name was bound again since",
 * judged by comparing the address now in memory with the failed bind's. Interleavings of group commit.
 * (vi.mock of write-file-atomic: run this file alone.)
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it, vi } from 'vitest';
import { FileAddressStore } from '../../src/index.js';

type Step = { fail: boolean; gate?: Promise<void> };
const plan = vi.hoisted(() => ({ steps: [] as Step[] }));
vi.mock('write-file-atomic', async (importOriginal) => {
  const real = (await importOriginal<{ default: (...args: unknown[]) => Promise<void> }>()).default;
  return {
    default: async (...args: unknown[]) => {
      const step = plan.steps.shift();
      if (step?.gate !== undefined) await step.gate;
      if (step?.fail === true) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
      return real(...args);
    },
  };
});

const dir = mkdtempSync(join(tmpdir(), 'rina-review4-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = async () => {
  const store = new FileAddressStore(join(dir, `t${++n}.json`));
  await store.load();
  return store;
};
const onFile = (store: FileAddressStore) => JSON.parse(readFileSync(store.path, 'utf8')).bindings as Record<string, number>;
const gated = () => {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  return { gate, open };
};
const outcome = (p: Promise<void>) =>
  p.then(
    () => 'ok',
    () => 'failed',
  );

it('a bind of the same name to the same address again, in a later write that succeeds, is on the file', async () => {
  const store = await fresh();
  const g = gated();
  plan.steps = [{ fail: true, gate: g.gate }, { fail: false }];
  const first = outcome(store.bind({ name: 'a', address: 5 })); // write 1 (held, then fails)
  await new Promise((r) => setTimeout(r, 10));
  const other = outcome(store.bind({ name: 'b', address: 7 })); // queued: write 2
  const again = outcome(store.bind({ name: 'a', address: 5 })); // the same binding again: write 2
  g.open();
  expect([await first, await other, await again]).toEqual(['failed', 'ok', 'ok']);
  // The second bind of a:5 resolved: the member it was for is told 5. The file must bind it.
  expect(onFile(store)).toEqual({ a: 5, b: 7 });
  await store.close();
});

it('two binds of one name to two addresses in one failed write leave neither in memory for the next write', async () => {
  const store = await fresh();
  const g = gated();
  plan.steps = [{ fail: false, gate: g.gate }, { fail: true }, { fail: false }];
  const x = outcome(store.bind({ name: 'x', address: 1 })); // write 1 under way (held)
  await new Promise((r) => setTimeout(r, 10));
  const a5 = outcome(store.bind({ name: 'a', address: 5 })); // write 2
  const a6 = outcome(store.bind({ name: 'a', address: 6 })); // write 2 too
  g.open();
  expect([await x, await a5, await a6]).toEqual(['ok', 'failed', 'failed']);
  await store.bind({ name: 'c', address: 9 }); // write 3
  // Neither a:5 nor a:6 was ever stored, and both binds failed (the enroller freed 5 and 6).
  expect(onFile(store)).toEqual({ x: 1, c: 9 });
  await store.close();
});

it('two failed writes in a row for one name (5 then 6) leave the never-stored 5 nowhere', async () => {
  const store = await fresh();
  const g = gated();
  plan.steps = [{ fail: true, gate: g.gate }, { fail: true }, { fail: false }];
  const a5 = outcome(store.bind({ name: 'a', address: 5 })); // write 1 (held, fails)
  await new Promise((r) => setTimeout(r, 10));
  const a6 = outcome(store.bind({ name: 'a', address: 6 })); // write 2 (fails)
  g.open();
  expect([await a5, await a6]).toEqual(['failed', 'failed']);
  await store.bind({ name: 'c', address: 9 });
  expect(onFile(store)).toEqual({ c: 9 });
  await store.close();
});

it('two names batched into one failed write: both put back', async () => {
  const store = await fresh();
  const g = gated();
  plan.steps = [{ fail: false, gate: g.gate }, { fail: true }, { fail: false }];
  const x = outcome(store.bind({ name: 'x', address: 1 }));
  await new Promise((r) => setTimeout(r, 10));
  const a = outcome(store.bind({ name: 'a', address: 5 }));
  const b = outcome(store.bind({ name: 'b', address: 6 }));
  g.open();
  expect([await x, await a, await b]).toEqual(['ok', 'failed', 'failed']);
  await store.bind({ name: 'c', address: 9 });
  expect(onFile(store)).toEqual({ x: 1, c: 9 });
  await store.close();
});

it('a bind, a release of the name, then the write fails: the name is not brought back', async () => {
  const store = await fresh();
  const g = gated();
  plan.steps = [{ fail: false, gate: g.gate }, { fail: true }, { fail: false }];
  const x = outcome(store.bind({ name: 'x', address: 1 }));
  await new Promise((r) => setTimeout(r, 10));
  const a = outcome(store.bind({ name: 'a', address: 5 }));
  const rel = outcome(store.release('a'));
  g.open();
  expect([await x, await a, await rel]).toEqual(['ok', 'failed', 'failed']);
  await store.bind({ name: 'c', address: 9 });
  expect(onFile(store)).toEqual({ x: 1, c: 9 });
  await store.close();
});

it('a stored binding moved (5 -> 6) by a failed bind goes back to 5', async () => {
  const store = await fresh();
  plan.steps = [{ fail: false }, { fail: true }, { fail: false }];
  await store.bind({ name: 'a', address: 5 });
  expect(await outcome(store.bind({ name: 'a', address: 6 }))).toBe('failed');
  await store.bind({ name: 'c', address: 9 });
  expect(onFile(store)).toEqual({ a: 5, c: 9 });
  await store.close();
});
