/**
 * The scale scenario's world: member hosts (bench/scale/host.ts) started as
 * processes with the open-files limit raised, their progress summed, etcd's
 * own counters (its /metrics endpoint) and etcd's table read in pages.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Etcd3 } from 'etcd3';
import { tableProblems } from '../../chaos/checker.js';
import { prefixEnd } from '../../src/etcd/keys.js';
import type { EnrollmentConfigInput } from '../../src/index.js';
import { type Body, IpcProcess } from '../lib/ipc.js';
import type { HostProgress, HostReply, HostRequest } from './protocol.js';

const HOST = fileURLToPath(new URL('./host.ts', import.meta.url));

/** Sockets a host binds at most: the hard open-files limit less what node and its IPC hold. */
export const HOST_RESERVE_FDS = 128;

/** The kernel's ephemeral port range (net.ipv4.ip_local_port_range): the UDP sockets one address can bind with port 0. */
export function ephemeralPorts(): number {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    return (hi ?? 0) - (lo ?? 0) + 1;
  } catch {
    return 16_384; // the IANA range 49152-65535
  }
}

export class Hosts {
  readonly #hosts: Array<IpcProcess<HostRequest, HostReply>>;
  /** The loopback address each host binds its members on. */
  readonly ips: string[];

  private constructor(hosts: Array<IpcProcess<HostRequest, HostReply>>, ips: string[]) {
    this.#hosts = hosts;
    this.ips = ips;
  }

  /**
   * Starts `n` hosts. When `members` would not fit in the ephemeral ports of
   * one address (with room to spare for everything else on 127.0.0.1), each
   * host binds on an address of its own, 127.0.0.2, 127.0.0.3, ... (Linux
   * routes all of 127.0.0.0/8 to the loopback interface).
   */
  static async start(n: number, members: number): Promise<Hosts> {
    const ips = Array.from({ length: n }, (_, k) => (members <= ephemeralPorts() / 2 ? '127.0.0.1' : `127.0.0.${k + 2}`));
    const settled = await Promise.allSettled(
      Array.from({ length: n }, () => IpcProcess.start<HostRequest, HostReply>(HOST, { raiseFdLimit: true })),
    );
    const hosts = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed !== undefined) {
      await Promise.all(hosts.map((h) => h.kill()));
      throw failed.reason;
    }
    return new Hosts(hosts, ips);
  }

  get count(): number {
    return this.#hosts.length;
  }

  #all(req: Body<HostRequest>): Promise<HostReply[]> {
    return Promise.all(this.#hosts.map((h) => h.request(req)));
  }

  /**
   * Makes `count` members named `${prefix}0..`, split evenly over the hosts
   * (host by host, so that no two are made at once on one core's share);
   * returns how many sockets were bound.
   */
  async make(prefix: string, count: number, bootstraps: string[], config: EnrollmentConfigInput): Promise<number> {
    const each = Math.ceil(count / this.#hosts.length);
    let bound = 0;
    for (const [i, host] of this.#hosts.entries()) {
      const from = i * each;
      const n = Math.max(0, Math.min(each, count - from));
      const ip = this.ips[i] as string;
      bound += (await host.request({ type: 'make', ip, prefix, from, count: n, bootstraps, config })).bound ?? 0;
    }
    return bound;
  }

  async go(spreadMs: number): Promise<void> {
    await this.#all({ type: 'go', spreadMs });
  }

  async watch(bootstraps: string[]): Promise<void> {
    await this.#all({ type: 'watch', bootstraps });
  }

  /** Every host's progress, summed (maxima for times). */
  async progress(): Promise<HostProgress> {
    const all = (await this.#all({ type: 'progress' })).map((r) => r.progress as HostProgress);
    const sum = (f: (p: HostProgress) => number): number => all.reduce((a, p) => a + f(p), 0);
    const max = (f: (p: HostProgress) => number | undefined): number | undefined =>
      all.reduce<number | undefined>((a, p) => {
        const v = f(p);
        return v === undefined ? a : Math.max(a ?? v, v);
      }, undefined);
    const merge = (f: (p: HostProgress) => Record<string, number>): Record<string, number> => {
      const out: Record<string, number> = {};
      for (const p of all) for (const [k, v] of Object.entries(f(p))) out[k] = (out[k] ?? 0) + v;
      return out;
    };
    return {
      members: sum((p) => p.members),
      enrolled: sum((p) => p.enrolled),
      enrollments: sum((p) => p.enrollments),
      joined: sum((p) => p.joined),
      lastJoinedAt: max((p) => p.lastJoinedAt),
      failures: merge((p) => p.failures),
      losses: merge((p) => p.losses),
      byBootstrap: merge((p) => p.byBootstrap),
      watch: {
        total: sum((p) => p.watch.total),
        home: sum((p) => p.watch.home),
        moved: sum((p) => p.watch.moved),
        lastBackAt: max((p) => p.watch.lastBackAt),
      },
      cpuMs: sum((p) => p.cpuMs),
      rss: sum((p) => p.rss),
    };
  }

  /** Every member: [name, address, bootstrap], address and bootstrap null while not enrolled. */
  async view(): Promise<Array<[string, number | null, string | null]>> {
    return (await this.#all({ type: 'view' })).flatMap((r) => r.view ?? []);
  }

  async close(): Promise<void> {
    await Promise.all(
      this.#hosts.map(async (h) => {
        await h.request({ type: 'close' }).catch(() => undefined);
        await h.exit(5000);
      }),
    );
  }
}

/** The counters of one etcd member that the scenario reads from its /metrics. */
export interface EtcdMetrics {
  puts: number;
  txns: number;
  deletes: number;
  ranges: number;
  walBytes: number;
  dbBytes: number;
  cpuSecs: number;
  rss: number;
  /** Leader changes this member has seen since it started (a killed leader's successor counts one). */
  leaderChanges: number;
}

