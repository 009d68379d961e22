/**
 * `npm run demo`: the main job. An enroller (the rina-enroll CLI, a child
 * process with a state file) and 20 members over UDP on 127.0.0.1. The
 * members enrol; the enroller is killed with SIGKILL and stays away a few
 * seconds; every member notices and retries with jittered backoff; the
 * enroller comes back from its state file and every member re-enrolls with
 * its original address. Ends with a summary table and an SVG timeline, and
 * exits 0 only if every member recovered with its original address.
 *
 * `npm run demo -- --ha`: several enrollers, one address space. A throw-away
 * etcd on 127.0.0.1, three enrollers sharing it (`rina-enroll bootstrap
 * --etcd`), the members spread over them; one enroller is killed with
 * SIGKILL and every member it served fails over to the others with its
 * address. Needs an `etcd` binary (Debian: `apt-get install etcd-server`);
 * without one it says so and exits 1.
 *
 * Options: --members N (20), --outage SECS (4), --out DIR (./demo-output), --ha.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { EnrollmentManager, type EnrollmentState, MemoryRib, UdpShim } from '../index.js';
import { ETCD_INSTALL_HINT, type EtcdCluster, findEtcd, startEtcd } from './etcd-server.js';
import { freeUdpPort } from './ports.js';
import { type Marker, percentile, type Span, timelineSvg } from './timeline.js';

const USAGE = `usage: npm run demo -- [--members N] [--outage SECS] [--out DIR] [--ha]

  --members N     members to enrol, 1-500 (default 20)
  --outage SECS   how long the enroller stays killed, 0-20 s (default 4)
  --out DIR       where the summary and the SVG timeline go (default ./demo-output)
  --ha            three enrollers on a throw-away etcd; one is killed and its members fail over
  -h, --help      this text
`;

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
const args = parseDemoArgs();
if (args.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const MEMBERS = Number(args.members);
const OUTAGE_MS = Number(args.outage) * 1000;
if (!Number.isInteger(MEMBERS) || MEMBERS < 1 || MEMBERS > 500 || !(OUTAGE_MS > 0 && OUTAGE_MS <= 20_000)) {
  process.stderr.write('demo: --members must be 1-500 and --outage 0-20 seconds\n');
  process.exit(2);
}

const CONFIG = {
  heartbeatIntervalSecs: 0.5,
  connectionTimeoutSecs: 1.5,
  timeoutMs: 1000,
  retransmitMs: 50,
  maxRetransmitMs: 200,
  reenrollBackoffBaseMs: 250,
  reenrollBackoffCapMs: 2000,
};

const tty = process.stdout.isTTY === true;
const t0 = performance.now();
const since = () => performance.now() - t0;
const stamp = () => `${(since() / 1000).toFixed(2).padStart(6)}s`;
const recent: string[] = [];
/** A line of progress: printed as is without a terminal; kept for the live view with one. */
function say(line: string): void {
  if (tty) {
    recent.push(`${stamp()} ${line}`);
    if (recent.length > 8) recent.shift();
  } else {
    process.stdout.write(`${stamp()} ${line}\n`);
  }
}

const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
const CLI = fileURLToPath(new URL(`./rina-enroll${ext}`, import.meta.url));

