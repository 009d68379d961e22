/**
 * 8. Cold path: an IPCP enrols once per process start, so the enrollment
 * users feel is the first one in a fresh process. Each member here is a new
 * `node` process (bench/cold-member.mjs) that imports the built library,
 * binds a UdpShim, constructs an EnrollmentManager and enrols with an
 * enroller process that is already running and warm; then a second member
 * in that same process enrols, which shows what the first one paid for
 * first use. Next to it, the floors: a fresh process importing an empty
 * module (Node's own ESM loader start-up), and a fresh process with no
 * library replaying one recorded enrollment's datagrams over bare
 * `node:dgram` (bench/cold-floor.mjs: what Node's first sends and receives
 * and the enroller cost before any library code runs). One more member runs with the
 * inspector's CPU profiler around its first enrollment, summarised below.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { BenchChild } from '../lib/child.js';
import type { Ctx } from '../lib/context.js';
import { EnrollmentManager, LIB_PATH, MemoryRib, UdpShim } from '../lib/lib.js';
import { closeAll, makeManagers, makeShims } from '../lib/members.js';
import { recording, type Step } from '../lib/replay.js';
import type { Table, Verdict } from '../lib/report.js';
import { fmt, median, type Summary, summarize } from '../lib/stats.js';

const SCRIPT = fileURLToPath(new URL('../cold-member.mjs', import.meta.url));
const FLOOR_SCRIPT = fileURLToPath(new URL('../cold-floor.mjs', import.meta.url));
const SNAPSHOT_SCRIPT = fileURLToPath(new URL('../cold-snapshot.mjs', import.meta.url));
/** The recorded member's name: the floor's processes swap it for one of the same length. */
const FLOOR_NAME = 'cold-floor-member-0000000000';
const SRC_INDEX = fileURLToPath(new URL('../../src/index.ts', import.meta.url));
/** An empty module: importing it costs the ESM loader's start-up and nothing else. */
const EMPTY = 'data:text/javascript,export default 1';

/** The library's runtime dependencies (what `import('rina-enrollment')` loads besides its own modules). */
const DEPENDENCIES = ['zod', '@bufbuild/protobuf/wire', 'p-retry', 'eventemitter3', 'write-file-atomic'];

/** Targets of the issue: the first enrollment in a fresh process, and the import. */
const FIRST_TARGET_MS = 2;
const IMPORT_TARGET_MS = 30;

interface ColdRun {
  startupMs: number;
  importMs: number;
  bindMs?: number;
  constructMs?: number;
  firstMs?: number;
  secondMs?: number;
}

/**
 * Runs bench/cold-member.mjs (or `script`; none: a startup snapshot's main function, `--snapshot-blob` in
 * `flags`) in a fresh process (with `flags` for node); resolves with what it printed.
 */
function coldProcess(env: Record<string, string>, flags: string[] = [], script: string | undefined = SCRIPT): Promise<ColdRun> {
  // --src: the library is TypeScript, which only tsx can load (figures not representative).
  const execArgv = [...(LIB_PATH === undefined && script === SCRIPT ? ['--import', 'tsx'] : []), ...flags];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...execArgv, ...(script === undefined ? [] : [script])], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`cold member exited with ${code ?? signal}`));
      else resolve(JSON.parse(out.trim().split('\n').pop() ?? '{}') as ColdRun);
    });
  });
}

/**
 * One enrollment with the enroller at `bootstrap`, recorded datagram by datagram (what the member sent and
 * received, in order), for bench/cold-floor.mjs to replay without the library.
 */
async function recordExchange(bootstrap: string): Promise<string> {
  const shim = await UdpShim.bind('127.0.0.1:0');
  const steps: Step[] = [];
  const manager = new EnrollmentManager({ shim: recording(shim, steps), rib: new MemoryRib(), ipcpName: FLOOR_NAME, difName: 'demo.DIF' });
  try {
    await manager.enrolWithBootstrap(bootstrap);
  } finally {
    await manager.close();
    await shim.close();
  }
  return JSON.stringify({ name: FLOOR_NAME, steps: steps.map(([dir, pdu]) => [dir, Buffer.from(pdu).toString('hex')]) });
}

/**
 * Bundles bench/cold-snapshot.mjs with the library at `lib` as CommonJS and builds a V8 startup snapshot of it,
 * whose builder runs warmUp() (over UDP too with `udp`); returns the blob's path.
 */
