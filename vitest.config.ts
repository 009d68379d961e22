import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (path: string) => fileURLToPath(new URL(`./src/${path}`, import.meta.url));

export default defineConfig({
  resolve: {
    // Examples import the package by name, as users do; in this repository the name means src/.
    alias: [
      { find: /^rina-enrollment\/testing$/, replacement: src('testing/index.ts') },
      { find: /^rina-enrollment\/etcd$/, replacement: src('etcd/index.ts') },
      { find: /^rina-enrollment$/, replacement: src('index.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts', 'examples/**/*.test.ts'],
    testTimeout: 10_000,
    globalSetup: ['test/support/etcd-global.ts', 'test/support/cli-build.ts'],
    pool: 'forks',
    // Every core (vitest's default leaves one idle: on a 2-core machine the suite ran on one fork, in twice the time).
    maxWorkers: availableParallelism(),
  },
});
