/**
 * 7. Address stores: enrollment latency (one member at a time) and enroller
 * throughput (N members at once) with the enroller's table in a
 * MemoryAddressStore, a FileAddressStore and an EtcdAddressStore on a
 * throw-away etcd, in the same run, next to the floors: a bare dgram round
 * trip, and one bare etcd transaction timed in the enroller's process. The
 * etcd store's own counters show what an enrollment costs there (one
 * transaction, no read: the free address is found in a watch-fed copy of
 * the table), and three enrollers sharing one etcd show how often they race.
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { join } from 'node:path';
import type { EtcdCluster } from '../../src/cli/etcd-server.js';
import type { EnrollmentManager as Manager } from '../../src/index.js';
import { BenchChild } from '../lib/child.js';
import type { ChildStats, StoreSpec } from '../lib/child-protocol.js';
import type { Ctx } from '../lib/context.js';
import { sleep, udpCounters, udpDelta } from '../lib/env.js';
import { loadEtcdServer } from '../lib/etcd.js';
import { dgramPinger } from '../lib/floors.js';
import { DEFAULT_RECV_BUFFER_BYTES, EnrollmentManager, MemoryRib, UdpShim } from '../lib/lib.js';
import { closeAll, makeManagers, makeShims } from '../lib/members.js';
import type { Table, Verdict } from '../lib/report.js';
import { fmt, int, medianOf, quantile } from '../lib/stats.js';

type Kind = 'memory' | 'file' | 'etcd';
const LABEL: Record<Kind, string> = { memory: 'MemoryAddressStore', file: 'FileAddressStore', etcd: 'EtcdAddressStore' };

/** The key the bare-transaction floor puts (outside every enroller's prefix, so no watch sees it). */
const FLOOR_KEY = '/rina-bench-floor/txn';
/** Where the bind-shaped transactions of the floor write (fresh keys each time). */
const FLOOR_PREFIX = `/rina-bench-floor/${process.pid}/`;
/** Enrollers sharing one etcd in the last row. */
const SHARED = 3;

/** A fresh etcd prefix per enroller group: each starts from an empty table. */
let prefixes = 0;
const freshPrefix = (what: string): string => `/rina-bench/${process.pid}-${++prefixes}-${what}/`;

function storeSpec(ctx: Ctx, kind: Kind, etcd: EtcdCluster | undefined, prefix: string): StoreSpec {
  switch (kind) {
    case 'memory':
      return { kind };
    case 'file':
      return { kind, path: join(ctx.tmpDir, `stores${prefix.replaceAll('/', '_')}.json`) };
    case 'etcd':
      if (etcd === undefined) throw new Error('no etcd');
      return { kind, hosts: etcd.endpoints, prefix };
  }
}

/** Starts enroller children in parallel; if any fails, stops the others and throws. */
async function startEnrollers(list: Array<{ store: StoreSpec; ipcpName: string }>): Promise<BenchChild[]> {
  const settled = await Promise.allSettled(list.map((o) => BenchChild.enroller(o)));
  const ok = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed !== undefined) {
    await Promise.all(ok.map((c) => c.stop()));
    throw failed.reason;
  }
  return ok;
}

const p = (xs: number[], q: number): number =>
  quantile(
    [...xs].sort((a, b) => a - b),
    q,
  );

// ---- latency: one member at a time -------------------------------------------------------

type LatKey = 'rtt' | 'txn' | 'bindTxn' | Kind;
/** Samples per measurement and run, after `warm` discarded ones; taken in blocks of BLOCK. */
const LAT_FULL = { warm: 50, count: 500 } as const;
const LAT_QUICK = { warm: 10, count: 60 } as const;
const BLOCK = 10;
type LatRun = Record<string, number>;

/**
 * One enrollment of a fresh member on a fresh socket; then the member leaves
 * (M_RELEASE) and we wait until the enroller has handled it and no store
 * call is in flight, so that the next enrollment is timed alone.
 */
