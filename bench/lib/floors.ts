/**
 * The physical floors every figure is set against, measured in the same run:
 * a bare node:dgram ping-pong round trip, raw node:dgram echo throughput, and
 * the idle managers' datagrams sent at their times by a process with no library.
 */
import { execFile } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Bench } from 'tinybench';
import { MemoryNetwork } from './lib.js';
import type { BenchChild } from './child.js';
import { RAISE_FD_LIMIT } from './ipc.js';
import { sleep } from './env.js';

/** A CDAP-sized payload (an M_START_R with its EnrollmentInfo is about this big). */
const PAYLOAD = new Uint8Array(96).fill(7);

export interface LatencyStats {
  /** ms */
  p50: number;
  p99: number;
  mean: number;
  samples: number;
}

/** Latency statistics (ms) of a finished tinybench task. */
export function latencyOf(bench: Bench, name: string): LatencyStats {
  const task = bench.getTask(name);
  const r = task?.result;
  if (r === undefined || !('latency' in r)) {
    const err = r !== undefined && 'error' in r ? r.error : undefined;
    throw new Error(`benchmark task "${name}" did not complete: ${String(err ?? r?.state)}`);
  }
  return { p50: r.latency.p50, p99: r.latency.p99, mean: r.latency.mean, samples: r.latency.samplesCount };
}

async function bindClient(): Promise<Socket> {
  const socket = createSocket('udp4');
  socket.on('error', () => undefined);
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  return socket;
}

function split(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i), port: Number(address.slice(i + 1)) };
}

/**
 * Adds "dgram ping-pong" to `bench`: one datagram to an echo server in a
 * child process and back, one at a time. Returns a closer.
 */
export async function addDgramPingPong(bench: Bench, echoAddress: string, name = 'dgram ping-pong RTT'): Promise<() => void> {
  const pinger = await dgramPinger(echoAddress);
  bench.add(name, async () => {
    await pinger.ping();
  });
  return () => pinger.close();
}

/**
 * A bare node:dgram ping-pong to an echo server, for a scenario's own timing
 * loop: `ping()` sends one datagram and resolves with the round trip in ms.
 */
export async function dgramPinger(echoAddress: string): Promise<{ ping(): Promise<number>; close(): void }> {
  const socket = await bindClient();
  const { host, port } = split(echoAddress);
  let pending: (() => void) | undefined;
  socket.on('message', () => {
    const p = pending;
    pending = undefined;
    p?.();
  });
  return {
    ping: () =>
      new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending = undefined;
          reject(new Error('ping-pong datagram lost'));
        }, 2000);
        const t0 = performance.now();
        pending = () => {
          clearTimeout(timer);
          resolve(performance.now() - t0);
        };
        socket.send(PAYLOAD, port, host);
      }),
    close: () => socket.close(),
  };
}

/** Adds "memory ping-pong": the same exchange over MemoryNetwork's shims (the in-memory floor). */
export function addMemoryPingPong(bench: Bench, name = 'MemoryNetwork ping-pong RTT'): () => unknown {
  const net = new MemoryNetwork();
  const a = net.attach('ping');
  const b = net.attach('pong');
  b.onReceive((pdu, from) => void b.send(from, pdu));
  let pending: (() => void) | undefined;
  a.onReceive(() => {
    const p = pending;
    pending = undefined;
    p?.();
  });
  bench.add(
    name,
    () =>
      new Promise<void>((resolve) => {
        pending = resolve;
        void a.send('pong', PAYLOAD);
      }),
  );
  return () => net.close();
}

export interface EchoThroughput {
  /** Echo round trips completed per second (each: one datagram in and one out at the server). */
  echoesPerSec: number;
  /** Datagrams the server received per second. */
  serverRxPerSec: number;
  /** Server CPU per datagram received (and echoed), µs. */
  serverCpuUsPerMsg: number;
  /** Share of one core the server used. */
  serverCore: number;
  /** Windows restarted after a loss. */
  losses: number;
}

/**
 * Raw echo throughput: `sockets` client sockets, each keeping `window`
 * datagrams in flight to the echo server in the child, for `durationMs`.
 * A window silent for 50 ms is presumed lost and refilled.
 */
