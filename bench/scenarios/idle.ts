/**
 * 3. Idle monitoring cost: N enrolled managers (each on its own UDP socket)
 * with monitoring on, doing nothing but keepalives; the CPU share of one core
 * this process uses, and the heap each manager takes.
 */
import type { EnrollmentConfigInput } from '../../src/index.js';
import { BenchChild } from '../lib/child.js';
import type { Ctx } from '../lib/context.js';
import { cpuMs, fullGc, sleep, udpCounters, udpDelta } from '../lib/env.js';
import { type IdleFloor, idleFloor } from '../lib/floors.js';
import { closeAll, enrolAll, makeManagers, makeShims, sendBursts, type WatchedShim } from '../lib/members.js';
import type { Table, Verdict } from '../lib/report.js';
import type { EnrollmentManager as Manager } from '../../src/index.js';
import { fmt, int, median } from '../lib/stats.js';

interface Case {
  label: string;
  config: EnrollmentConfigInput;
  heartbeatS: number;
  /** Measurement windows (ms); the figure is the median share over them. */
  windows: number[];
  /** A heartbeat cycle let pass (ms) before the windows, its share reported apart: the set-up's own garbage is collected in it. */
  settleMs?: number | undefined;
  /** The CPU share the managers must stay under (#18: 1% of a core at the defaults), if any. */
  cpuBudget?: number;
}

interface CaseResult {
  label: string;
  cpuBudget: number | undefined;
  members: number;
  requested: number;
  windowsMs: number[];
  /** The CPU share of the settling cycle (the first after set-up), if there was one. */
  firstShare: number | undefined;
  shares: number[];
  share: number;
  eluShare: number;
  enrollerShare: number;
  keepalivesPerSec: number;
  cpuUsPerKeepalive: number;
  heapPerManager: number;
  heapPerShim: number;
  /** What the managers took once in the process, beyond their count times the heap per manager. */
  heapOnce: number;
  /** CPU share in the seconds in which no keepalive was sent (the ticker and timers alone). */
  quietShare: number;
  /** Datagrams dropped by full receive buffers during the windows (machine-wide). */
  rcvbufErrors: number;
  /** The most keepalives the managers sent within one millisecond during the windows. */
  largestBurst: number;
  /** connection:lost events while idle, by reason (there should be none). */
  losses: Record<string, number>;
  /** Each manager's last keepalive (epoch ms) and its size: what the floor replays. */
  phases: number[];
  keepaliveBytes: number;
  /** The floor: the same datagrams at the same times from a process with no library. */
  floor?: IdleFloor;
}

const floorShare = (f: IdleFloor): number => f.cpuMs / f.wallMs;
const floorUsPerKeepalive = (f: IdleFloor): number => (f.cpuMs * 1000) / Math.max(1, f.sent);
const heapUsed = (): number => process.memoryUsage().heapUsed;
const sum = (shims: readonly WatchedShim[], k: 'sent' | 'received'): number => shims.reduce((a, s) => a + s[k], 0);