async function buildSnapshot(dir: string, lib: string, udp: boolean): Promise<string> {
  const base = join(dir, `cold-snapshot-${udp ? 'udp' : 'memory'}`);
  await build({
    entryPoints: [SNAPSHOT_SCRIPT],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    outfile: `${base}.cjs`,
    alias: { 'rina-enrollment': lib },
    logLevel: 'error',
  });
  const built = spawnSync(process.execPath, ['--snapshot-blob', `${base}.blob`, '--build-snapshot', `${base}.cjs`], {
    env: { ...process.env, RINA_COLD_WARM_UDP: udp ? '1' : '0' },
    encoding: 'utf8',
  });
  if (built.status !== 0) throw new Error(`the snapshot's builder exited with ${built.status}: ${built.stderr}`);
  return `${base}.blob`;
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

/** The module sections of a bundled file: esbuild starts each with a `// src/...` or `// node_modules/...` line. */
const sectionsOf = new Map<string, Array<[number, string]>>();

/** The source module a line of a file comes from: its section in a bundle, else the file itself. */
function sourceOf(url: string, line: number): string {
  if (!url.startsWith('file://')) return url;
  let marks = sectionsOf.get(url);
  if (marks === undefined) {
    marks = [];
    readFileSync(fileURLToPath(url), 'utf8')
      .split('\n')
      .forEach((text, i) => {
        const m = /^\/\/ ((?:src|node_modules)\/\S+)$/.exec(text);
        if (m?.[1] !== undefined) marks?.push([i, m[1]]);
      });
    sectionsOf.set(url, marks);
  }
  let source = url;
  for (const [start, name] of marks) {
    if (start > line) break;
    source = name;
  }
  return source;
}

/** Where a profiled function's code lives: a package, our code, Node's, or V8's. */
function category(source: string, name: string): string {
  if (source === '') return name.startsWith('(') ? name : `native ${name}`;
  if (source.startsWith('node:')) return 'Node internals';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(source)?.[1];
  if (pkg !== undefined) return pkg;
  return 'rina-enrollment';
}

/** Self time of a CPU profile by category and by function (ms). */
function summarise(file: string): { total: number; byCategory: Map<string, number>; byFunction: Map<string, number> } {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const byCategory = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    const frame = nodes.get(id)?.callFrame;
    // The inspector's own dispatch (the Profiler.stop call that ends the window) is not the enrollment's.
    if (frame === undefined || (frame.url === '' && frame.functionName === 'dispatch')) return;
    total += ms;
    const source = sourceOf(frame.url, frame.lineNumber);
    const cat = category(source, frame.functionName);
    byCategory.set(cat, (byCategory.get(cat) ?? 0) + ms);
    const where =
      source === ''
        ? ''
        : ` (${source
            .replace(/^.*node_modules\//, '')
            .split('/')
            .slice(-2)
            .join('/')})`;
    const fn = `${frame.functionName || '(anonymous)'}${where}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + ms);
  });
  return { total, byCategory, byFunction };
}

export async function cold(ctx: Ctx): Promise<void> {
  const n = ctx.quick ? 5 : 30;
  const lib = LIB_PATH ?? SRC_INDEX;
  const child = await BenchChild.enroller({ ipcpName: 'bootstrap' });
  const runs: ColdRun[] = [];
  const eager: ColdRun[] = [];
  const floors: number[] = [];
  const bare: ColdRun[] = [];
  const depImports: Record<string, number[]> = {};
  /** From a startup snapshot whose builder ran warmUp(), and warmUp({ udp: true }). */
  const snapshot: ColdRun[] = [];
  const snapshotUdp: ColdRun[] = [];
  let profile: ReturnType<typeof summarise> | undefined;
  try {
    // The enroller is warm, as one that has been serving for a while: its code is optimised.
    const shims = await makeShims(ctx.quick ? 50 : 300);
    const warm = makeManagers(shims, {}, 'warm');
    await Promise.all(warm.map((m) => m.enrolWithBootstrap(child.address)));
    await closeAll(warm, shims);
    const exchange = await recordExchange(child.address);
    const blob = await buildSnapshot(ctx.tmpDir, lib, false);
    const blobUdp = await buildSnapshot(ctx.tmpDir, lib, true);
    for (let i = 0; i < n; i++) {
      ctx.log(`cold: fresh process ${i + 1}/${n}`);
      floors.push((await coldProcess({ RINA_COLD_LIB: EMPTY })).importMs);
      bare.push(await coldProcess({ RINA_COLD_BOOTSTRAP: child.address, RINA_COLD_EXCHANGE: exchange }, [], FLOOR_SCRIPT));
      runs.push(await coldProcess({ RINA_COLD_LIB: pathToFileURL(lib).href, RINA_COLD_BOOTSTRAP: child.address }));
      snapshot.push(await coldProcess({ RINA_COLD_BOOTSTRAP: child.address }, ['--snapshot-blob', blob], undefined));
      snapshotUdp.push(await coldProcess({ RINA_COLD_BOOTSTRAP: child.address }, ['--snapshot-blob', blobUdp], undefined));
    }
    for (const dep of DEPENDENCIES) {
      for (let i = 0; i < (ctx.quick ? 2 : 5); i++) (depImports[dep] ??= []).push((await coldProcess({ RINA_COLD_LIB: dep })).importMs);
    }
    // What-if (no setting of the library): every function compiled when its module loads, so that the first
    // enrollment runs no lazy compilation; shows how much of the first enrollment is V8 compiling our code.
    for (let i = 0; i < (ctx.quick ? 2 : 10); i++) {
      eager.push(await coldProcess({ RINA_COLD_LIB: pathToFileURL(lib).href, RINA_COLD_BOOTSTRAP: child.address }, ['--no-lazy']));
    }
    const file = join(ctx.tmpDir, 'cold-first-enrollment.cpuprofile');
    await coldProcess({ RINA_COLD_LIB: pathToFileURL(lib).href, RINA_COLD_BOOTSTRAP: child.address, RINA_COLD_PROFILE: file });
    profile = summarise(file);
  } finally {
    await child.stop();
  }

  const stat = (key: keyof ColdRun, of = runs): Summary => summarize(of.map((r) => r[key] ?? Number.NaN));
  const upToEnrolled = (r: ColdRun): number =>
    r.importMs + (r.bindMs ?? Number.NaN) + (r.constructMs ?? Number.NaN) + (r.firstMs ?? Number.NaN);
  const floor = summarize(floors);
  const row = (label: string, s: Summary): string[] => [label, fmt(s.p50, 2), fmt(s.p90, 2), fmt(s.min, 2), fmt(s.max, 2)];
  const tables: Table[] = [
    {
      title: `One member per fresh node process, ${n} processes, against a warm enroller process (UDP 127.0.0.1; ms)`,
      columns: ['step', 'p50', 'p90', 'min', 'max'],
      rows: [
        row('Node start-up, to the first line of the script', stat('startupMs')),
        row('floor: import() of an empty module (fresh process)', floor),
        row("import('rina-enrollment') (the build as published)", stat('importMs')),
        row("UdpShim.bind('127.0.0.1:0')", stat('bindMs')),
        row('new EnrollmentManager(...)', stat('constructMs')),
        row('first enrolWithBootstrap()', stat('firstMs')),
        row('a second member in the same process: enrolWithBootstrap()', stat('secondMs')),
        row('floor: the same datagrams over bare node:dgram, no library (fresh process): first exchange', stat('firstMs', bare)),
        row('floor: a second exchange in that process', stat('secondMs', bare)),
        row('import + bind + construct + first enrollment (per process)', summarize(runs.map(upToEnrolled))),
        row('process start to enrolled (start-up + the above)', summarize(runs.map((r) => r.startupMs + upToEnrolled(r)))),
        row('from a startup snapshot, warmUp() in its builder: Node start-up (deserialising it)', stat('startupMs', snapshot)),
        row('from that snapshot: UdpShim.bind', stat('bindMs', snapshot)),
        row('from that snapshot: first enrolWithBootstrap()', stat('firstMs', snapshot)),
        row('from that snapshot: process start to enrolled', summarize(snapshot.map((r) => r.startupMs + upToEnrolled(r)))),
        row('from a snapshot with warmUp({ udp: true }): UdpShim.bind', stat('bindMs', snapshotUdp)),
        row('from that snapshot: first enrolWithBootstrap()', stat('firstMs', snapshotUdp)),
        row('from that snapshot: process start to enrolled', summarize(snapshotUdp.map((r) => r.startupMs + upToEnrolled(r)))),
        row("what-if, node --no-lazy (all code compiled at load): import('rina-enrollment')", stat('importMs', eager)),
        row('what-if, node --no-lazy: first enrolWithBootstrap()', stat('firstMs', eager)),
      ],
    },
  ];
  tables.push({
    title: `Each dependency the build inlines, imported alone from node_modules in a fresh process, as it was loaded before the bundle (median of ${ctx.quick ? 2 : 5}; ms)`,
    columns: ['module', 'import ms'],
    rows: DEPENDENCIES.map((dep) => [dep, fmt(median(depImports[dep] ?? []), 1)]),
  });
  if (profile !== undefined) {
    const busy = [...profile.byCategory].filter(([c]) => c !== '(idle)').reduce((a, [, ms]) => a + ms, 0);
    tables.push({
      title: `CPU profile of one first enrollment (inspector, 50 µs sampling; ${fmt(profile.total, 1)} ms profiled, ${fmt(busy, 1)} ms not idle): self time by where the code lives`,
      columns: ['code', 'ms', 'share of the not-idle time'],
      rows: [...profile.byCategory]
        .sort((a, b) => b[1] - a[1])
        .map(([c, ms]) => [c, fmt(ms, 2), c === '(idle)' ? '—' : `${fmt((100 * ms) / busy, 0)}%`]),
    });
    tables.push({
      title: 'The same profile: the functions with the most self time',
      columns: ['function', 'ms'],
      rows: [...profile.byFunction]
        .filter(([f]) => f !== '(idle)')
        .sort((a, b) => b[1] - a[1])
        .slice(0, 15)
        .map(([f, ms]) => [f, fmt(ms, 2)]),
    });
  }
  const first = stat('firstMs');
  const imported = stat('importMs');
  const second = stat('secondMs');
  const bareFirst = stat('firstMs', bare);
  const verdicts: Verdict[] = [
    {
      target: `first enrollment in a fresh process <= ${FIRST_TARGET_MS} ms (p50)`,
      measured: `${fmt(first.p50, 2)} ms (a second member in that process: ${fmt(second.p50, 2)} ms)`,
      pass: first.p50 <= FIRST_TARGET_MS,
      ...(first.p50 <= FIRST_TARGET_MS
        ? {}
        : {
            note: `${fmt(first.p50 / FIRST_TARGET_MS, 1)}x the target. The floor, one enrollment's datagrams replayed over bare node:dgram by a fresh process with no library at all, takes ${fmt(bareFirst.p50, 2)} ms (${fmt((100 * bareFirst.p50) / FIRST_TARGET_MS, 0)}% of the target): Node's first sends and receives on a new socket and the enroller's own work leave ${fmt(Math.max(0, FIRST_TARGET_MS - bareFirst.p50), 2)} ms for the library's code. The second member's enrollment in the same process (${fmt(second.p50, 2)} ms) shows that ${fmt(first.p50 - second.p50, 2)} ms of the first is first use. With every function compiled at load (node --no-lazy, what-if row) the first enrollment takes ${fmt(stat('firstMs', eager).p50, 2)} ms: the rest is V8 compiling, on their first call, the functions one enrollment runs (ours, the wire codec's, Node's dgram and timers), spread over some 20 modules (the profile above); nothing is built on first use any more. An application that starts from a V8 startup snapshot whose builder ran warmUp() (docs/COLD-START.md) has the library loaded and that code compiled: its first enrollment takes ${fmt(stat('firstMs', snapshotUdp).p50, 2)} ms (warmUp({ udp: true }); ${fmt(stat('firstMs', snapshot).p50, 2)} ms with warmUp()), and nothing is imported.`,
          }),
    },
    {
      target: `import('rina-enrollment') <= ${IMPORT_TARGET_MS} ms (p50)`,
      measured: `${fmt(imported.p50, 1)} ms (an empty module: ${fmt(floor.p50, 1)} ms)`,
      pass: imported.p50 <= IMPORT_TARGET_MS,
    },
  ];
  const notes = [
    "Each member process runs bench/cold-member.mjs with nothing before it (no tsx, no loader hooks). It times each step with process.hrtime and reads `performance.now()` only after the last one (Node start-up is that time origin to the first line): the first use of the `performance` global makes Node load perf_hooks, which the library's clock then pays inside the measured steps, as an application that has not used `performance` before does.",
    'The enroller is a separate process, started once and warmed up with enrollments before the first fresh member, as in a deployment where the enroller has been up for a while.',
  ];
  if (LIB_PATH === undefined) notes.push('**--src: the library was loaded through tsx, so these figures are not what users get.**');
  ctx.report.section('8. Cold path', tables, verdicts, notes);
}
