/** `npm run chaos` flags: parsed and checked, or the message and exit code to stop with (usage on --help). */
import { parseArgs } from 'node:util';
import { FAULT_KINDS, type Fault } from './schedule.js';

/** The run's settings from the command line. */
export interface ChaosFlags {
  readonly ok: true;
  readonly seed: number;
  readonly durationMs: number;
  readonly schedules: number;
  readonly memberCount: number;
  readonly kinds: readonly Fault['kind'][] | undefined;
  readonly auth: 'none' | 'hmac-sha256';
  readonly out: string | undefined;
  readonly verbose: boolean;
}

/** What to print and the exit code: 0 for --help, 2 for a bad flag. */
export interface ChaosExit {
  readonly ok: false;
  readonly code: 0 | 2;
  readonly message: string;
}

const OPTIONS = {
  seed: { type: 'string', default: '1' },
  duration: { type: 'string', default: '60' },
  schedules: { type: 'string', default: '1' },
  members: { type: 'string', default: '40' },
  out: { type: 'string' },
  faults: { type: 'string' },
  auth: { type: 'string', default: 'none' },
  verbose: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

/** The usage text; `calmS` is the calm window that follows the faults of each schedule. */
export function usage(calmS: number): string {
  return `usage: npm run chaos -- [--seed S] [--duration SECS] [--schedules N] [--members M] [--faults KIND,...]
                         [--auth none|hmac-sha256] [--out DIR] [--verbose]
  --seed       first schedule's seed (default 1); schedule i uses seed + i
  --duration   seconds per schedule: faults, then a calm window of ${calmS} s (default 60)
  --schedules  how many schedules to run (default 1)
  --members    members per world, 1-200 (default 40)
  --faults     only these kinds: ${FAULT_KINDS.join(', ')}
  --auth       the DIF's authentication (default none)
  --out        a directory for each schedule's history and logs
  --verbose    print the world's steps and each fault as it happens
Exits 1 when the checker finds a violation, 2 on a bad flag.`;
}

/** Parses `args`; each schedule's faults run for `--duration` less its calm window of `calmS` seconds (at least 5 s). */
export function parseFlags(args: string[], calmS: number): ChaosFlags | ChaosExit {
  const bad = (line: string): ChaosExit => ({ ok: false, code: 2, message: `chaos: ${line}\n${usage(calmS)}` });
  let values: ReturnType<typeof parseArgs<{ args: string[]; options: typeof OPTIONS }>>['values'];
  try {
    values = parseArgs({ args, options: OPTIONS }).values;
  } catch (err) {
    return bad((err as Error).message);
  }
  if (values.help) return { ok: false, code: 0, message: usage(calmS) };
  const seed = Number(values.seed);
  const duration = Number(values.duration);
  const schedules = Number(values.schedules);
  const memberCount = Number(values.members);
  const checks = [
    ['--seed', values.seed, Number.isSafeInteger(seed), 'an integer'],
    ['--duration', values.duration, duration >= calmS + 5, `at least ${calmS + 5} s: 5 s of faults, then the ${calmS} s calm window`],
    ['--schedules', values.schedules, Number.isSafeInteger(schedules) && schedules >= 1, 'an integer >= 1'],
    ['--members', values.members, Number.isSafeInteger(memberCount) && memberCount >= 1 && memberCount <= 200, 'an integer 1-200'],
  ] as const;
  for (const [flag, value, ok, rule] of checks) if (!ok) return bad(`${flag} must be ${rule} (got ${value})`);
  const kinds = values.faults?.split(',').map((k) => k.trim()) as Fault['kind'][] | undefined;
  const unknown = kinds?.filter((k) => !FAULT_KINDS.includes(k)) ?? [];
  if (unknown.length > 0) return bad(`--faults: unknown kind ${unknown.join(', ')}`);
  if (values.auth !== 'none' && values.auth !== 'hmac-sha256') return bad(`--auth must be none or hmac-sha256 (got ${values.auth})`);
  const { auth, out, verbose } = values;
  return { ok: true, seed, durationMs: duration * 1000, schedules, memberCount, kinds, auth, out, verbose };
}
