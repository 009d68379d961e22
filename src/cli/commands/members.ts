/**
 * `rina-enroll members`: list the members an enroller serves, from its
 * `--metrics-listen` endpoint's `/members`, as a table or as JSON.
 *
 * @module
 */
import type { Command } from 'commander';
import { httpUrl } from '../flags/parsers.js';

/** A table with a header row, its columns padded to their widest cell. */
function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows
    .map(
      (row) =>
        `${row
          .map((cell, i) => cell.padEnd(widths[i] ?? 0))
          .join('  ')
          .trimEnd()}\n`,
    )
    .join('');
}

/** Prints the members of the enroller at `from`. */
async function listMembers(opts: { from: string; json: boolean }): Promise<void> {
  const { fetchMembers } = await import('../observability.js');
  const members = await fetchMembers(opts.from);
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(members)}\n`);
    return;
  }
  process.stdout.write(
    table([
      ['NAME', 'ADDRESS', 'SHIM ADDRESS', 'ENROLLED', 'LAST SEEN'],
      ...members.map((m) => [m.name, String(m.address), m.shimAddress, m.enrolledAt, m.lastSeen]),
    ]),
  );
  process.stdout.write(`${members.length} member${members.length === 1 ? '' : 's'}\n`);
}

/** Adds `members` to `root`. */
export function addMembersCommand(root: Command): void {
  root
    .command('members')
    .description("list the members an enroller serves (from its --metrics-listen endpoint's /members)")
    .requiredOption('--from <url>', "the enroller's metrics endpoint, e.g. http://127.0.0.1:9100", httpUrl)
    .option('--json', 'the list as JSON', false)
    .action(listMembers);
}
