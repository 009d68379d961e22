/** Where the CLI's source is, and where test/support/cli-build.ts builds it for the run. */
import { fileURLToPath } from 'node:url';

export const CLI_SOURCE = fileURLToPath(new URL('../../src/cli/rina-enroll.ts', import.meta.url));
export const CLI_BUILD = fileURLToPath(new URL('../../.test-build/cli/rina-enroll.mjs', import.meta.url));
