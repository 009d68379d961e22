/**
 * vitest global setup: the rina-enroll CLI built once per run with esbuild
 * (the compiler tsx uses per file), into .test-build/cli/, so that the CLI
 * tests start plain `node` on one file (~0.2 s) instead of tsx transforming
 * the sources at every start (~0.4 s, more under load). Packages stay
 * external: they are resolved from node_modules as the source would be.
 * The file sits two levels below the repository, as dist/cli does, so the
 * CLI finds package.json for --version.
 */
import { build } from 'esbuild';
import { CLI_BUILD, CLI_SOURCE } from './cli-paths.js';

export async function setup(): Promise<void> {
  await build({
    entryPoints: [CLI_SOURCE],
    outfile: CLI_BUILD,
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'error',
  });
}