async function runCase(_ctx: Ctx, enroller: BenchChild, n: number, c: Case): Promise<CaseResult> {
  await fullGc();
  const heap0 = heapUsed();
  const shims = await makeShims(n);
  await fullGc();
  const heapShims = heapUsed();
  // A first tenth, then the rest: the heap the rest adds is what one more manager costs; what the first
  // tenth took beyond that is the process's once (code compiled on first use, the wheel's and the shims' tables).
  const first = Math.max(1, Math.floor(shims.length / 10));
  const managers = makeManagers(shims.slice(0, first), c.config, `idle-${c.heartbeatS}s`);
  try {
    const losses: Record<string, number> = {};
    // One listener for every manager (a closure per manager would be the benchmark's heap, not the library's).
    const onLost = ({ reason }: { reason: string }): void => void (losses[reason] = (losses[reason] ?? 0) + 1);
    const up = async (added: readonly Manager[]): Promise<void> => {
      await enrolAll(added, enroller.address);
      // One heartbeat, so that every manager's last heartbeat is fresh when its monitor starts.
      if (c.heartbeatS <= 2) await sleep(c.heartbeatS * 1000 + 200);
      for (const m of added) {
        m.on('connection:lost', onLost);
        m.startConnectionMonitoring();
      }
      await sleep(200);
      await fullGc();
    };
    await up(managers);
    const heapFirst = heapUsed();
    const rest = makeManagers(shims.slice(first), c.config, `idle-${c.heartbeatS}s`, first);
    managers.push(...rest);
    await up(rest);
    const heapAll = heapUsed();
    const heapPerManager = (heapAll - heapFirst) / Math.max(1, rest.length);
    const shares: number[] = [];
    const elus: number[] = [];
    const enrollerShares: number[] = [];
    let keepalives = 0;
    let windowMs = 0;
    let cpuTotal = 0;
    const quietSeconds: number[] = [];
    let firstShare: number | undefined;
    if (c.settleMs !== undefined) {
      const c0 = cpuMs();
      const t0 = performance.now();
      await sleep(c.settleMs);
      firstShare = (cpuMs() - c0) / (performance.now() - t0);
    }
    const udp0 = udpCounters();
    sendBursts.reset();
    for (const w of c.windows) {
      await enroller.mark();
      const sent0 = sum(shims, 'sent');
      const elu0 = performance.eventLoopUtilization();
      const c0 = cpuMs();
      const t0 = performance.now();
      // Second by second, to find the seconds in which no keepalive was due: the cost of monitoring alone.
      for (let left = w; left > 0; left -= 1000) {
        const s0 = sum(shims, 'sent');
        const cs = cpuMs();
        const ts = performance.now();
        await sleep(Math.min(1000, left));
        if (sum(shims, 'sent') === s0) quietSeconds.push((cpuMs() - cs) / (performance.now() - ts));
      }
      const dt = performance.now() - t0;
      const dc = cpuMs() - c0;
      const elu = performance.eventLoopUtilization(elu0);
      const es = await enroller.stats();
      shares.push(dc / dt);
      elus.push(elu.utilization);
      enrollerShares.push(es.cpuMs / es.wallMs);
      keepalives += sum(shims, 'sent') - sent0;
      windowMs += dt;
      cpuTotal += dc;
    }
    const udp = udpDelta(udp0, udpCounters());
    const sentSome = shims.filter((s) => s.lastSentAt > 0);
    return {
      phases: sentSome.map((s) => performance.timeOrigin + s.lastSentAt),
      keepaliveBytes: median(sentSome.map((s) => s.lastSentBytes)),
      label: c.label,
      cpuBudget: c.cpuBudget,
      members: managers.length,
      quietShare: quietSeconds.length === 0 ? Number.NaN : median(quietSeconds),
      rcvbufErrors: udp?.RcvbufErrors ?? Number.NaN,
      largestBurst: sendBursts.largest,
      requested: n,
      windowsMs: c.windows,
      firstShare,
      shares,
      share: median(shares),
      eluShare: median(elus),
      enrollerShare: median(enrollerShares),
      keepalivesPerSec: keepalives / (windowMs / 1000),
      cpuUsPerKeepalive: keepalives === 0 ? Number.NaN : (cpuTotal * 1000) / keepalives,
      heapPerManager,
      heapOnce: heapFirst - heapShims - first * heapPerManager,
      heapPerShim: (heapShims - heap0) / Math.max(1, shims.length),
      losses,
    };
  } finally {
    await closeAll(managers, shims);
  }
}

