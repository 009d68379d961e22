/**
 * The scale scenario's phases, each measured and each ended by a check of
 * the whole world (bench/scale/world.ts `checkWorld`).
 */
import type { Etcd3 } from 'etcd3';
import type { EtcdCluster } from '../../src/cli/etcd-server.js';
import type { BenchChild } from '../lib/child.js';
import type { ChildStats } from '../lib/child-protocol.js';
import { sleep, udpCounters, udpDelta } from '../lib/env.js';
import type { HostProgress } from './protocol.js';
import { checkWorld, type EtcdMetrics, etcdMetrics, explainViews, type Hosts } from './world.js';

export interface World {
  etcd: EtcdCluster;
  client: Etcd3;
  prefix: string;
  enrollers: BenchChild[];
  hosts: Hosts;
  log(line: string): void;
}

/** EtcdAddressStore's transaction counters by kind, in the order of the scale table's column. */
const TXN_KINDS = ['binds', 'confirms', 'releases', 'leaves', 'strayMarks', 'registrations'] as const;

/** One enroller's figures over a phase. */
export interface EnrollerFigures {
  name: string;
  /** Members enrolled with it at the end of the phase. */
  members: number;
  cpuMs: number;
  rss: number;
  /** Deltas of its own counters over the phase. */
  busy: number;
  keepalives: number;
  rejected: number;
  /** Its EtcdAddressStore's transactions and watch events applied over the phase. */
  transactions: number;
  /** The same, by what they were for: binds (and of them, those refused: another enroller took the name or address first) / confirms (after a lapse) / releases / leaves / stray marks deleted / registrations. */
  transactionKinds: string;
  watchEvents: number;
  /** Times its lease lapsed (each one a fence: it vouched for nobody until its members were proven again). */
  leaseLapses: number;
  /** Of those, the lapses where etcd did not answer whether the lease lived (the others: etcd said it expired). */
  leaseLapsesUnanswered: number;
  /** Earlier leases it revoked that etcd still had (a lapse whose lease was alive all the same). */
  earlierLeasesAlive: number;
  /** Times the lease's proof ran out and etcd was asked whether it lived (those that did not end in a renewal were late answers). */
  leaseDoubts: number;
  /** Keepalives of its lease sent early: the one before went unanswered for a sixth of the TTL (or failed). */
  leaseKeepalivesEarly: number;
  /** Its window of etcd transactions in flight: times it halved / transactions that waited for it / those given up unsent. */
  txnWindow: string;
  heapUsed: number;
}

/** What every phase reports. */
export interface PhaseResult {
  name: string;
  wallMs: number;
  /** Time until the phase's goal was reached (all joined, all back), ms; undefined if it never was. */
  convergedMs: number | undefined;
  /** Enrollments completed (the `enrolled` events of every member) over the phase. */
  enrollments: number;
  /**
   * Enrollments completed since the phase's start (first ones and re-enrollments), sampled once a second or as
   * soon as the member hosts answer: a sample of 100,000 members on two cores can take 10 s.
   */
  series: number[];
  /** Each sample's time, ms since the phase's start. */
  sampledAtMs: number[];
  failures: Record<string, number>;
  losses: Record<string, number>;
  etcd: {
    txns: number;
    puts: number;
    deletes: number;
    walBytes: number;
    dbBytes: number;
    cpuSecs: number;
    rssMax: number;
    leaderChanges: number;
  };
  enrollers: EnrollerFigures[];
  hostCpuMs: number;
  hostRss: number;
  /** The kernel's UDP counters over the phase (machine-wide): datagrams in, and those a full receive buffer dropped. */
  udpIn: number;
  udpDropped: number;
  /** The check at the end. */
  problems: string[];
  /** Of `problems`, those in etcd's own table (not a bijection), the rest being members' views. */
  tableProblems: number;
  enrolled: number;
  notEnrolled: number;
  bindings: number;
  /** Phase-specific figures (printed as notes). */
  extra: Record<string, number | string>;
}

const diff = (a: Record<string, number>, b: Record<string, number>): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const d = (b[k] ?? 0) - (a[k] ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
};

/** The etcd counters of the members that answer: the largest of each counter (every member applies every write), CPU summed. */
async function etcdNow(world: World): Promise<{ max: EtcdMetrics; each: Array<EtcdMetrics | undefined> }> {
  const each = await Promise.all(world.etcd.members.map((m) => (m.running ? etcdMetrics(m.endpoint) : undefined)));
  const all = each.filter((m): m is EtcdMetrics => m !== undefined);
  const max = {} as EtcdMetrics;
  for (const key of ['puts', 'txns', 'deletes', 'ranges', 'walBytes', 'dbBytes', 'cpuSecs', 'rss', 'leaderChanges'] as const) {
    max[key] = Math.max(...all.map((m) => m[key]));
  }
  return { max, each };
}