async function enrolOnce(child: BenchChild, name: string): Promise<{ ms: number; settled: boolean }> {
  const shim = await UdpShim.bind('127.0.0.1:0');
  const mgr = new EnrollmentManager({ shim, rib: new MemoryRib(), ipcpName: name, difName: 'demo.DIF' });
  let ms: number;
  try {
    const t0 = performance.now();
    await mgr.enrolWithBootstrap(child.address);
    ms = performance.now() - t0;
  } finally {
    await mgr.close();
    await shim.close();
  }
  return { ms, settled: await child.settle(0) };
}

async function latencyRun(ctx: Ctx, kinds: Kind[], etcd: EtcdCluster | undefined, run: number): Promise<LatRun> {
  const children = await startEnrollers(
    kinds.map((k) => ({ store: storeSpec(ctx, k, etcd, freshPrefix(`lat-${k}-${run}`)), ipcpName: 'bootstrap' })),
  );
  const byKind = new Map(kinds.map((k, i) => [k, children[i] as BenchChild]));
  let pinger: Awaited<ReturnType<typeof dgramPinger>> | undefined;
  try {
    const memoryChild = byKind.get('memory') as BenchChild;
    pinger = await dgramPinger(await memoryChild.startEcho());
    const ping = pinger.ping;
    let unsettled = 0;
    let n = 0;
    const ops: Array<{ key: LatKey; run: () => Promise<number> }> = [{ key: 'rtt', run: () => ping() }];
    const etcdChild = byKind.get('etcd');
    if (etcdChild !== undefined && etcd !== undefined) {
      const hosts = etcd.endpoints;
      ops.push({ key: 'txn', run: async () => (await etcdChild.etcdFloor(hosts, 'txn', FLOOR_KEY, 1)).samples[0] ?? Number.NaN });
      ops.push({ key: 'bindTxn', run: async () => (await etcdChild.etcdFloor(hosts, 'bind', FLOOR_PREFIX, 1)).samples[0] ?? Number.NaN });
    }
    for (const [kind, child] of byKind) {
      ops.push({
        key: kind,
        run: async () => {
          const r = await enrolOnce(child, `lat-${kind}-${run}-${n++}`);
          if (!r.settled) unsettled++;
          return r.ms;
        },
      });
    }
    const warm = ctx.quick ? LAT_QUICK.warm : LAT_FULL.warm;
    const count = ctx.quick ? LAT_QUICK.count : LAT_FULL.count;
    const xs: Record<string, number[]> = {};
    // Round-robin in blocks of BLOCK samples, starting one later each round: every measurement sees
    // the same machine, and each is timed while its processes are awake (one sample at a time per
    // measurement would time a cold wake-up of every process each time).
    for (let round = 0; round < warm + count; round += BLOCK) {
      for (let j = 0; j < ops.length; j++) {
        const op = ops[(round / BLOCK + j) % ops.length] as (typeof ops)[number];
        for (let b = 0; b < BLOCK; b++) {
          const ms = await op.run();
          if (round + b >= warm) (xs[op.key] ??= []).push(ms);
        }
      }
    }
    const out: LatRun = { samples: count, unsettled };
    for (const [key, v] of Object.entries(xs)) {
      out[`${key}_p50`] = p(v, 0.5);
      out[`${key}_p99`] = p(v, 0.99);
    }
    return out;
  } finally {
    pinger?.close();
    await Promise.all(children.map((c) => c.stop()));
  }
}

// ---- throughput: N members at once ---------------------------------------------------

interface TpRun extends Record<string, number> {
  requested: number;
  members: number;
  ok: number;
  failed: number;
  wallMs: number;
  perSec: number;
  cpuMs: number;
  perCpuSec: number;
  core: number;
  /** Datagrams the enrollers received (members' retransmissions and duplicates included). */
  datagramsIn: number;
  p50: number;
  p99: number;
  busy: number;
  rcvbufErrors: number;
  binds: number;
  txns: number;
  rangeReads: number;
  loadRangeReads: number;
  conflicts: number;
  watchEvents: number;
  writes: number;
  duplicates: number;
  unsettled: number;
  /** What-if (one enroller on etcd): one range read of every taken address, and the bare txn, timed in the enroller's process. */
  tableKeys: number;
  rangeP50: number;
  rangeP99: number;
  txnP50: number;
  txnP99: number;
}

