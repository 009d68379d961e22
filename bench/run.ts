/**
 * `npm run bench`: every scenario of the benchmark issue, each next to its
 * physical floor measured in the same run; tables on stdout, appended to
 * bench/RESULTS.md.
 *
 *   npm run bench                       full run (about 5 minutes)
 *   npm run bench -- --quick            smoke run (about 30 s; CI)
 *   npm run bench -- --only latency,codec
 *   npm run bench -- --runs 5 --no-write
 */
import './lib/plain-node.js'; // first: plain node's stack traces, as users get them
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Ctx } from './lib/context.js';
import { machineInfo, otherLoad, ticks } from './lib/env.js';
import os from 'node:os';
import { Report } from './lib/report.js';

const NAMES = ['latency', 'throughput', 'idle', 'detection', 'storm', 'codec', 'stores', 'cold', 'scale'] as const;
type Name = (typeof NAMES)[number];

const USAGE =
  'usage: npm run bench [-- --quick] [--only latency,throughput,idle,detection,storm,codec,stores,cold,scale] [--runs N] [--no-write] [--src]\n' +
  '  --src  measure src/ through tsx instead of its build (tsx adds __name() wrappers: slower, bigger)\n';

const OPTIONS = {
  quick: { type: 'boolean', default: false },
  only: { type: 'string' },
  runs: { type: 'string' },
  'no-write': { type: 'boolean', default: false },
  src: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

/** The flags; a wrong one stops the run with its reason and the usage (exit 2), not a stack trace. */
function flags() {
  try {
    return parseArgs({ options: OPTIONS }).values;
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
}
const args = flags();

if (args.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

const names = (args.only
  ?.split(',')
  .map((s) => s.trim())
  .filter(Boolean) ?? [...NAMES]) as Name[];
for (const n of names) {
  if (!NAMES.includes(n)) {
    process.stderr.write(`bench: unknown scenario "${n}"; known: ${NAMES.join(', ')}\n`);
    process.exit(2);
  }
}
const runs = args.runs === undefined ? (args.quick ? 1 : 3) : Number(args.runs);
if (!Number.isInteger(runs) || runs < 1 || runs > 20) {
  process.stderr.write('bench: --runs must be an integer 1-20\n');
  process.exit(2);
}

const started = performance.now();

/**
 * Builds src/ into bench/.dist as the package ships it (scripts/build.mjs:
 * one esbuild bundle per entry point, dependencies inlined), without the
 * type declarations, so that what is measured is what users of the package run.
 */
function buildLibrary(): string {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const out = fileURLToPath(new URL('./.dist', import.meta.url));
  const r = spawnSync(process.execPath, ['scripts/build.mjs', out, '--no-types'], { cwd: root, encoding: 'utf8' });
  const index = join(out, 'index.js');
  if (r.status !== 0 || !existsSync(index)) {
    process.stderr.write(`bench: the library did not build:\n${r.stdout}${r.stderr}\n`);
    process.exit(1);
  }
  return index;
}

if (!args.src) process.env.RINA_BENCH_LIB = buildLibrary();
// Imported only now, so that every module (and the child process) loads the library chosen above.
const { LIB_LABEL } = await import('./lib/lib.js');
const SCENARIOS: Record<Name, (ctx: Ctx) => Promise<void>> = {
  latency: (await import('./scenarios/latency.js')).latency,
  throughput: (await import('./scenarios/throughput.js')).throughput,
  idle: (await import('./scenarios/idle.js')).idle,
  detection: (await import('./scenarios/detection.js')).detection,
  storm: (await import('./scenarios/storm.js')).storm,
  codec: (await import('./scenarios/codec.js')).codec,
  stores: (await import('./scenarios/stores.js')).stores,
  cold: (await import('./scenarios/cold.js')).cold,
  scale: (await import('./scenarios/scale.js')).scale,
};
const info = { ...machineInfo(), library: LIB_LABEL };
const report = new Report(fileURLToPath(new URL('./RESULTS.md', import.meta.url)), args.quick ? 'quick' : 'full', info, !args['no-write']);
const tmpDir = mkdtempSync(join(tmpdir(), 'rina-bench-'));
const ctx: Ctx = {
  quick: args.quick,
  runs,
  report,
  tmpDir,
  log: (line) => process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(1).padStart(5)}s] ${line}\n`),
};

process.stdout.write(
  `rina-enrollment benchmarks (${ctx.quick ? 'quick' : 'full'}): Node ${info.node}, ${info.cpu} x ${info.cores}, ` +
    `${runs} run(s) per measurement, open-files limit ${info.fdLimit}; measuring ${LIB_LABEL}\n`,
);

let failed = false;
try {
  for (const name of names) {
    ctx.log(`scenario ${name}`);
    const load = os.loadavg()[0] ?? 0;
    const t0 = ticks();
    try {
      await SCENARIOS[name](ctx);
      const other = otherLoad(t0, ticks());
      if (other !== undefined) {
        report.note(
          `Machine during this scenario: other processes used ${(other * 100).toFixed(1)}% of all ${info.cores} cores (1-min load average at its start ${load.toFixed(2)})` +
            (other > 0.1 ? ' — **disturbed: figures of this scenario are not representative**.' : '.'),
        );
      }
    } catch (err) {
      failed = true;
      process.stderr.write(`bench: scenario ${name} failed: ${(err as Error)?.stack ?? String(err)}\n`);
      report.section(`${name}: FAILED`, [], [], [`the scenario threw: ${String((err as Error)?.message ?? err)}`]);
    }
  }
  report.summary((performance.now() - started) / 1000);
} finally {
  rmSync(tmpDir, { recursive: true, force: true });
  if (process.env.RINA_BENCH_LIB !== undefined && !args.src) {
    rmSync(fileURLToPath(new URL('./.dist', import.meta.url)), { recursive: true, force: true });
  }
}
ctx.log(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
// Library timers are unref'd, but sockets and child processes are ours: leave now.
process.exit(failed ? 1 : 0);
