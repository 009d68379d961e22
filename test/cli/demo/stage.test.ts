/**
 * The demo's verdict (README: "exits 0 only if every member got its address
 * back"): the check, and the exit code and line that `finish` gives for it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { everyAddressKept, Stage } from '../../../src/cli/demo/stage.js';
import type { Member } from '../../../src/cli/demo/members.js';

const kept = (address: number | undefined, originalAddress: number | undefined) =>
  ({ mgr: { address }, originalAddress }) as unknown as Pick<Member, 'mgr' | 'originalAddress'>;

// Found by an audit (2026-12-06): the verdict's failing side never ran.
describe("the demo's verdict", () => {
  it('holds only when every expected member is back with the address it first had', () => {
    expect(everyAddressKept([kept(1002, 1002), kept(1003, 1003)], 2)).toBe(true);
    expect(everyAddressKept([kept(1002, 1002), kept(1009, 1003)], 2)).toBe(false); // one renumbered
    expect(everyAddressKept([kept(1002, 1002)], 2)).toBe(false); // one missing
    expect(everyAddressKept([kept(undefined, 1002), kept(1003, 1003)], 2)).toBe(false); // one not enrolled
    expect(everyAddressKept([kept(undefined, undefined)], 1)).toBe(false); // one never enrolled
  });

  describe('finish', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rina-demo-stage-'));
    afterEach(() => vi.restoreAllMocks());
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it.each([
      [true, 0, 'every member recovered'],
      [false, 1, 'FAILED: some member did not get its address back'],
    ])('with the verdict %s: exit code %i, and the verdict printed', async (ok, code, line) => {
      const printed: string[] = [];
      vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
        printed.push(String(chunk));
        return true;
      });
      const stage = new Stage('test');
      let closed = 0;
      const mgr = { state: { type: 'enrolled' }, close: async () => void closed++ };
      stage.members.push({ name: 'm01', mgr, spans: [{ at: 0, state: 'enrolled', via: 'e1' }], retries: 0 } as unknown as Member);
      const end = stage.done();
      const verdict = { ok: 'every member recovered', failed: 'FAILED: some member did not get its address back' };
      await expect(stage.finish(ok, verdict, { out: dir, file: `t-${code}.svg`, title: 't', end })).resolves.toBe(code);
      expect(printed.join('')).toContain(`\n${line}\n`);
      expect(closed).toBe(1);
    });
  });
});
