/** Where the CLI's and the demo's sources are, and where test/support/cli-build.ts builds them (and the library) for the run. */
import { fileURLToPath } from 'node:url';

const path = (relative: string) => fileURLToPath(new URL(relative, import.meta.url));

/** The repository's root, with a trailing slash. */
export const ROOT = path('../../');
export const CLI_SOURCE = path('../../src/cli/rina-enroll.ts');
export const DEMO_SOURCE = path('../../src/cli/demo.ts');
export const LIB_SOURCE = path('../../src/index.ts');
/** The folder of the builds, which keep src/'s layout: the CLI two levels below the repository, as in dist/. */
export const BUILD_DIR = path('../../.test-build');
export const LIB_BUILD = path('../../.test-build/index.mjs');
export const CLI_BUILD = path('../../.test-build/cli/rina-enroll.mjs');
export const DEMO_BUILD = path('../../.test-build/cli/demo.mjs');

/** The scripts the tests run in child processes, built to .test-build/test/ as `.mjs` (see {@link built}). */
export const FIXTURES = [
  'test/support/etcd-store-child.ts',
  'test/support/etcd-enroller-child.ts',
  'test/member/fixtures/monitor-exits.ts',
  'test/member/fixtures/in-flight-exits.ts',
  'test/store/fixtures/bind-loop.ts',
  'test/enroller/fixtures/paced-stop-exits.ts',
].map((file) => `${ROOT}${file}`);

/** The built form of the fixture at `source` (a file URL or path in {@link FIXTURES}) for `node` to run. */
export function built(source: URL | string): string {
  const file = source instanceof URL ? fileURLToPath(source) : source;
  if (!FIXTURES.includes(file)) throw new Error(`${file} is not built for the run: add it to FIXTURES in test/support/cli-paths.ts`);
  return `${ROOT}.test-build/${file.slice(ROOT.length).replace(/\.ts$/, '.mjs')}`;
}
