/**
 * docs/RECOVERY.md works the recovery bound out for two members; those
 * figures are the model's own bound (world.ts) for the library's resolved
 * configuration, so that the doc cannot drift from the bound the model checks.
 */
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { type EnrollmentConfigInput, resolveConfig } from '../../src/config.js';
import { convergenceBoundMs, type MemberSpec } from './world.js';

const spec = (input: EnrollmentConfigInput): MemberSpec => ({
  name: 'm',
  initial: 'e1',
  config: { ...resolveConfig(input), bootstraps: ['e1', 'e2'] } as MemberSpec['config'],
});

// Found by an audit (2026-12-06): the doc still counted 20 ms ticks (80 ms) and its second figure left out E * T.
it("docs/RECOVERY.md's worked bounds are the model's, for the defaults and for a 1.5 s member", () => {
  const doc = readFileSync(new URL('../../docs/RECOVERY.md', import.meta.url), 'utf8').replace(/\s+/g, ' ');
  expect(convergenceBoundMs(spec({}), 2)).toBe(135_040);
  expect(doc).toContain('90 s + 5 s + 30 s + 10 s + 40 ms, about 135 s');
  const quick = spec({ connectionTimeoutSecs: 1.5, heartbeatIntervalSecs: 0.5, timeoutMs: 300, reenrollBackoffCapMs: 1000 });
  expect(convergenceBoundMs(quick, 2)).toBe(3_440);
  expect(doc).toContain('1.5 s + 0.3 s + 1 s + 0.6 s + 40 ms, 3.44 s');
});