export async function echoThroughput(echo: BenchChild, durationMs: number, sockets = 32, window = 4): Promise<EchoThroughput> {
  const { host, port } = split(echo.address);
  const clients = await Promise.all(Array.from({ length: sockets }, () => bindClient()));
  let echoes = 0;
  let losses = 0;
  let running = true;
  const lastHeard = clients.map(() => performance.now());
  clients.forEach((socket, i) => {
    socket.on('message', () => {
      lastHeard[i] = performance.now();
      if (!running) return;
      echoes++;
      socket.send(PAYLOAD, port, host);
    });
  });
  const refill = (i: number): void => {
    for (let k = 0; k < window; k++) clients[i]?.send(PAYLOAD, port, host);
  };
  const watchdog = setInterval(() => {
    const t = performance.now();
    lastHeard.forEach((heard, i) => {
      if (running && t - heard > 50) {
        losses++;
        lastHeard[i] = t;
        refill(i);
      }
    });
  }, 20);
  // warm up, then measure
  for (let i = 0; i < clients.length; i++) refill(i);
  await sleep(Math.min(300, durationMs / 4));
  await echo.mark();
  const e0 = echoes;
  const t0 = performance.now();
  await sleep(durationMs);
  const s = await echo.stats();
  const e1 = echoes;
  const t1 = performance.now();
  running = false;
  clearInterval(watchdog);
  await sleep(50);
  for (const c of clients) c.close();
  const seconds = (t1 - t0) / 1000;
  return {
    echoesPerSec: (e1 - e0) / seconds,
    serverRxPerSec: s.received / (s.wallMs / 1000),
    serverCpuUsPerMsg: (s.cpuMs * 1000) / Math.max(1, s.received),
    serverCore: s.cpuMs / s.wallMs,
    losses,
  };
}

/** What the idle scenario's floor process spent (bench/idle-floor.mjs). */
export interface IdleFloor {
  /** Its CPU time (user + system) over the window, ms. */
  cpuMs: number;
  wallMs: number;
  /** Datagrams sent and answers received in the window. */
  sent: number;
  received: number;
}

const IDLE_FLOOR_SCRIPT = fileURLToPath(new URL('../idle-floor.mjs', import.meta.url));

/**
 * The idle scenario's floor: a fresh plain-node process (bench/idle-floor.mjs)
 * with one socket per manager that sends `bytes`-long datagrams to the echo
 * server at `echoAddress`, every `intervalMs`, each at its manager's phase
 * (`phases`: epoch ms of a send, any cycle), and measures its own CPU over
 * `windowMs` after `settleMs`. Rejects if the process fails or prints nothing.
 */
export async function idleFloor(opts: {
  echoAddress: string;
  phases: readonly number[];
  intervalMs: number;
  settleMs: number;
  windowMs: number;
  bytes: number;
}): Promise<IdleFloor> {
  const dir = await mkdtemp(join(tmpdir(), 'rina-idle-floor-'));
  try {
    const phasesFile = join(dir, 'phases.json');
    await writeFile(phasesFile, JSON.stringify(opts.phases));
    const env = {
      ...process.env,
      RINA_IDLE_ECHO: opts.echoAddress,
      RINA_IDLE_PHASES: phasesFile,
      RINA_IDLE_INTERVAL_MS: String(opts.intervalMs),
      RINA_IDLE_SETTLE_MS: String(opts.settleMs),
      RINA_IDLE_WINDOW_MS: String(opts.windowMs),
      RINA_IDLE_BYTES: String(opts.bytes),
    };
    // As many sockets as managers: the shell raises the open-files limit to the hard one first.
    const out = await new Promise<string>((resolve, reject) => {
      execFile(
        '/bin/sh',
        ['-c', RAISE_FD_LIMIT, process.execPath, IDLE_FLOOR_SCRIPT],
        { env, timeout: opts.settleMs + opts.windowMs + 120_000, maxBuffer: 1 << 20 },
        (err, stdout, stderr) => (err ? reject(new Error(`idle floor: ${err.message}\n${stderr}`)) : resolve(stdout)),
      );
    });
    const line = out.trim().split('\n').at(-1);
    if (line === undefined || line === '') throw new Error('idle floor: no result printed');
    return JSON.parse(line) as IdleFloor;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
