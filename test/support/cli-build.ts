/**
 * vitest global setup: the rina-enroll CLI, the demo and the library built
 * once per run with esbuild (the compiler tsx uses per file), into
 * .test-build/, so that the tests that start them in a child process start
 * plain `node` on one file instead of tsx transforming the sources at every
 * start (about 1 s each under load).
 *
 * Their packages are bundled in too, but for those loaded only when needed
 * (etcd3, prom-client, write-file-atomic): Node resolving and reading zod's
 * and commander's many files made a start cost 0.30 s of CPU, against 0.18 s
 * bundled and 0.11 s for an empty `node`, and the suite starts the CLI about
 * a hundred times. The files sit two levels below the repository, as
 * dist/cli does, so the CLI finds package.json for --version. The demo's
 * bundle serves the checks of its flags only: to start enrollers it looks
 * for the CLI beside its own source file, which a bundle does not have.
 */
import { type BuildOptions, build } from 'esbuild';
import { BUILD_DIR, CLI_SOURCE, DEMO_SOURCE, FIXTURES, LIB_SOURCE, ROOT } from './cli-paths.js';

const common: BuildOptions = {
  bundle: true,
  external: ['etcd3', 'prom-client', 'write-file-atomic'],
  // commander is CommonJS: its require() of Node's modules needs a real require in an ES module.
  banner: {
    js: "import { createRequire as createRequireOfBundle } from 'node:module'; const require = createRequireOfBundle(import.meta.url);",
  },
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outExtension: { '.js': '.mjs' },
  logLevel: 'error',
};

export async function setup(): Promise<void> {
  await Promise.all([
    build({ ...common, entryPoints: [CLI_SOURCE, DEMO_SOURCE, LIB_SOURCE], outdir: BUILD_DIR }),
    // the fixtures keep the repository's layout below .test-build/ (test/support/etcd-store-child.mjs, ...)
    build({ ...common, entryPoints: FIXTURES, outdir: BUILD_DIR, outbase: ROOT }),
  ]);
}