/** CPU seconds the etcd members used between two readings, summed over those that answered both (a killed one's is lost). */
const etcdCpu = (a: Array<EtcdMetrics | undefined>, b: Array<EtcdMetrics | undefined>): number =>
  b.reduce((sum, m, i) => {
    const before = a[i];
    return m === undefined || before === undefined || m.cpuSecs < before.cpuSecs ? sum : sum + m.cpuSecs - before.cpuSecs;
  }, 0);

async function enrollerStats(world: World): Promise<Array<ChildStats | undefined>> {
  return Promise.all(world.enrollers.map((e) => e.stats().catch(() => undefined)));
}

/**
 * Runs `act`, then samples once a second until `done(progress)` or `boundMs`,
 * and measures everything over that span; the check of the world ends it.
 */
export async function phase(
  world: World,
  name: string,
  act: () => Promise<void>,
  done: (p: HostProgress, startedAt: number) => number | undefined,
  boundMs: number,
  extra: (before: HostProgress, after: HostProgress, startedAt: number) => Record<string, number | string> = () => ({}),
): Promise<PhaseResult> {
  world.log(`scale: ${name}`);
  await Promise.all(world.enrollers.map((e) => e.mark().catch(() => undefined)));
  const e0 = await enrollerStats(world);
  const etcd0 = await etcdNow(world);
  const p0 = await world.hosts.progress();
  const udp0 = udpCounters();
  const t0 = Date.now();
  await act();
  const series: number[] = [];
  const sampledAtMs: number[] = [];
  let convergedMs: number | undefined;
  let p = p0;
  while (Date.now() - t0 < boundMs) {
    p = await world.hosts.progress();
    const sampledAt = Date.now() - t0;
    series.push(p.enrollments - p0.enrollments);
    sampledAtMs.push(sampledAt);
    if (series.length % 5 === 0) {
      world.log(
        `scale: ${name}, sample ${series.length} at ${Math.round(sampledAt / 1000)} s: ${p.joined} of ${p.members} joined, ${p.enrolled} enrolled, ` +
          `back ${p.watch.home + p.watch.moved} of ${p.watch.total}, failures ${JSON.stringify(p.failures)}, losses ${JSON.stringify(p.losses)}`,
      );
    }
    const at = done(p, t0);
    if (at !== undefined) {
      convergedMs = at - t0;
      break;
    }
    await sleep(1000 - ((Date.now() - t0) % 1000));
  }
  const wallMs = Date.now() - t0;
  const udp = udpDelta(udp0, udpCounters());
  const e1 = await enrollerStats(world);
  const etcd1 = await etcdNow(world);
  const check = await checkWorld(world.client, world.prefix, await world.hosts.view());
  const wrongViews =
    check.wrongViews.length === 0
      ? undefined
      : await explainViews(world.client, world.prefix, world.enrollers, check.wrongViews, check.revision);
  const enrollers = world.enrollers.map((e, i): EnrollerFigures => {
    const a = e0[i]?.enroller ?? {};
    const b = e1[i]?.enroller ?? a;
    return {
      name: `e${i}`,
      members: p.byBootstrap[e.address] ?? 0,
      cpuMs: e1[i]?.cpuMs ?? Number.NaN,
      rss: e1[i]?.rss ?? Number.NaN,
      busy: (b.busy ?? 0) - (a.busy ?? 0),
      keepalives: (b.keepalives ?? 0) - (a.keepalives ?? 0),
      rejected: (b.rejected ?? 0) - (a.rejected ?? 0),
      transactions: e1[i]?.store?.transactions ?? Number.NaN,
      transactionKinds: TXN_KINDS.map((k) =>
        k === 'binds' ? `${e1[i]?.store?.binds ?? '?'} (${e1[i]?.store?.conflicts ?? '?'})` : (e1[i]?.store?.[k] ?? '?'),
      ).join(' / '),
      watchEvents: e1[i]?.store?.watchEvents ?? Number.NaN,
      leaseLapses: e1[i]?.store?.leaseLapses ?? Number.NaN,
      leaseLapsesUnanswered: e1[i]?.store?.leaseLapsesUnanswered ?? Number.NaN,
      earlierLeasesAlive: e1[i]?.store?.earlierLeasesAlive ?? Number.NaN,
      leaseDoubts: e1[i]?.store?.leaseDoubts ?? Number.NaN,
      leaseKeepalivesEarly: e1[i]?.store?.leaseKeepalivesEarly ?? Number.NaN,
      txnWindow: (
        ['txnWindowCuts', 'txnsSlowEtcdNotBehind', 'txnsWaited', 'txnsTimedOutWaiting', 'applyBacklogMax', 'etcdMembersSkipped'] as const
      )
        .map((k) => {
          if (k === 'txnWindowCuts')
            return `${e1[i]?.store?.[k] ?? '?'} (${e1[i]?.store?.txnWindowCutsFailed ?? '?'}, ${e1[i]?.store?.txnWindowCutsUnjudged ?? '?'})`;
          // (A running maximum: the difference over a phase would say how much it grew, not what was read.)
          return k === 'applyBacklogMax' ? (e1[i]?.storeTotal?.[k] ?? '?') : (e1[i]?.store?.[k] ?? '?');
        })
        .join(' / '),
      heapUsed: e1[i]?.heapUsed ?? Number.NaN,
    };
  });
  return {
    name,
    wallMs,
    convergedMs,
    enrollments: p.enrollments - p0.enrollments,
    series,
    sampledAtMs,
    failures: diff(p0.failures, p.failures),
    losses: diff(p0.losses, p.losses),
    etcd: {
      txns: etcd1.max.txns - etcd0.max.txns,
      puts: etcd1.max.puts - etcd0.max.puts,
      deletes: etcd1.max.deletes - etcd0.max.deletes,
      walBytes: etcd1.max.walBytes - etcd0.max.walBytes,
      dbBytes: etcd1.max.dbBytes,
      cpuSecs: etcdCpu(etcd0.each, etcd1.each),
      rssMax: etcd1.max.rss,
      leaderChanges: etcd1.max.leaderChanges - etcd0.max.leaderChanges,
    },
    enrollers,
    hostCpuMs: p.cpuMs - p0.cpuMs,
    hostRss: p.rss,
    udpIn: udp?.InDatagrams ?? Number.NaN,
    udpDropped: udp?.RcvbufErrors ?? Number.NaN,
    problems: check.problems,
    tableProblems: check.tableProblems,
    enrolled: check.enrolled,
    notEnrolled: check.notEnrolled,
    bindings: check.bindings,
    extra: { ...extra(p0, p, t0), ...(wrongViews === undefined ? {} : { "members whose view is not etcd's": wrongViews }) },
  };
}