/** Starts `rina-enroll bootstrap` on `port` with `store` flags (`--state FILE` or `--etcd URL ...`); resolves once it serves. */
function startEnroller(port: number, store: string[]): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      ...process.execArgv,
      CLI,
      'bootstrap',
      '--listen',
      `127.0.0.1:${port}`,
      '--dif',
      'demo.DIF',
      '--pool',
      '1002-1999',
      '--lease',
      '3',
      ...store,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return new Promise((resolveStart, reject) => {
    let buffer = '';
    const timer = setTimeout(() => reject(new Error('the enroller did not start within 10 s')), 10_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      if (buffer.includes('serving demo.DIF')) {
        clearTimeout(timer);
        resolveStart(child);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the enroller exited with ${code}`));
    });
  });
}

interface Member {
  name: string;
  mgr: EnrollmentManager;
  shim: UdpShim;
  spans: Span[];
  enrollMs?: number;
  originalAddress?: number;
  backAt?: number;
  retries: number;
}

const GLYPH: Record<EnrollmentState['type'], string> = { idle: '·', enrolling: '○', enrolled: '●', reenrolling: '◌', closed: '×' };

function render(members: Member[], phase: string): void {
  if (!tty) return;
  const counts = new Map<string, number>();
  for (const m of members) counts.set(m.mgr.state.type, (counts.get(m.mgr.state.type) ?? 0) + 1);
  const lines = [
    `\x1b[1mrina-enrollment demo\x1b[0m  ${stamp()}  ${phase}`,
    `  ${members.map((m) => GLYPH[m.mgr.state.type]).join(' ')}`,
    `  enrolled ${counts.get('enrolled') ?? 0}/${members.length}   re-enrolling ${counts.get('reenrolling') ?? 0}   idle ${counts.get('idle') ?? 0}   (● enrolled ◌ re-enrolling ○ enrolling · idle)`,
    ...recent.map((l) => `  ${l}`),
  ];
  process.stdout.write(`\x1b[2J\x1b[H${lines.join('\n')}\n`);
}

async function waitUntil(what: string, ms: number, check: () => boolean): Promise<void> {
  const end = performance.now() + ms;
  while (!check()) {
    if (performance.now() > end) throw new Error(`${what} did not happen within ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The member `m01`, `m02`, ... over UDP, recording its states for the timeline and saying what it does. */
async function makeMember(i: number, bootstraps: string[]): Promise<Member> {
  const name = `m${String(i + 1).padStart(2, '0')}`;
  const shim = await UdpShim.bind('127.0.0.1:0');
  const mgr = new EnrollmentManager({
    shim,
    rib: new MemoryRib(),
    ipcpName: name,
    difName: 'demo.DIF',
    config: { ...CONFIG, bootstraps },
  });
  const member: Member = { name, mgr, shim, spans: [{ at: since(), state: 'idle' }], retries: 0 };
  mgr.on('state:change', (s) => member.spans.push({ at: since(), state: s.type }));
  mgr.on('connection:lost', (i) => say(`${name} noticed the loss: silent ${i.silentMs.toFixed(0)} ms (${i.reason})`));
  mgr.on('reenroll:failure', (i) => {
    member.retries++;
    if (i.retryInMs !== undefined) say(`${name} attempt ${i.attempt} failed, next in ${i.retryInMs.toFixed(0)} ms`);
  });
  mgr.on('reenroll:success', (i) => {
    member.backAt = since();
    say(
      `${name} back with address ${i.address} via ${i.bootstrap}${i.address === member.originalAddress ? ' (unchanged)' : ` (was ${member.originalAddress})`}`,
    );
  });
  return member;
}

/** Enrols every member at once, then starts their monitors. */
async function enrolAll(members: Member[]): Promise<void> {
  await Promise.all(
    members.map(async (m) => {
      const start = performance.now();
      await m.mgr.enrol();
      const ms = performance.now() - start;
      m.enrollMs = ms;
      if (m.mgr.address !== undefined) m.originalAddress = m.mgr.address;
      say(`${m.name} enrolled with address ${m.mgr.address} via ${m.mgr.bootstrapAddress} in ${ms.toFixed(1)} ms`);
      m.mgr.startConnectionMonitoring();
    }),
  );
}

const fmt = (v: number | undefined, unit = 'ms') => (v === undefined ? '-' : `${v.toFixed(1)} ${unit}`);
const spread = (values: number[]) => `p50 ${fmt(percentile(values, 50))}   p99 ${fmt(percentile(values, 99))}`;

/** Prints the summary table. */
function printSummary(rows: Array<[string, string]>): void {
  const width = Math.max(...rows.map(([k]) => k.length));
  process.stdout.write(`\nSummary\n${rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n')}\n`);
}

/** Writes the SVG timeline into --out; returns its path. */
function writeTimeline(file: string, members: Member[], markers: Marker[], end: number): string {
  const outDir = resolve(args.out);
  mkdirSync(outDir, { recursive: true });
  const svgPath = join(outDir, file);
  writeFileSync(
    svgPath,
    timelineSvg(
      members.map((m) => ({ name: m.name, spans: m.spans })),
      markers,
      end,
    ),
  );
  return svgPath;
}

/** Stops an enroller process gracefully (SIGINT), if it still runs. */
async function stopEnroller(enroller: ChildProcess | undefined): Promise<void> {
  if (enroller === undefined || enroller.exitCode !== null || enroller.signalCode !== null) return;
  const exited = new Promise((r) => enroller.once('exit', r));
  enroller.kill('SIGINT');
  await exited;
}

async function main(): Promise<number> {
  const work = mkdtempSync(join(tmpdir(), 'rina-demo-'));
  const stateFile = join(work, 'enroller-state.json');
  const port = await freeUdpPort();
  const markers: Marker[] = [];
  let phase = 'starting the enroller';
  const members: Member[] = [];
  const ticker = setInterval(() => render(members, phase), 150);
  let enroller: ChildProcess | undefined;
  try {
    enroller = await startEnroller(port, ['--state', stateFile]);
    say(`enroller up on 127.0.0.1:${port} (pid ${enroller.pid}), address table in ${stateFile}`);

    phase = `enrolling ${MEMBERS} members`;
    for (let i = 0; i < MEMBERS; i++) members.push(await makeMember(i, [`127.0.0.1:${port}`]));
    await enrolAll(members);

    phase = 'all enrolled; keepalives every 0.5 s';
    await new Promise((r) => setTimeout(r, 1500));

    phase = `enroller killed (SIGKILL); back in ${OUTAGE_MS / 1000} s`;
    const killedAt = since();
    markers.push({ at: killedAt, label: 'enroller killed' });
    say('killing the enroller with SIGKILL');
    enroller.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, OUTAGE_MS));

    phase = 'enroller restarting from its state file';
    enroller = await startEnroller(port, ['--state', stateFile]);
    const backAt = since();
    markers.push({ at: backAt, label: 'enroller back' });
    say(`enroller back (pid ${enroller.pid}) from ${stateFile}`);
    phase = 'members re-enrolling';
    await waitUntil('every member re-enrolling', 15_000, () =>
      members.every((m) => m.mgr.state.type === 'enrolled' && m.backAt !== undefined),
    );
    phase = 'done';
    render(members, phase);
    clearInterval(ticker);

    const end = since() + 300;
    const unchanged = members.filter((m) => m.mgr.address === m.originalAddress).length;
    const enroll = members.map((m) => m.enrollMs ?? 0);
    const detection = members.map((m) => m.mgr.metrics().detectionDelayMs.last ?? 0);
    const recovery = members.map((m) => m.mgr.metrics().timeToRecoverMs.last ?? 0);
    const afterReturn = members.map((m) => (m.backAt ?? 0) - backAt);
    const rows: Array<[string, string]> = [
      ['members', `${MEMBERS}`],
      ['enrollment time', `p50 ${fmt(percentile(enroll, 50))}   p99 ${fmt(percentile(enroll, 99))}`],
      [
        'detection delay',
        `p50 ${fmt(percentile(detection, 50))}   p99 ${fmt(percentile(detection, 99))}   (timeout ${CONFIG.connectionTimeoutSecs * 1000} ms)`,
      ],
      ['time to recover', `p50 ${fmt(percentile(recovery, 50))}   p99 ${fmt(percentile(recovery, 99))}   (loss noticed -> enrolled)`],
      [
        'back after return',
        `p50 ${fmt(percentile(afterReturn, 50))}   p99 ${fmt(percentile(afterReturn, 99))}   (enroller back -> enrolled)`,
      ],
      ['retries', `${members.reduce((n, m) => n + m.retries, 0)} failed attempts in all, spread by jittered backoff`],
      ['addresses unchanged', `${unchanged}/${MEMBERS}`],
    ];
    printSummary(rows);
    const svgPath = writeTimeline('timeline.svg', members, markers, end);

    await Promise.all(members.map((m) => m.mgr.close()));
    const ok = unchanged === MEMBERS;
    process.stdout.write(
      `\n${ok ? 'every member recovered with its original address' : 'FAILED: some member did not get its address back'}\n`,
    );
    process.stdout.write(`timeline: ${svgPath}\n`);
    return ok ? 0 : 1;
  } finally {
    clearInterval(ticker);
    await Promise.all(members.map((m) => m.mgr.close().then(() => m.shim.close())));
    await stopEnroller(enroller);
    rmSync(work, { recursive: true, force: true });
  }
}

/** `--ha`: three enrollers on one etcd; one is killed; its members fail over with their addresses. */
async function mainHa(): Promise<number> {
  if (findEtcd() === undefined) {
    process.stderr.write(`demo --ha needs etcd: ${ETCD_INSTALL_HINT}\n`);
    return 1;
  }
  const markers: Marker[] = [];
  const members: Member[] = [];
  const enrollers: ChildProcess[] = [];
  let phase = 'starting etcd';
  const ticker = setInterval(() => render(members, phase), 150);
  let etcd: EtcdCluster | undefined;
  try {
    etcd = await startEtcd();
    const endpoint = etcd.endpoints[0] ?? '';
    say(`etcd up on ${endpoint} (a throw-away one, data in a temporary directory)`);
    phase = 'starting three enrollers on etcd';
    const ports = [await freeUdpPort(), await freeUdpPort(), await freeUdpPort()];
    const addresses = ports.map((p) => `127.0.0.1:${p}`);
    for (const [i, port] of ports.entries()) {
      enrollers.push(await startEnroller(port, ['--name', `e${i + 1}`, '--etcd', endpoint]));
      say(`enroller e${i + 1} up on 127.0.0.1:${port} (pid ${enrollers[i]?.pid})`);
    }

    phase = `enrolling ${MEMBERS} members across three enrollers`;
    // Each member is given one enroller (a third of them each) and learns the other two from its answer.
    for (let i = 0; i < MEMBERS; i++) members.push(await makeMember(i, [addresses[i % 3] ?? '']));
    await enrolAll(members);
    const onFirst = members.filter((m) => m.mgr.bootstrapAddress === addresses[0]);
    const perEnroller = addresses.map((a) => members.filter((m) => m.mgr.bootstrapAddress === a).length);
    say(`members per enroller: ${perEnroller.join(' / ')}`);

    phase = 'all enrolled; keepalives every 0.5 s';
    await new Promise((r) => setTimeout(r, 1500));

    phase = `enroller e1 killed (SIGKILL): its ${onFirst.length} members fail over`;
    const killedAt = since();
    markers.push({ at: killedAt, label: 'e1 killed' });
    say(`killing enroller e1 (${addresses[0]}) with SIGKILL`);
    enrollers[0]?.kill('SIGKILL');
    await waitUntil('every member of e1 failing over', 15_000, () =>
      onFirst.every((m) => m.mgr.state.type === 'enrolled' && m.backAt !== undefined),
    );
    await new Promise((r) => setTimeout(r, 500));
    phase = 'done';
    render(members, phase);
    clearInterval(ticker);

    const end = since() + 300;
    const movedKept = onFirst.filter((m) => m.mgr.address === m.originalAddress && m.mgr.bootstrapAddress !== addresses[0]).length;
    const allKept = members.filter((m) => m.mgr.address === m.originalAddress).length;
    const distinct = new Set(members.map((m) => m.mgr.address)).size;
    const table = await etcdTable(endpoint);
    const tableOk = members.every((m) => table.get(m.name) === String(m.mgr.address)) && table.size === MEMBERS;
    const after = addresses.map((a) => members.filter((m) => m.mgr.bootstrapAddress === a).length);
    printSummary([
      ['members', `${MEMBERS} over 3 enrollers sharing one etcd`],
      ['enrollment time', spread(members.map((m) => m.enrollMs ?? 0))],
      ['per enroller', `before ${perEnroller.join(' / ')}   after e1 died ${after.join(' / ')}`],
      [
        'detection delay',
        `${spread(onFirst.map((m) => m.mgr.metrics().detectionDelayMs.last ?? 0))}   (timeout ${CONFIG.connectionTimeoutSecs * 1000} ms)`,
      ],
      [
        'time to fail over',
        `${spread(onFirst.map((m) => m.mgr.metrics().timeToRecoverMs.last ?? 0))}   (loss noticed -> enrolled elsewhere)`,
      ],
      ["e1's members", `${movedKept}/${onFirst.length} moved to e2 or e3 with their address`],
      [
        'addresses',
        `${allKept}/${MEMBERS} unchanged, ${distinct} distinct; etcd's table ${tableOk ? 'matches every member' : 'DISAGREES'}`,
      ],
    ]);
    const svgPath = writeTimeline('timeline-ha.svg', members, markers, end);
    await Promise.all(members.map((m) => m.mgr.close()));
    const ok = movedKept === onFirst.length && allKept === MEMBERS && distinct === MEMBERS && tableOk && onFirst.length > 0;
    process.stdout.write(
      `\n${ok ? 'every member of the killed enroller failed over with its address; no address is held twice' : 'FAILED: see the summary'}\n`,
    );
    process.stdout.write(`timeline: ${svgPath}\n`);
    return ok ? 0 : 1;
  } finally {
    clearInterval(ticker);
    await Promise.all(members.map((m) => m.mgr.close().then(() => m.shim.close())));
    await Promise.all(enrollers.map(stopEnroller));
    await etcd?.close();
  }
}

/** etcd's name-to-address table of demo.DIF, read with a client of its own. */
async function etcdTable(endpoint: string): Promise<Map<string, string>> {
  const { Etcd3 } = await import('etcd3');
  const client = new Etcd3({ hosts: endpoint });
  try {
    const prefix = '/rina/demo.DIF/names/';
    const names = await client.getAll().prefix(prefix).strings();
    return new Map(Object.entries(names).map(([k, v]) => [decodeURIComponent(k.slice(prefix.length)), v]));
  } finally {
    client.close();
  }
}

(args.ha ? mainHa() : main()).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`demo failed: ${(err as Error)?.message ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
