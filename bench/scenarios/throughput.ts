/**
 * 2. Enroller throughput: N members (each on its own UDP socket, in this
 * process) start enrolling at the same instant with one enroller (in its own
 * process, so on its own core). Next to raw node:dgram echo throughput
 * measured in the same run between the same two kinds of process.
 */
import { BenchChild } from '../lib/child.js';
import type { Ctx } from '../lib/context.js';
import { cpuMs, machineInfo, sleep, udpCounters, udpDelta } from '../lib/env.js';
import { type EchoThroughput, echoThroughput } from '../lib/floors.js';
import { DEFAULT_RECV_BUFFER_BYTES } from '../lib/lib.js';
import { closeAll, enrolAll, makeManagers, makeShims } from '../lib/members.js';
import { type ReplayResult, replayEnroller } from '../lib/replay.js';
import type { Table, Verdict } from '../lib/report.js';
import { fmt, int, median, medianOf, summarize } from '../lib/stats.js';

/** Members replayed to an enroller in this process: fewer, and more, than its flood guard's default maxTrackedPeers (10,000). */
const REPLAY_MEMBERS = [8000, 12_000] as const;
const REPLAY_KEEPALIVE_ROUNDS = 5;

/** Datagrams the enroller receives per enrollment (M_CONNECT, M_START, M_CREATE_R, M_STOP_R) and sends (as many). */
export const DATAGRAMS_IN_PER_ENROLLMENT = 4;

interface Variant {
  label: string;
  options: Record<string, unknown>;
}

interface RunResult extends Record<string, number> {
  requested: number;
  members: number;
  ok: number;
  failed: number;
  wallMs: number;
  perSec: number;
  enrollerCpuMs: number;
  perCpuSec: number;
  enrollerCore: number;
  memberCore: number;
  rxPerEnrollment: number;
  cpuUsPerRx: number;
  p50: number;
  p99: number;
  rcvbufErrors: number;
  busy: number;
  rateLimited: number;
  maxPending: number;
  /** The enroller socket's receive buffer as the kernel granted it. */
  recvBufferBytes: number;
}

/** Enrols and releases a few hundred members so that the enroller's code is optimised before it is measured. */
async function warmUp(enroller: BenchChild, n: number): Promise<void> {
  const shims = await makeShims(n);
  for (let round = 0; round < 2; round++) {
    const managers = makeManagers(shims, {}, `warm${round}`);
    await enrolAll(managers, enroller.address);
    await Promise.all(managers.map((m) => m.close()));
  }
  await Promise.all(shims.map((s) => s.close()));
}

async function oneRun(ctx: Ctx, n: number, variant: Variant): Promise<RunResult> {
  const enroller = await BenchChild.enroller({ options: variant.options });
  await warmUp(enroller, ctx.quick ? 250 : 400);
  const shims = await makeShims(n);
  const managers = makeManagers(shims, {}, 'tp');
  try {
    await sleep(100);
    await enroller.mark(managers.length);
    const udp0 = udpCounters();
    const cpu0 = cpuMs();
    const t0 = performance.now();
    const done: number[] = [];
    let failed = 0;
    await Promise.all(
      managers.map((m) =>
        m.enrolWithBootstrap(enroller.address).then(
          () => void done.push(performance.now() - t0),
          () => void failed++,
        ),
      ),
    );
    const wallMs = performance.now() - t0;
    const memberCpu = cpuMs() - cpu0;
    // The enroller finishes a member on its M_STOP_R, just after the member resolves.
    let s = await enroller.stats();
    for (let i = 0; i < 40 && s.enrolled < done.length; i++) {
      await sleep(25);
      s = await enroller.stats();
    }
    const udp = udpDelta(udp0, udpCounters());
    const ok = done.length;
    const enrollerCpuMs = s.targetCpuMs ?? s.cpuMs;
    const enrollerWallMs = s.targetWallMs ?? s.wallMs;
    const lat = summarize(done);
    return {
      requested: n,
      members: managers.length,
      ok,
      failed,
      wallMs,
      perSec: ok / (wallMs / 1000),
      enrollerCpuMs,
      perCpuSec: ok / (enrollerCpuMs / 1000),
      enrollerCore: enrollerCpuMs / enrollerWallMs,
      memberCore: memberCpu / wallMs,
      rxPerEnrollment: s.received / Math.max(1, ok),
      cpuUsPerRx: (enrollerCpuMs * 1000) / Math.max(1, s.received),
      p50: lat.p50,
      p99: lat.p99,
      rcvbufErrors: udp?.RcvbufErrors ?? Number.NaN,
      busy: s.enroller?.busy ?? Number.NaN,
      rateLimited: s.enroller?.rateLimited ?? Number.NaN,
      maxPending: s.maxPending,
      recvBufferBytes: s.recvBufferBytes ?? Number.NaN,
    };
  } finally {
    await closeAll(managers, shims);
    await enroller.stop();
  }
}