/** Enrols managers, `batch` at a time, manager i with `bootstrap(i)`; throws if any fails (set-up, not measurement). */
async function enrolEach(managers: readonly Manager[], bootstrap: (i: number) => string, batch = 100): Promise<void> {
  for (let i = 0; i < managers.length; i += batch) {
    await Promise.all(managers.slice(i, i + batch).map((m, j) => m.enrolWithBootstrap(bootstrap(i + j))));
  }
}

const sum = (stats: ChildStats[], key: string): number => stats.reduce((a, s) => a + (s.store?.[key] ?? 0), 0);

async function throughputRun(ctx: Ctx, kind: Kind, enrollers: number, n: number, etcd: EtcdCluster | undefined): Promise<TpRun> {
  const prefix = freshPrefix(`tp-${kind}-${enrollers}`);
  const children = await startEnrollers(
    Array.from({ length: enrollers }, (_, e) => ({ store: storeSpec(ctx, kind, etcd, prefix), ipcpName: `e${e + 1}` })),
  );
  const at = (i: number): string => (children[i % enrollers] as BenchChild).address;
  let warm: Awaited<ReturnType<typeof makeShims>> = [];
  let shims: Awaited<ReturnType<typeof makeShims>> = [];
  let managers: Manager[] = [];
  try {
    // Warm-up, so that the enrollers' code is optimised before it is measured; then wait until the
    // warm-up members' releases (an etcd `leave` each) are done.
    warm = await makeShims((ctx.quick ? 100 : 300) * enrollers);
    for (let round = 0; round < 2; round++) {
      const ms = makeManagers(warm, {}, `warm${round}`);
      await enrolEach(ms, at);
      await Promise.all(ms.map((m) => m.close()));
    }
    await Promise.all(warm.map((s) => s.close()));
    warm = [];
    let unsettled = 0;
    for (const c of children) if (!(await c.settle(0, 10_000))) unsettled++;

    shims = await makeShims(n);
    managers = makeManagers(shims, {}, 'tp');
    await sleep(100);
    const share = children.map((_, e) => managers.filter((_m, i) => i % enrollers === e).length);
    await Promise.all(children.map((c, e) => c.mark(share[e])));
    const udp0 = udpCounters();
    const t0 = performance.now();
    const done: number[] = [];
    const doneBy = children.map(() => 0);
    let failed = 0;
    await Promise.all(
      managers.map((m, i) =>
        m.enrolWithBootstrap(at(i)).then(
          () => {
            done.push(performance.now() - t0);
            doneBy[i % enrollers] = (doneBy[i % enrollers] ?? 0) + 1;
          },
          () => void failed++,
        ),
      ),
    );
    const wallMs = performance.now() - t0;
    // An enroller finishes a member on its M_STOP_R, just after the member resolves.
    let stats = await Promise.all(children.map((c) => c.stats()));
    for (let k = 0; k < 40 && stats.some((s, e) => s.enrolled < (doneBy[e] ?? 0)); k++) {
      await sleep(25);
      stats = await Promise.all(children.map((c) => c.stats()));
    }
    const udp = udpDelta(udp0, udpCounters());
    const ok = done.length;
    const cpu = stats.reduce((a, s) => a + (s.targetCpuMs ?? s.cpuMs), 0);
    const addresses = managers.map((m) => m.address).filter((a): a is number => a !== undefined);
    const whatIf = { tableKeys: Number.NaN, rangeP50: Number.NaN, rangeP99: Number.NaN, txnP50: Number.NaN, txnP99: Number.NaN };
    if (kind === 'etcd' && enrollers === 1 && etcd !== undefined) {
      // What reading the pool on every request would cost: one range read of every taken address.
      const c = children[0] as BenchChild;
      const txn = await c.etcdFloor(etcd.endpoints, 'txn', FLOOR_KEY, ctx.quick ? 20 : 100);
      const range = await c.etcdFloor(etcd.endpoints, 'range', `${prefix}addresses/`, ctx.quick ? 5 : 30);
      whatIf.tableKeys = range.keys;
      whatIf.rangeP50 = p(range.samples, 0.5);
      whatIf.rangeP99 = p(range.samples, 0.99);
      whatIf.txnP50 = p(txn.samples, 0.5);
      whatIf.txnP99 = p(txn.samples, 0.99);
    }
    const sorted = [...done].sort((a, b) => a - b);
    return {
      requested: n,
      members: managers.length,
      ok,
      failed,
      wallMs,
      perSec: ok / (wallMs / 1000),
      cpuMs: cpu,
      perCpuSec: ok / (cpu / 1000),
      core: cpu / wallMs,
      datagramsIn: stats.reduce((a, s) => a + s.received, 0),
      p50: quantile(sorted, 0.5),
      p99: quantile(sorted, 0.99),
      busy: stats.reduce((a, s) => a + (s.enroller?.busy ?? 0), 0),
      rcvbufErrors: udp?.RcvbufErrors ?? Number.NaN,
      binds: sum(stats, 'bind'),
      txns: kind === 'etcd' ? sum(stats, 'transactions') : Number.NaN,
      rangeReads: kind === 'etcd' ? sum(stats, 'rangeReads') : Number.NaN,
      loadRangeReads:
        kind === 'etcd' ? stats.reduce((a, s) => a + ((s.storeTotal?.rangeReads ?? 0) - (s.store?.rangeReads ?? 0)), 0) : Number.NaN,
      conflicts: kind === 'etcd' ? sum(stats, 'conflicts') : Number.NaN,
      watchEvents: kind === 'etcd' ? sum(stats, 'watchEvents') : Number.NaN,
      writes: kind === 'file' ? sum(stats, 'writes') : Number.NaN,
      duplicates: addresses.length - new Set(addresses).size,
      unsettled,
      ...whatIf,
    };
  } finally {
    await Promise.all(warm.map((s) => s.close()));
    await closeAll(managers, shims);
    await Promise.all(children.map((c) => c.stop()));
  }
}

