/**
 * Usage errors of `rina-enroll`: a flag value that parses but makes no sense,
 * or a file a flag names that cannot be read. Printed as one line, exit 2.
 *
 * @module
 */
import { readFile } from 'node:fs/promises';

/** Thrown for a flag value that parses but makes no sense; printed as one line, exit 2. */
export class UsageError extends Error {}

/** A file the operator named, read, or a usage error naming the flag. */
export async function readFlagFile(flag: string, path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new UsageError(`${flag}: cannot read "${path}" (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}
