/**
 * Found by a review (2026-12-05; fixed with it): with a FileAddressStore, the same member's second enrollment binds m:5 again while the first bind of
 * m:5 is in a write that then fails; another member's bind queued meanwhile carries the second bind into a write
 * that succeeds. The failed bind's revert deletes m from the table (same address: "not bound again"), and
 * ledger.undo releases m in the pool, yet the second enrollment completes at 5: the file binds 5 to nobody and
 * the pool gives 5 to the next member. (vi.mock of write-file-atomic: run this file alone.)
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it, vi } from 'vitest';
import { FileAddressStore, OpCode } from '../../src/index.js';
import { cleanup, connectMsg, RawPeer, settle, startMsg, stopReply, until, withEnroller } from '../support/helpers.js';

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

const dir = mkdtempSync(join(tmpdir(), 'rina-review4e-'));
afterEach(async () => {
  await cleanup();
  rmSync(dir, { recursive: true, force: true });
});

it("a member's second enrollment that binds its address again while the first bind's write fails keeps it bound", async () => {
  const path = join(dir, 'table.json');
  const store = new FileAddressStore(path);
  const { enroller, net } = await withEnroller({ store, holdMs: 1000 });
  let open!: () => void;
  plan.steps = [{ fail: true, gate: new Promise<void>((r) => (open = r)) }];

  const m = new RawPeer(net.attach('m-shim'));
  await m.send('bootstrap', connectMsg(1, 'm'));
  await settle();
  await m.send('bootstrap', startMsg(2, 1500)); // write 1: m:1500, held, will fail
  await settle();
  const b = new RawPeer(net.attach('b-shim'));
  await b.send('bootstrap', connectMsg(1, 'b'));
  await settle();
  await b.send('bootstrap', startMsg(2, 1600)); // write 2 queued
  await settle();
  // m's answer is slow: it connects and starts again (same name, same shim): its new enrollment binds m:1500 again.
  await m.send('bootstrap', connectMsg(3, 'm'));
  await settle();
  await m.send('bootstrap', startMsg(4, 1500));
  await settle();
  open();
  await until(() => m.ofType(OpCode.M_STOP).length > 0 && b.ofType(OpCode.M_STOP).length > 0, 1000, 'both answered');
  await m.send('bootstrap', stopReply(m));
  await b.send('bootstrap', stopReply(b));
  await settle();
  const members = enroller.members().map((x) => [x.name, x.address]);
  expect(members).toEqual([
    ['m', 1500],
    ['b', 1600],
  ]);

  // y asks for 1500: m holds it, so y must not get it.
  const y = new RawPeer(net.attach('y-shim'));
  await y.send('bootstrap', connectMsg(1, 'y'));
  await settle();
  await y.send('bootstrap', startMsg(2, 1500));
  await until(() => y.ofType(OpCode.M_START_R).length > 0, 1000, 'y answered');
  await settle();
  const bindings = JSON.parse(readFileSync(path, 'utf8')).bindings as Record<string, number>;
  // m is a member at 1500 (told it): the file must bind it, and 1500 must not go to y as well.
  expect({ fileM: bindings.m, y: bindings.y === 1500 ? 'given 1500 too' : 'not 1500' }).toEqual({ fileM: 1500, y: 'not 1500' });
});
