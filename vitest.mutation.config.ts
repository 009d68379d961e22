/**
 * The vitest configuration of `npm run test:mutation` (stryker.config.json):
 * the suite without the tests that run the library in child processes (the
 * CLI's, the examples'), which cannot kill a mutant: Stryker switches mutants
 * inside the test process only.
 */
import { defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.js';

export default mergeConfig(
  base,
  defineConfig({
    test: {
      exclude: ['test/cli/**', 'examples/**', 'node_modules/**'],
      // Stryker runs two test runners at once (concurrency 2): one fork each.
      maxWorkers: 1,
    },
  }),
);