export async function throughput(ctx: Ctx): Promise<void> {
  // Floor: raw echo, same processes, same machine, same run.
  const echo = await BenchChild.echo();
  const floors: EchoThroughput[] = [];
  try {
    for (let r = 0; r < ctx.runs; r++) {
      ctx.log(`throughput: echo floor ${r + 1}/${ctx.runs}`);
      floors.push(await echoThroughput(echo, ctx.quick ? 500 : 1500));
    }
  } finally {
    await echo.stop();
  }
  const floor = medianOf(floors as unknown as Array<Record<string, number>>) as unknown as EchoThroughput;

  const sizes = ctx.quick ? [1000] : [1000, 10_000];
  const cases: Array<{ n: number; variant: Variant }> = [];
  for (const n of sizes) {
    cases.push({ n, variant: { label: 'library defaults', options: {} } });
    // The enroller's default bound on enrollments in progress (8192) answers
    // the rest "busy"; this row shows the enroller with room for all of them.
    if (n > 1000) {
      cases.push({ n, variant: { label: `maxPendingEnrollments ${n}`, options: { maxPendingEnrollments: n } } });
    }
  }
  const results: Array<{ n: number; variant: Variant; m: RunResult; runs: RunResult[] }> = [];
  for (const c of cases) {
    const runs: RunResult[] = [];
    for (let r = 0; r < ctx.runs; r++) {
      ctx.log(`throughput: ${c.n} members, ${c.variant.label}, run ${r + 1}/${ctx.runs}`);
      runs.push(await oneRun(ctx, c.n, c.variant));
    }
    results.push({ ...c, m: medianOf(runs), runs });
  }

  // The enroller's own CPU with no sockets: below and above its flood guard's maxTrackedPeers (10,000).
  const replays: Array<{ n: number; m: ReplayResult }> = [];
  for (const n of REPLAY_MEMBERS) {
    const runs: ReplayResult[] = [];
    for (let r = 0; r < ctx.runs; r++) {
      ctx.log(`throughput: ${n} members replayed in this process, run ${r + 1}/${ctx.runs}`);
      runs.push(await replayEnroller(n, REPLAY_KEEPALIVE_ROUNDS));
    }
    replays.push({ n, m: medianOf(runs as unknown as Array<Record<string, number>>) as unknown as ReplayResult });
  }

  const floorMsgs = floor.echoesPerSec;
  const tables: Table[] = [
    {
      title: `Floor: raw node:dgram echo, ${int(32)} client sockets × 4 in flight (median of ${ctx.runs} runs)`,
      columns: ['echo round trips /s', 'server CPU µs / datagram in', 'server core share', 'windows lost'],
      rows: [[int(floor.echoesPerSec), fmt(floor.serverCpuUsPerMsg, 2), `${fmt(floor.serverCore * 100, 0)}%`, int(floor.losses)]],
    },
    {
      title: `Concurrent enrollment over UDP (median of ${ctx.runs} runs; member config: defaults)`,
      columns: [
        'members',
        'enroller config',
        'enrolled',
        'failed',
        'wall s',
        'enrol/s (wall)',
        'enrol per enroller CPU-s',
        'enroller core',
        'load-gen core',
        'datagrams in / enrol',
        'p50 ms',
        'p99 ms',
        'rcvbuf drops',
        'busy answers',
        'max in progress',
      ],
      rows: results.map(({ m, variant }) => [
        int(m.members),
        variant.label,
        int(m.ok),
        int(m.failed),
        fmt(m.wallMs / 1000, 2),
        int(m.perSec),
        int(m.perCpuSec),
        `${fmt(m.enrollerCore * 100, 0)}%`,
        `${fmt(m.memberCore * 100, 0)}%`,
        fmt(m.rxPerEnrollment, 2),
        fmt(m.p50, 0),
        fmt(m.p99, 0),
        int(m.rcvbufErrors),
        int(m.busy),
        int(m.maxPending),
      ]),
    },
    {
      title: 'Per message, next to the echo floor',
      columns: ['members', 'enroller config', 'datagrams in /s (wall)', 'vs echo /s', 'enroller CPU µs / datagram in', 'vs echo server'],
      rows: results.map(({ m, variant }) => [
        int(m.members),
        variant.label,
        int(m.perSec * DATAGRAMS_IN_PER_ENROLLMENT),
        `${fmt((m.perSec * DATAGRAMS_IN_PER_ENROLLMENT) / floorMsgs, 2)}x`,
        fmt(m.cpuUsPerRx, 1),
        `${fmt(m.cpuUsPerRx / floor.serverCpuUsPerMsg, 1)}x`,
      ]),
    },
    {
      title: `The enroller's own CPU in this process, no sockets: one recorded member's datagrams replayed to it under ${int(REPLAY_MEMBERS[0] ?? 0)} and ${int(REPLAY_MEMBERS[1] ?? 0)} names (median of ${ctx.runs} runs; µs)`,
      columns: [
        'members',
        'CPU µs / enrollment',
        'of it, the replay copying datagrams',
        'CPU µs / keepalive answered',
        'addresses the flood guard holds',
      ],
      rows: replays.map(({ m }) => [
        int(m.members),
        fmt(m.usPerEnrollment, 1),
        fmt(m.usCopyingPerEnrollment, 1),
        fmt(m.usPerKeepalive, 2),
        int(m.trackedPeers),
      ]),
    },
  ];

  const verdicts: Verdict[] = [];
  const big = results.filter((r) => r.n === Math.max(...sizes));
  const def = big.find((r) => r.variant.label === 'library defaults');
  for (const r of big) {
    const { m } = r;
    const wallOk = m.perSec >= 10_000;
    const cpuOk = m.perCpuSec >= 10_000;
    const why: string[] = [];
    if (m.members < m.requested) why.push(`only ${int(m.members)} of ${int(m.requested)} sockets fit under the open-files limit`);
    if (!wallOk) {
      why.push(`wall-clock rate ${int(m.perSec)}/s is ${fmt((1 - m.perSec / 10_000) * 100, 0)}% short of 10,000/s`);
      if (m.busy > 0)
        why.push(
          `${int(m.busy)} CONNECTs were answered "busy" (over maxPendingEnrollments), each with the member's slot to come back at (spaced by the time between the enroller's completions): ${fmt(m.busy / m.members, 2)} refusals per member`,
        );
      if (m.rcvbufErrors > 0)
        why.push(
          `${int(m.rcvbufErrors)} datagrams were dropped by full socket receive buffers (the enroller's socket holds ${fmt(m.recvBufferBytes / 1048576, 1)} MiB, UdpShim's default as the kernel granted it, still short of ${int(m.requested)} requests at once), and each loss costs a member a retransmission timeout (retransmitMs 250, doubling)`,
        );
      if (m.failed > 0)
        why.push(
          `${int(m.failed)} members gave up with EnrollmentTimeoutError after every attempt (maxRetries, 3 by default) met a drop or a busy answer`,
        );
      if (m.enrollerCore < 0.8)
        why.push(
          `the enroller was busy only ${fmt(m.enrollerCore * 100, 0)}% of the time: it was waiting on members' timers, not short of CPU`,
        );
    }
    if (!cpuOk)
      why.push(
        `the enroller spends ${fmt(m.cpuUsPerRx, 1)} µs of CPU per datagram received against ${fmt(floor.serverCpuUsPerMsg, 1)} µs for a bare echo (${fmt(m.cpuUsPerRx / floor.serverCpuUsPerMsg, 1)}x): see "Where the time goes" in bench/README.md`,
      );
    verdicts.push({
      target: `>= 10,000 enrollments/s over UDP on one core (${int(m.requested)} members, ${r.variant.label}; wall clock)`,
      measured: `${int(m.perSec)}/s wall; ${int(m.perCpuSec)} per enroller CPU-second`,
      pass: m.members < m.requested ? undefined : wallOk,
      ...(why.length > 0 ? { note: `${why.join('; ')}.` } : {}),
    });
  }
  const notes = [
    `Each run starts a fresh enroller process, warms it up with ${ctx.quick ? 2 * 250 : 2 * 400} enrollments (so its code is optimised), then starts all N members at once.`,
    `"enrol per enroller CPU-second" is N divided by the enroller process's own CPU time (user + system) from the first M_CONNECT to the N-th M_STOP_R: the rate one fully busy core would sustain. "load-gen core" is the member process, which runs on the machine's other core (2 cores in all).`,
    `Each enrollment is ${DATAGRAMS_IN_PER_ENROLLMENT} datagrams into the enroller and ${DATAGRAMS_IN_PER_ENROLLMENT} out (one RIB object synced); "vs echo /s" compares datagrams into the enroller per second with echo round trips per second (one datagram into the echo server each).`,
  ];
  notes.push(
    `The replay (bench/lib/replay.ts) records one real enrollment on a MemoryNetwork, then hands its member datagrams to a fresh Enroller in this process under new names of the same length, 500 members at a time (2,000 first, unmeasured, so the code is optimised), each datagram when the enroller's answers before it have come, and then ${REPLAY_KEEPALIVE_ROUNDS} keepalives from every member in turn: the enroller's code (decode, admission, assignment, memory store, encode, timers, garbage) without the kernel's or the member's. ${int(REPLAY_MEMBERS[1] ?? 0)} members are more than the flood guard's maxTrackedPeers (10,000): each keepalive then comes from an address it forgot.`,
  );
  const bufferBytes = results[0]?.m.recvBufferBytes ?? Number.NaN;
  notes.push(
    `Every enroller binds its UdpShim with the library's defaults: a receive buffer of ${fmt(DEFAULT_RECV_BUFFER_BYTES / 1048576, 0)} MiB asked for (DEFAULT_RECV_BUFFER_BYTES; granted here: ${fmt(bufferBytes / 1048576, 1)} MiB, the kernel doubling what it allows up to net.core.rmem_max ${machineInfo().rmemMax === undefined ? '(unknown)' : `${int(machineInfo().rmemMax ?? 0)} B`}).`,
  );
  if (def !== undefined) {
    const spread = summarize(def.runs.map((r) => r.perSec));
    notes.push(
      `Runs of ${int(def.n)} members with library defaults, enrol/s: ${def.runs.map((r) => int(r.perSec)).join(', ')} (median ${int(median(def.runs.map((r) => r.perSec)))}, spread ${int(spread.max - spread.min)}).`,
    );
  }
  ctx.report.section('2. Enroller throughput', tables, verdicts, notes);
}
