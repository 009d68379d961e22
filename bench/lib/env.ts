/** What the machine is, and a few kernel counters the scenarios read as evidence. */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export interface MachineInfo {
  date: string;
  node: string;
  cpu: string;
  cores: number;
  platform: string;
  /** Soft limit of open files of this process. */
  fdLimit: number;
  /** Default and largest UDP receive buffer the kernel gives a socket (bytes), when readable. */
  rmemDefault: number | undefined;
  rmemMax: number | undefined;
  loadavg: string;
  /** What build of the library is measured. */
  library?: string;
}

function readNumber(path: string): number | undefined {
  try {
    const n = Number(readFileSync(path, 'utf8').trim().split(/\s+/)[0]);
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** The soft RLIMIT_NOFILE of this process (from /proc), or Infinity when unknown. */
export function fdLimit(): number {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    const n = Number(soft);
    return Number.isFinite(n) ? n : Number.POSITIVE_INFINITY;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

/** File descriptors open now in this process (Linux), or 0 when unknown. */
export function openFds(): number {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return 0;
  }
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    platform: `${os.platform()} ${os.release()}`,
    fdLimit: fdLimit(),
    rmemDefault: readNumber('/proc/sys/net/core/rmem_default'),
    rmemMax: readNumber('/proc/sys/net/core/rmem_max'),
    loadavg: os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' '),
  };
}

/** The kernel's UDP counters (Linux /proc/net/snmp), machine-wide. */
export interface UdpCounters {
  InDatagrams: number;
  OutDatagrams: number;
  /** Datagrams dropped because a socket's receive buffer was full. */
  RcvbufErrors: number;
  SndbufErrors: number;
  NoPorts: number;
}

export function udpCounters(): UdpCounters | undefined {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('Udp:'));
    const names = lines[0]?.split(/\s+/).slice(1) ?? [];
    const values = lines[1]?.split(/\s+/).slice(1).map(Number) ?? [];
    const get = (k: string): number => values[names.indexOf(k)] ?? 0;
    return {
      InDatagrams: get('InDatagrams'),
      OutDatagrams: get('OutDatagrams'),
      RcvbufErrors: get('RcvbufErrors'),
      SndbufErrors: get('SndbufErrors'),
      NoPorts: get('NoPorts'),
    };
  } catch {
    return undefined;
  }
}

/** Difference of two counter snapshots (undefined when either is). */
export function udpDelta(a: UdpCounters | undefined, b: UdpCounters | undefined): UdpCounters | undefined {
  if (a === undefined || b === undefined) return undefined;
  return {
    InDatagrams: b.InDatagrams - a.InDatagrams,
    OutDatagrams: b.OutDatagrams - a.OutDatagrams,
    RcvbufErrors: b.RcvbufErrors - a.RcvbufErrors,
    SndbufErrors: b.SndbufErrors - a.SndbufErrors,
    NoPorts: b.NoPorts - a.NoPorts,
  };
}

let gcFn: (() => void) | undefined;

/** A full garbage collection (v8's gc(), exposed at run time), run twice so finalizers settle. */
export async function fullGc(): Promise<void> {
  if (gcFn === undefined) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  gcFn();
  await new Promise((r) => setImmediate(r));
  gcFn();
}

/** Machine-wide and own CPU time, in clock ticks (Linux /proc), to tell how much else ran meanwhile. */
export interface TickSnapshot {
  total: number;
  busy: number;
  /** This process and its waited-for children (user + system). */
  own: number;
}

export function ticks(): TickSnapshot | undefined {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]?.split(/\s+/).slice(1).map(Number) ?? [];
    const total = cpu.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
    // Fields after the parenthesised command name: utime is the 12th, stime, cutime, cstime follow.
    const self = readFileSync('/proc/self/stat', 'utf8');
    const f = self
      .slice(self.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    const own = (f[11] ?? 0) + (f[12] ?? 0) + (f[13] ?? 0) + (f[14] ?? 0);
    return { total, busy: total - idle, own };
  } catch {
    return undefined;
  }
}

/** Share of the whole machine (all cores) used by other processes between two snapshots. */
export function otherLoad(a: TickSnapshot | undefined, b: TickSnapshot | undefined): number | undefined {
  if (a === undefined || b === undefined || b.total === a.total) return undefined;
  return Math.max(0, (b.busy - a.busy - (b.own - a.own)) / (b.total - a.total));
}

/** CPU time (user + system) of this process in ms. */
export function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** True when `taskset` can set CPU affinity here. */
export function canPin(): boolean {
  return spawnSync('taskset', ['-p', String(process.pid)], { encoding: 'utf8' }).status === 0;
}

/** Pins the main thread of `pid` to `cpu` (taskset -p: that thread only, not its helper threads). */
export function pin(pid: number, cpu: number): boolean {
  return spawnSync('taskset', ['-p', '-c', String(cpu), String(pid)], { encoding: 'utf8' }).status === 0;
}

/** Lets the main thread of `pid` run on every CPU again. */
export function unpin(pid: number): boolean {
  return spawnSync('taskset', ['-p', '-c', `0-${os.cpus().length - 1}`, String(pid)], { encoding: 'utf8' }).status === 0;
}