export async function idle(ctx: Ctx): Promise<void> {
  const n = ctx.quick ? 1000 : 10_000;
  const cases: Case[] = [
    {
      label: 'defaults (keepalive 30 s, timeout 90 s)',
      config: {},
      heartbeatS: 30,
      // One whole heartbeat cycle: every manager sends exactly one keepalive in it.
      windows: ctx.quick ? [1000] : [30_000],
      settleMs: ctx.quick ? undefined : 30_000,
      cpuBudget: 0.01,
    },
    {
      label: 'keepalive 1 s, timeout 3 s',
      config: { heartbeatIntervalSecs: 1, connectionTimeoutSecs: 3 },
      heartbeatS: 1,
      windows: ctx.quick ? [1000] : Array.from({ length: ctx.runs }, () => 3000),
    },
  ];
  const results: CaseResult[] = [];
  const enroller = await BenchChild.enroller();
  try {
    const echo = await enroller.startEcho();
    for (const c of cases) {
      ctx.log(`idle: ${n} managers, ${c.label}`);
      const r = await runCase(ctx, enroller, n, c);
      // After the managers closed their sockets (the floor needs as many), their datagrams again without them.
      ctx.log(`idle: the floor of ${c.label} (bench/idle-floor.mjs)`);
      const windowMs = c.windows.reduce((a, b) => a + b, 0);
      r.floor = await idleFloor({
        echoAddress: echo,
        phases: r.phases,
        intervalMs: c.heartbeatS * 1000,
        settleMs: Math.min(5000, c.heartbeatS * 2000),
        windowMs,
        bytes: r.keepaliveBytes,
      });
      results.push(r);
    }
  } finally {
    await enroller.stop();
  }
  const pct = (x: number): string => `${fmt(x * 100, 2)}%`;
  const tables: Table[] = [
    {
      title: `${int(n)} enrolled managers with monitoring on, idle (this process: managers + their sockets; the enroller is in another process)`,
      columns: [
        'config',
        'managers',
        'window',
        'CPU share of one core',
        'first cycle after set-up',
        'event-loop busy',
        'share in seconds with no keepalive',
        'keepalives /s',
        'CPU µs / keepalive (all CPU)',
        'floor: the same datagrams at the same times, no library (CPU share)',
        'floor: CPU µs / keepalive',
        'rcvbuf drops',
        'largest burst (keepalives in 1 ms)',
        'heap B / manager',
        'heap once (kB)',
        'heap B / UdpShim',
        'enroller core',
        'connections lost while idle',
      ],
      rows: results.map((r) => [
        r.label,
        int(r.members),
        r.windowsMs.length === 1
          ? `${fmt(r.windowsMs[0]! / 1000, 0)} s`
          : `median of ${r.windowsMs.length} × ${fmt(r.windowsMs[0]! / 1000, 0)} s`,
        pct(r.share),
        r.firstShare === undefined ? 'n/a' : pct(r.firstShare),
        pct(r.eluShare),
        Number.isNaN(r.quietShare) ? 'none' : pct(r.quietShare),
        int(r.keepalivesPerSec),
        fmt(r.cpuUsPerKeepalive, 1),
        r.floor === undefined ? 'n/a' : pct(floorShare(r.floor)),
        r.floor === undefined || r.floor.sent === 0 ? 'n/a' : fmt(floorUsPerKeepalive(r.floor), 1),
        int(r.rcvbufErrors),
        int(r.largestBurst),
        int(r.heapPerManager),
        int(r.heapOnce / 1000),
        r.heapPerShim > 0 ? int(r.heapPerShim) : 'n/a',
        pct(r.enrollerShare),
        Object.entries(r.losses)
          .map(([k, v]) => `${int(v)} ${k}`)
          .join(', ') || '0',
      ]),
    },
  ];
  const verdicts: Verdict[] = [];
  for (const r of results) {
    const full = r.members >= 10_000;
    const budget = r.cpuBudget;
    const cpuOk = budget === undefined || r.share < budget;
    const heapOk = r.heapPerManager < 2048;
    const cpuNote: string[] = [];
    let cost = `${int(r.keepalivesPerSec)} keepalives/s at ${fmt(r.cpuUsPerKeepalive, 1)} µs of CPU each (encode, UDP send, receive, decode, heartbeat bookkeeping) add up to ${pct((r.keepalivesPerSec * r.cpuUsPerKeepalive) / 1e6)} of a core`;
    if (r.floor !== undefined && r.floor.sent > 0) {
      cost +=
        `; with no library at all (the floor: one fresh process sending the same ${int(r.floor.sent)} datagrams from as many sockets at the managers' times, ` +
        `each answered by an echo server) Node, libuv and the kernel take ${pct(floorShare(r.floor))} (${fmt(floorUsPerKeepalive(r.floor), 1)} µs a keepalive), ` +
        `${fmt((100 * floorShare(r.floor)) / Math.max(1e-9, r.share), 0)}% of the managers' share`;
    }
    if (budget !== undefined && !cpuOk) {
      const allowed = (budget * 1e6) / Math.max(1, r.cpuUsPerKeepalive);
      cpuNote.push(
        `missed by ${fmt((r.share - budget) * 100, 2)} points (${fmt(r.share / budget, 1)}x the budget): ${cost}; ` +
          `the budget would allow ${fmt(allowed, 0)} keepalives/s, i.e. a heartbeat no shorter than ${fmt(r.members / allowed, 1)} s for ${int(r.members)} managers`,
      );
    }
    if (budget === undefined) cpuNote.push(`no target (#18 sets one for the defaults only): ${cost}`);
    if (!full) cpuNote.push(`only ${int(r.members)} managers (quick run or open-files limit): not a verdict on 10,000`);
    const lost = Object.values(r.losses).reduce((a, b) => a + b, 0);
    if (lost > 0 && r.rcvbufErrors > 0) {
      cpuNote.push(
        `${int(r.rcvbufErrors)} datagrams were dropped by full receive buffers during the windows; ` +
          `the largest burst was ${int(r.largestBurst)} keepalives in one millisecond (${int(r.keepalivesPerSec / 1000)} a millisecond on average)`,
      );
    }
    if (lost > 0)
      cpuNote.push(
        `${int(lost)} managers declared their connection lost while idle (${Object.entries(r.losses)
          .map(([k, v]) => `${int(v)} ${k}`)
          .join(', ')}), and their re-enrollments are inside this figure`,
      );
    verdicts.push({
      target:
        budget === undefined
          ? `${int(r.members)} idle managers, CPU share of a core (${r.label})`
          : `${int(r.members)} idle managers under ${fmt(budget * 100, 0)}% of a core (${r.label})`,
      measured: pct(r.share),
      pass: full && budget !== undefined ? cpuOk : undefined,
      ...(cpuNote.length > 0 ? { note: `${cpuNote.join('; ')}.` } : {}),
    });
    verdicts.push({
      target: `under 2 KiB of heap per manager (${r.label})`,
      measured: `${int(r.heapPerManager)} B`,
      pass: full ? heapOk : undefined,
      ...(heapOk
        ? {}
        : {
            note: `missed by ${int(r.heapPerManager - 2048)} B (${fmt(r.heapPerManager / 2048, 2)}x); see "Heap per manager" in bench/README.md.`,
          }),
    });
  }
  ctx.report.section('3. Idle monitoring cost', tables, verdicts, [
    `CPU share = this process's CPU time (user + system, process.cpuUsage) over wall time; it includes the shared timing wheel, keepalives, replies, timers and garbage collection. The default case is measured over one whole heartbeat cycle (30 s), in which every manager sends exactly one keepalive, after one whole cycle let pass: in the first cycle after the set-up V8 also collects what enrolling 10,000 managers left (its memory reducer runs full collections once the process goes quiet: about 70 ms here, seen with --trace-gc), which is the set-up's cost, not monitoring's. That first cycle's share is listed apart.`,
    `The floor (bench/idle-floor.mjs) is a fresh plain-node process with no library: one socket per manager, each sending a datagram of the keepalive's size at the time its manager sent its last keepalive (modulo the interval), those due in one 10 ms bucket from one timer as the library's wheel does, to an echo server in the enroller's process; its CPU share is measured over as long a window after a few seconds of sending. It is run after the managers closed, so the two never share the machine. What the managers take beyond it is the library's (encoding, decoding, the wheel, heartbeat bookkeeping, promises, garbage); the floor itself is Node's and the kernel's cost of those datagrams at that rate and in that pattern: a keepalive that wakes the process alone costs several times one sent and answered among others.`,
    `"share in seconds with no keepalive" is the median CPU share of the one-second slices of the windows in which no manager sent anything: what monitoring costs with the ticker alone.`,
    `Heap per manager = what one more manager costs: the managers are made, enrolled and monitored in two steps (a tenth, then the rest), and the heap the rest added (after a full GC each time) is divided by their number: the EnrollmentManager, its MemoryRib with the synced objects, its wheel entries and listeners, the benchmark's own listener and name. "Heap once" is what the first tenth took beyond their number times that: the process's once (code compiled on first use, the shared wheel's tables). A UdpShim's JS heap is listed apart; its socket's kernel and native memory is in none of these figures.`,
  ]);
}