/**
 * Waits until every enroller lists only the members enrolled with it (a
 * member that moved after a loss during the join stays listed where it was
 * until its lease there ends, and then that enroller writes to etcd) and
 * has no enrollment pending (one abandoned after `pendingTimeoutMs` gives
 * its binding back, another write), and etcd has taken no write for
 * `quietMs`; or until `boundMs`. What the join
 * leaves behind is not the steady state. Returns the ms waited.
 */
export async function settle(world: World, quietMs: number, boundMs: number): Promise<number> {
  const t0 = Date.now();
  const writes = async (): Promise<number> => {
    const { max } = await etcdNow(world);
    return max.txns + max.puts + max.deletes;
  };
  // Members listed where they no longer are, and enrollments still pending (an abandoned one gives its binding back).
  const stale = async (): Promise<number> => {
    const stats = await enrollerStats(world);
    const listed = stats.reduce((a, st) => a + (st?.members ?? 0), 0);
    const pending = stats.reduce((a, st) => a + (st?.pending ?? 0), 0);
    return listed - (await world.hosts.progress()).enrolled + pending;
  };
  let last = await writes();
  let quietSince = Date.now();
  while (Date.now() - t0 < boundMs) {
    await sleep(1000);
    const now = await writes();
    if (now !== last) quietSince = Date.now();
    last = now;
    if (Date.now() - quietSince >= quietMs && (await stale()) <= 0) break;
  }
  return Date.now() - t0;
}

/** The phase's goal for members moving off `from` (watched): every one enrolled elsewhere again; when the last came back. */
export const allBack = (p: HostProgress): number | undefined =>
  p.watch.total > 0 && p.watch.home + p.watch.moved >= p.watch.total ? (p.watch.lastBackAt ?? Date.now()) : undefined;

/** The phase's goal of a join: every member made so far has enrolled once. */
export const allJoined = (p: HostProgress): number | undefined => (p.joined >= p.members ? (p.lastJoinedAt ?? Date.now()) : undefined);

/** Seconds of the longest span, from sample `from` on, in which no enrollment completed: between the first and the last of samples that read the same count. */
export function longestStall(series: readonly number[], sampledAtMs: readonly number[], from = 0): number {
  let longest = 0;
  let since = Math.max(0, from);
  for (let i = since + 1; i < series.length; i++) {
    if (series[i] !== series[i - 1]) since = i;
    else longest = Math.max(longest, ((sampledAtMs[i] ?? 0) - (sampledAtMs[since] ?? 0)) / 1000);
  }
  return longest;
}

/** The most enrollments per second between two samples in a row (samples may be more than a second apart). */
export function peakRate(series: readonly number[], sampledAtMs: readonly number[]): number {
  let peak = 0;
  for (let i = 1; i < series.length; i++) {
    const secs = ((sampledAtMs[i] ?? 0) - (sampledAtMs[i - 1] ?? 0)) / 1000;
    if (secs > 0) peak = Math.max(peak, ((series[i] ?? 0) - (series[i - 1] ?? 0)) / secs);
  }
  return peak;
}
