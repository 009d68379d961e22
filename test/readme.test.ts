/**
 * The README's quickstart, as written there (between the ```ts fence after
 * "## Quickstart"), run against the source: if the README drifts from the
 * API, this fails.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as lib from '../src/index.js';

function quickstart(): string {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('## Quickstart'));
  const match = /```ts\n([\s\S]*?)```/.exec(section);
  if (!match?.[1]) throw new Error('no quickstart code block in README.md');
  return match[1];
}

describe('README quickstart', () => {
  it('runs as written and enrols the member', async () => {
    const body = quickstart()
      .replace(/^import .*$/m, '')
      .replace(/console\.log\(/g, 'log(');
    const logged: unknown[][] = [];
    const log = (...args: unknown[]) => logged.push(args);
    const AsyncFunction = Object.getPrototypeOf(async () => undefined).constructor as new (
      ...args: string[]
    ) => (...a: unknown[]) => Promise<void>;
    const names = ['Enroller', 'EnrollmentManager', 'MemoryNetwork', 'MemoryRib', 'log'];
    const run = new AsyncFunction(...names, body);
    await run(lib.Enroller, lib.EnrollmentManager, lib.MemoryNetwork, lib.MemoryRib, log);
    expect(logged).toContainEqual(['enrolled as', 1002]); // the listener registered before enrolling fires
    const state = logged.find((line) => line[0] === 1002);
    expect(state?.[1]).toMatchObject({ type: 'enrolled', address: 1002, difName: 'demo.DIF' });
  });
});

describe('README testing example', () => {
  it('is examples/ipcp.test.ts, which runs in the suite', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('## Testing your IPCP'));
    const block = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
    expect(block).toBe(readFileSync(new URL('../examples/ipcp.test.ts', import.meta.url), 'utf8'));
  });
});
