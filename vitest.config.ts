import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { defineConfig, type ViteUserConfig } from 'vitest/config';

const src = (path: string) => fileURLToPath(new URL(`./src/${path}`, import.meta.url));

/**
 * Files that replace a module with `vi.mock` (node:dgram, node:fs/promises, write-file-atomic, node:module): they run each in a
 * process of its own, as a mock cannot reach a module another file already loaded in the same one.
 */
const MOCKING = [
  'test/shim/udp-shim.errors.test.ts',
  'test/store/file-durability.test.ts',
  'test/store/file-store.bind-failed.test.ts',
  'test/store/file-store.failed-writes.test.ts',
  'test/store/file-lock.race.test.ts',
  'test/etcd/client.missing-etcd3.test.ts',
];
const ALL = ['test/**/*.test.ts', 'examples/**/*.test.ts'];

/** What every configuration of the suite shares (the mutation runs' too: vitest.mutation.config.ts). */
export const base = {
  resolve: {
    // Examples import the package by name, as users do; in this repository the name means src/.
    alias: [
      { find: /^rina-enrollment\/testing$/, replacement: src('testing/index.ts') },
      { find: /^rina-enrollment\/etcd$/, replacement: src('etcd/index.ts') },
      { find: /^rina-enrollment$/, replacement: src('index.ts') },
    ],
  },
  test: {
    include: ALL,
    testTimeout: 10_000,
    globalSetup: ['test/support/etcd-global.ts', 'test/support/cli-build.ts'],
    pool: 'forks',
    // Every core (vitest's default leaves one idle: on a 2-core machine the suite ran on one fork, in twice the time).
    maxWorkers: availableParallelism(),
  },
} satisfies ViteUserConfig;

// The projects do not extend the root config: they would inherit its global setup and run it again each (three
// etcd servers and three builds a run). What the root's setup provides (etcd's endpoint) reaches them all.
const { include: _all, globalSetup, ...common } = base.test;

export default defineConfig({
  ...base,
  test: {
    ...common,
    globalSetup,
    projects: [
      {
        ...base,
        test: {
          ...common,
          name: 'shared',
          include: ALL,
          exclude: MOCKING,
          // Test files share their worker's modules: a file no longer imports the library afresh (about a third
          // of the suite's time went there). What a file leaves behind in a module would then reach the next
          // one, so no-leaks.ts fails a file that leaves a timer in the shared wheel or fake timers installed.
          isolate: false,
          setupFiles: ['test/support/no-leaks.ts'],
        },
      },
      { ...base, test: { ...common, name: 'mocking', include: MOCKING } },
    ],
  },
});