// ---- the scenario ------------------------------------------------------------------

interface Case {
  kind: Kind;
  enrollers: number;
}

export async function stores(ctx: Ctx): Promise<void> {
  const server = await loadEtcdServer();
  const notes: string[] = [];
  let etcd: EtcdCluster | undefined;
  // Should this process exit without reaching the finally below: no etcd left running.
  const killEtcd = (): void => {
    for (const m of etcd?.members ?? []) void m.kill();
  };
  process.on('exit', killEtcd);
  const n = ctx.quick ? 300 : 1000;
  const lat: LatRun[] = [];
  const cases: Case[] = [];
  const tp = new Map<Case, TpRun[]>();
  let etcdVersion = '';
  try {
    const binary = server.findEtcd();
    if (binary === undefined) {
      notes.push(
        `**No etcd binary found** (\`$ETCD_BIN\`, or \`etcd\` on the PATH): the EtcdAddressStore rows and the etcd floor are left out; ${server.ETCD_INSTALL_HINT}.`,
      );
    } else {
      etcdVersion = spawnSync(binary, ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0]?.trim() ?? '';
      try {
        ctx.log(`stores: starting a throw-away etcd (${binary})`);
        etcd = await server.startEtcd({ binary });
      } catch (err) {
        notes.push(
          `**etcd (${binary}) did not start** (${(err as Error).message}): the EtcdAddressStore rows and the etcd floor are left out.`,
        );
      }
    }
    const kinds: Kind[] = etcd === undefined ? ['memory', 'file'] : ['memory', 'file', 'etcd'];

    for (let r = 0; r < ctx.runs; r++) {
      ctx.log(`stores: latency, one member at a time (${kinds.join(', ')}), run ${r + 1}/${ctx.runs}`);
      lat.push(await latencyRun(ctx, kinds, etcd, r));
    }

    for (const kind of kinds) cases.push({ kind, enrollers: 1 });
    if (etcd !== undefined) cases.push({ kind: 'etcd', enrollers: SHARED });
    for (let r = 0; r < ctx.runs; r++) {
      for (const c of cases) {
        ctx.log(`stores: ${int(n)} members at once, ${LABEL[c.kind]} × ${c.enrollers} enroller(s), run ${r + 1}/${ctx.runs}`);
        const runs = tp.get(c) ?? [];
        runs.push(await throughputRun(ctx, c.kind, c.enrollers, n, etcd));
        tp.set(c, runs);
      }
    }
  } finally {
    process.off('exit', killEtcd);
    await etcd?.close();
  }

  // ---- report ----
  const m = medianOf(lat);
  const us = (ms: number | undefined): string => (ms === undefined ? 'n/a' : fmt(ms * 1000, 0));
  const hasEtcd = m.etcd_p50 !== undefined;
  const floor2 = { p50: 2 * (m.rtt_p50 ?? Number.NaN), p99: 2 * (m.rtt_p99 ?? Number.NaN) };
  const floorE = { p50: floor2.p50 + (m.txn_p50 ?? Number.NaN), p99: floor2.p99 + (m.txn_p99 ?? Number.NaN) };
  const ratio = (x: number | undefined, f: number): string => (x === undefined ? '' : `${fmt(x / f, 2)}x`);
  const overMemory = (k: Kind): string => us((m[`${k}_p50`] ?? Number.NaN) - (m.memory_p50 ?? Number.NaN));
  const enrolRow = (k: Kind, label: string, f: { p50: number; p99: number }): string[] => [
    label,
    us(m[`${k}_p50`]),
    us(m[`${k}_p99`]),
    ratio(m[`${k}_p50`], f.p50),
    ratio(m[`${k}_p99`], f.p99),
    k === 'memory' ? '' : overMemory(k),
  ];
  const latRows: string[][] = [
    ['floor: dgram ping-pong RTT (member process to enroller process)', us(m.rtt_p50), us(m.rtt_p99), '', '', ''],
    ['floor: 2 round trips = 2 × dgram RTT', us(floor2.p50), us(floor2.p99), '1.00x', '1.00x', ''],
    enrolRow('memory', `enrol, ${LABEL.memory}`, floor2),
    enrolRow('file', `enrol, ${LABEL.file} (fsync per write)`, floor2),
  ];
  if (hasEtcd) {
    latRows.push(
      ['floor: one bare etcd transaction (put one key), timed in the enroller process', us(m.txn_p50), us(m.txn_p99), '', '', ''],
      ['floor: 2 × dgram RTT + 1 bare etcd transaction', us(floorE.p50), us(floorE.p99), '1.00x', '1.00x', ''],
      enrolRow('etcd', `enrol, ${LABEL.etcd} (1 enroller)`, floorE),
      [
        'for comparison: a bind-shaped transaction (2 compares, 3 puts, no lease; ratios to the bare one)',
        us(m.bindTxn_p50),
        us(m.bindTxn_p99),
        ratio(m.bindTxn_p50, m.txn_p50 ?? Number.NaN),
        ratio(m.bindTxn_p99, m.txn_p99 ?? Number.NaN),
        '',
      ],
    );
  }
  const tables: Table[] = [
    {
      title: `One member enrolling over UDP, one at a time, by the enroller's address store (median of ${ctx.runs} runs of p50 / p99 over ${int(m.samples ?? 0)} enrollments each, interleaved with the floors; µs)`,
      columns: ['measurement', 'p50 µs', 'p99 µs', 'p50 / floor', 'p99 / floor', 'p50 over the memory store µs'],
      rows: latRows,
    },
  ];

  const tpm = new Map([...tp].map(([c, runs]) => [c, medianOf(runs)]));
  const per = (x: number, ok: number): string => (Number.isNaN(x) ? '—' : fmt(x / Math.max(1, ok), 2));
  tables.push({
    title: `${int(n)} members starting at once over UDP, by address store (median of ${ctx.runs} runs; library defaults)`,
    columns: [
      'store',
      'enrollers',
      'enrolled',
      'failed',
      'wall s',
      'enrol/s (wall)',
      'enrol per enroller CPU-s',
      'enrollers core (sum)',
      'datagrams in / enrol',
      'enroller CPU µs / datagram in',
      'p50 ms',
      'p99 ms',
      'busy answers',
      'rcvbuf drops',
      'file writes',
      'etcd txns / enrol',
      'etcd range reads / enrol',
      'conflicts / enrol',
      'duplicate addresses',
    ],
    rows: [...tpm].map(([c, r]) => [
      LABEL[c.kind],
      String(c.enrollers),
      int(r.ok),
      int(r.failed),
      fmt(r.wallMs / 1000, 2),
      int(r.perSec),
      int(r.perCpuSec),
      `${fmt(r.core * 100, 0)}%`,
      per(r.datagramsIn, r.ok),
      fmt((r.cpuMs * 1000) / Math.max(1, r.datagramsIn), 1),
      fmt(r.p50, 0),
      fmt(r.p99, 0),
      int(r.busy),
      int(r.rcvbufErrors),
      Number.isNaN(r.writes) ? '—' : int(r.writes),
      per(r.txns, r.ok),
      per(r.rangeReads, r.ok),
      per(r.conflicts, r.ok),
      int(r.duplicates),
    ]),
  });

  const etcdCases = [...tp].filter(([c]) => c.kind === 'etcd');
  const one = etcdCases.find(([c]) => c.enrollers === 1);
  const shared = etcdCases.find(([c]) => c.enrollers === SHARED);
  if (etcdCases.length > 0) {
    tables.push({
      title: `What an enrollment costs in etcd: EtcdAddressStore.stats() over the ${int(n)} enrollments, every run`,
      columns: [
        'enrollers',
        'run',
        'enrolled',
        'store.bind calls',
        'transactions',
        'range reads while enrolling',
        'range reads at start (load)',
        'conflicts',
        'watch events per enroller / enrol',
        'duplicate addresses',
      ],
      rows: etcdCases.flatMap(([c, runs]) =>
        runs.map((r, i) => [
          String(c.enrollers),
          String(i + 1),
          int(r.ok),
          int(r.binds),
          int(r.txns),
          int(r.rangeReads),
          int(r.loadRangeReads),
          int(r.conflicts),
          fmt(r.watchEvents / c.enrollers / Math.max(1, r.ok), 2),
          int(r.duplicates),
        ]),
      ),
    });
  }
  const oneM = one === undefined ? undefined : medianOf(one[1]);
  if (oneM !== undefined) {
    tables.push({
      title: `What-if (not the library): reading the taken addresses on every request instead, timed in the enroller process after the ${int(n)}-member run (median of ${ctx.runs} runs)`,
      columns: ['request', 'keys returned', 'p50 ms', 'p99 ms', 'p50 / bare txn'],
      rows: [
        ['bare etcd transaction (put one key)', '', fmt(oneM.txnP50, 2), fmt(oneM.txnP99, 2), '1.00x'],
        [
          'one range read of <prefix>addresses/ (every taken address)',
          int(oneM.tableKeys),
          fmt(oneM.rangeP50, 2),
          fmt(oneM.rangeP99, 2),
          `${fmt(oneM.rangeP50 / oneM.txnP50, 2)}x`,
        ],
      ],
    });
  }

  const verdicts: Verdict[] = [];
  if (one !== undefined) {
    const all = etcdCases.flatMap(([, runs]) => runs);
    const reads = all.reduce((a, r) => a + r.rangeReads, 0);
    const enrolled = all.reduce((a, r) => a + r.ok, 0);
    const loads = Math.max(...etcdCases.flatMap(([c, runs]) => runs.map((r) => r.loadRangeReads / c.enrollers)));
    verdicts.push({
      target: 'EtcdAddressStore finds a free address without reading the pool (range reads while enrolling)',
      measured: `${int(reads)} range reads in ${int(enrolled)} enrollments (every etcd run, 1 and ${SHARED} enrollers); at most ${int(loads)} per enroller at its start (load)`,
      pass: reads === 0,
      ...(reads === 0 ? {} : { note: 'a range read during enrollment: see EtcdAddressStore.load, the only caller of kv.range.' }),
    });
    const t1 = medianOf(one[1]);
    const txPer = t1.txns / Math.max(1, t1.ok);
    const sm = shared === undefined ? undefined : medianOf(shared[1]);
    verdicts.push({
      target: 'one etcd transaction per enrollment (1 enroller)',
      measured:
        `${fmt(txPer, 2)} transactions / enrollment` +
        (sm === undefined
          ? ''
          : `; ${SHARED} enrollers: ${fmt(sm.txns / Math.max(1, sm.ok), 2)}, conflicts ${fmt(sm.conflicts / Math.max(1, sm.ok), 3)} / enrollment`),
      pass: txPer <= 1.005,
      ...(txPer <= 1.005
        ? {}
        : {
            note: `${int(t1.txns - t1.ok)} transactions more than enrollments: a member whose M_START was lost or answered late starts a new attempt, and the enroller binds its name again (${int(t1.binds)} store.bind calls for ${int(t1.ok)} enrollments).`,
          }),
    });
  }
  if (one === undefined) {
    verdicts.push({
      target: 'EtcdAddressStore finds a free address without reading the pool; one transaction per enrollment',
      measured: 'not measured: no etcd (see the note)',
      pass: undefined,
    });
  }
  if (hasEtcd) {
    const mem = tpm.get(cases.find((c) => c.kind === 'memory' && c.enrollers === 1) as Case);
    verdicts.push({
      target: 'enrollment with the etcd store, latency and throughput (no target set)',
      measured:
        `p50 ${us(m.etcd_p50)} µs = memory store + ${overMemory('etcd')} µs (bare txn ${us(m.txn_p50)} µs); ` +
        `${int(oneM?.perSec ?? Number.NaN)} enrol/s vs ${int(mem?.perSec ?? Number.NaN)} with the memory store`,
      pass: undefined,
    });
  }

  const unsettled = lat.reduce((a, r) => a + (r.unsettled ?? 0), 0) + [...tp.values()].flat().reduce((a, r) => a + r.unsettled, 0);
  notes.push(
    `Each enroller runs in its own process on a UdpShim with the library's default ${fmt(DEFAULT_RECV_BUFFER_BYTES / 1048576, 0)} MiB receive buffer (DEFAULT_RECV_BUFFER_BYTES), so that the throughput rows compare the stores rather than the retransmission timers of dropped datagrams; members are in this process, as in scenarios 1 and 2. ` +
      (etcd === undefined
        ? 'no etcd.'
        : `etcd is a fresh throw-away single-member server on 127.0.0.1 (src/cli/etcd-server.ts; ${etcdVersion || 'etcd'}, data directory under ${os.tmpdir()}, fsync on), a third process on the same ${os.cpus().length}-vCPU machine; every enroller group uses a fresh key prefix.`),
    `Latency: each sample is a fresh member on a fresh socket; after it, the member leaves (M_RELEASE) and the benchmark waits until the enroller has handled that and no store call is in flight (for etcd, the \`leave\` transaction), so every enrollment is timed alone. ` +
      `The stores and the floors are measured round-robin in one loop, in blocks of ${BLOCK} (${int(m.samples ?? 0)} samples each per run after ${ctx.quick ? LAT_QUICK.warm : LAT_FULL.warm} discarded). The etcd transactions are timed inside the etcd enroller's process, with their own etcd3 client. Placement is left to the scheduler (no taskset: etcd is a third, multi-threaded process). ` +
      `The p99 floors add the p99s, so they are high.`,
    `Throughput: a fresh enroller process per run and store, warmed up with ${int(2 * (ctx.quick ? 100 : 300))} enrollments per enroller; then ${int(n)} members start at once. "enrol per enroller CPU-s" divides enrollments by the enrollers' own CPU time (all of them, for ${SHARED}); with ${SHARED} enrollers, member i goes to enroller i mod ${SHARED}, all on one prefix. "enrollers core (sum)" is the enroller processes' CPU time (V8's helper threads included, so one process can exceed 100%) over the wall time.`,
  );
  if (one !== undefined) {
    notes.push(
      `An EtcdAddressStore keeps the table in memory (read once at start by \`load\`, then fed by one watch on the prefix) and probes it from a random point; the transaction of a bind compares the revisions of the name and address keys with the ones the copy holds, so etcd arbitrates and a stale copy costs a conflict and another try, never a duplicate. "watch events per enroller / enrol" is what keeps each copy current (the name, address and member-mark puts of every enrollment, by any enroller).`,
    );
  }
  if (unsettled > 0)
    notes.push(
      `${int(unsettled)} waits for a released member to be handled timed out (an M_RELEASE datagram lost?); the next enrollment may have overlapped its store call.`,
    );
  ctx.report.section('7. Address stores', tables, verdicts, notes);
}