const METRICS: Record<keyof EtcdMetrics, string> = {
  puts: 'etcd_mvcc_put_total',
  txns: 'etcd_mvcc_txn_total',
  deletes: 'etcd_mvcc_delete_total',
  ranges: 'etcd_mvcc_range_total',
  walBytes: 'etcd_disk_wal_write_bytes_total',
  dbBytes: 'etcd_mvcc_db_total_size_in_bytes',
  cpuSecs: 'process_cpu_seconds_total',
  rss: 'process_resident_memory_bytes',
  leaderChanges: 'etcd_server_leader_changes_seen_total',
};

/** One etcd member's counters, or undefined if it does not answer (killed). */
export async function etcdMetrics(endpoint: string): Promise<EtcdMetrics | undefined> {
  let text: string;
  try {
    text = await (await fetch(`${endpoint}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
  } catch {
    return undefined;
  }
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [name, value] = line.split(' ');
    if (name !== undefined && value !== undefined && !name.startsWith('#')) values.set(name, Number(value));
  }
  const out = {} as EtcdMetrics;
  for (const [key, metric] of Object.entries(METRICS) as Array<[keyof EtcdMetrics, string]>) out[key] = values.get(metric) ?? Number.NaN;
  return out;
}

/**
 * Every key under `prefix` and its value, read in pages (a whole
 * 100,000-member table exceeds gRPC's 4 MiB message), all at one revision:
 * `revision` if given, else the first page's, which it returns. Pages read
 * at different revisions while enrollers write would not be one table.
 */
export async function readPrefix(
  client: Etcd3,
  prefix: string,
  revision?: string,
  page = 10_000,
): Promise<{ kvs: Map<string, string>; revision: string }> {
  const kvs = new Map<string, string>();
  const end = prefixEnd(prefix);
  let from = Buffer.from(prefix);
  let at = revision;
  for (;;) {
    const res = await client.kv.range({ key: from, range_end: end, limit: page, ...(at === undefined ? {} : { revision: at }) });
    at ??= res.header.revision;
    for (const kv of res.kvs) kvs.set(kv.key.toString(), kv.value.toString());
    const last = res.kvs.at(-1);
    if (!res.more || last === undefined) return { kvs, revision: at };
    from = Buffer.concat([last.key, Buffer.from([0])]);
  }
}

/** What is wrong with the world now: addresses held twice, etcd's table not a bijection, members' views not etcd's. */
export async function checkWorld(
  client: Etcd3,
  prefix: string,
  view: ReadonlyArray<[string, number | null, string | null]>,
): Promise<{
  problems: string[];
  tableProblems: number;
  enrolled: number;
  notEnrolled: number;
  bindings: number;
  wrongViews: string[];
  /** The revision etcd's table was read at. */
  revision: string;
}> {
  const names: Record<string, number> = {};
  const read = await readPrefix(client, `${prefix}names/`);
  for (const [key, value] of read.kvs) names[decodeURIComponent(key.slice(`${prefix}names/`.length))] = Number(value);
  const addresses: Record<string, string> = {};
  for (const [key, value] of (await readPrefix(client, `${prefix}addresses/`, read.revision)).kvs) {
    addresses[key.slice(`${prefix}addresses/`.length)] = value;
  }
  const holders: Array<{ member: string; address: number; where: string }> = [];
  const holderOf = new Map<number, string>();
  const problems: string[] = [];
  for (const [member, address, bootstrap] of view) {
    if (address === null) continue;
    const other = holderOf.get(address);
    if (other !== undefined) problems.push(`${member} and ${other} both hold address ${address}`);
    holderOf.set(address, member);
    holders.push({ member, address, where: bootstrap ?? '?' });
  }
  // etcd's own table (read at one revision) first; then the members' views, which lag it while the world moves.
  const table = tableProblems(names, addresses, []);
  problems.unshift(...table);
  problems.push(...tableProblems(names, addresses, holders).slice(table.length));
  return {
    wrongViews: holders.filter((h) => names[h.member] !== h.address).map((h) => h.member),
    problems,
    tableProblems: table.length,
    enrolled: holders.length,
    notEnrolled: view.length - holders.length,
    bindings: Object.keys(names).length,
    revision: read.revision,
  };
}

/**
 * For members whose view is not etcd's: which enrollers list each now (and
 * at which address), and whose marks etcd held on its name at the check's
 * `revision` and holds now, so that a failed check says where to look. (The
 * enrollers' lists can only be read now: a member that enrolled again since
 * the check shows up in them.)
 */
export async function explainViews(
  client: Etcd3,
  prefix: string,
  enrollers: ReadonlyArray<{ members(): Promise<Array<{ name: string; address: number }>> }>,
  names: readonly string[],
  revision: string,
): Promise<string> {
  const lists = await Promise.all(enrollers.map((e) => e.members().catch(() => undefined)));
  const markers = async (name: string, at?: string) => {
    const marks = await readPrefix(client, `${prefix}members/${encodeURIComponent(name)}/`, at).catch(() => undefined);
    if (marks === undefined) return '?';
    return [...marks.kvs.keys()].map((k) => decodeURIComponent(k.slice(k.lastIndexOf('/') + 1))).join(', ') || 'none';
  };
  const lines: string[] = [];
  for (const name of names.slice(0, 20)) {
    const listed = lists.flatMap((list, i) => (list ?? []).filter((m) => m.name === name).map((m) => `e${i} at ${m.address}`));
    const then = await markers(name, revision);
    lines.push(
      `${name}: listed now by ${listed.join(', ') || 'no enroller'}; marks in etcd at the check: ${then}, now: ${await markers(name)}`,
    );
  }
  return lines.join('; ');
}
