/**
 * The demo's command line: `--members N`, `--outage SECS`, `--out DIR`,
 * `--ha`, `--help`. Bad flags print the usage on stderr and exit 2.
 *
 * @module
 */
import { parseArgs } from 'node:util';

const USAGE = `usage: npm run demo -- [--members N] [--outage SECS] [--out DIR] [--ha]

  --members N     members to enrol, 1-500 (default 20)
  --outage SECS   how long the enroller stays killed, 0-20 s (default 4)
  --out DIR       where the summary and the SVG timeline go (default ./demo-output)
  --ha            three enrollers on a throw-away etcd; one is killed and its members fail over
  -h, --help      this text
`;

/** What the demo was asked to do. */
export interface DemoOptions {
  /** Members to enrol. */
  members: number;
  /** How long the enroller stays killed, in ms. */
  outageMs: number;
  /** Where the SVG timeline goes. */
  out: string;
  /** Three enrollers on etcd rather than one with a state file. */
  ha: boolean;
}

/** The flags as `parseArgs` reads them from the process's arguments; a bad one prints the usage and exits 2. */
function parseDemoArgs() {
  try {
    return parseArgs({
      options: {
        members: { type: 'string', default: '20' },
        outage: { type: 'string', default: '4' },
        out: { type: 'string', default: 'demo-output' },
        ha: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }).values;
  } catch (err) {
    process.stderr.write(`demo: ${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
}

/** The demo's options from the process's arguments; prints the usage and exits on `--help` or a bad flag. */
export function demoOptions(): DemoOptions {
  const args = parseDemoArgs();
  if (args.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const members = Number(args.members);
  const outageMs = Number(args.outage) * 1000;
  if (!Number.isInteger(members) || members < 1 || members > 500 || !(outageMs > 0 && outageMs <= 20_000)) {
    process.stderr.write('demo: --members must be 1-500 and --outage 0-20 seconds\n');
    process.exit(2);
  }
  return { members, outageMs, out: args.out, ha: args.ha };
}
