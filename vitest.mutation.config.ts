/**
 * The vitest configuration of `npm run test:mutation` (stryker.config.json):
 * the suite without the tests that run the library in child processes (the
 * CLI's, the examples'), which cannot kill a mutant: Stryker switches mutants
 * inside the test process only.
 *
 * scripts/mutation.mjs narrows the tests to those of one folder through
 * RINA_MUTATION_TESTS (comma-separated globs), here rather than with Stryker's
 * own `testFiles`: with `testFiles`, Stryker 9.5 switches a static mutant (one
 * in code that runs when a module loads, such as a constant) on after the
 * modules have loaded, so no test can ever kill it.
 */
import { defineConfig, mergeConfig } from 'vitest/config';
import { base } from './vitest.config.js';

const config = mergeConfig(
  base,
  defineConfig({
    test: {
      exclude: ['test/cli/**', 'examples/**', 'node_modules/**'],
      // Stryker runs two test runners at once (concurrency 2): one fork each.
      maxWorkers: 1,
    },
  }),
);
// A mutant that leaves a test waiting (an address never found, a reply never sent) fails that test at this
// timeout (scripts/mutation.mjs sets it per folder, well above its slowest test) instead of at Stryker's, which
// restarts the test process: a hung mutant cost ~10 s that way.
const testTimeout = Number(process.env.RINA_MUTATION_TEST_TIMEOUT_MS ?? 0);
if (testTimeout > 0) Object.assign(config.test, { testTimeout, hookTimeout: testTimeout });
const only = process.env.RINA_MUTATION_TESTS;
// (assigned, not merged: mergeConfig would add these globs to the base's instead of replacing them)
if (only !== undefined && only !== '') config.test.include = only.split(',');
export default config;
