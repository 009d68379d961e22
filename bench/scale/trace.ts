/**
 * A timeline of a scale run, for finding out why an enroller's lease lapsed:
 * with `RINA_BENCH_TRACE=<dir>` set, each enroller process writes to
 * `<dir>/<name>.jsonl` every half second its event loop's worst delay (a
 * 100 ms timer's lateness), its CPU and its store's lease and window
 * counters, and the scenario writes to
 * `<dir>/etcd.jsonl` what each etcd member says of itself (Status: its raft
 * indices, committed and applied, and its leader) and how long a lease
 * keepalive sent to it takes (etcd renews a lease only once its leader has
 * applied what it committed, and gives up after a second). Lines are
 * appended as they are made, so a run stopped by hand keeps them.
 *
 * Off unless the variable is set; nothing of it is in the report.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Session } from 'node:inspector';
import type { Etcd3, Lease } from 'etcd3';

const EVERY_MS = 500;
const TICK_MS = 100;

/** The trace directory, when tracing is asked for. */
export function traceDir(): string | undefined {
  const dir = process.env.RINA_BENCH_TRACE;
  if (dir === undefined || dir === '') return undefined;
  mkdirSync(dir, { recursive: true });
  return dir;
}

function writer(file: string): (record: Record<string, unknown>) => void {
  return (record) => appendFileSync(file, `${JSON.stringify({ t: Date.now(), ...record })}\n`);
}

/** The store counters worth a line (the rest are in the phase tables). */
const COUNTERS = [
  'transactions',
  'watchEvents',
  'leaseDoubts',
  'leaseLapses',
  'leaseRenewals',
  'leaseKeepalivesEarly',
  'txnWindowCuts',
  'txnsWaited',
  'txnsTimedOutWaiting',
  'etcdMembersSkipped',
  'applyBacklogMax',
] as const;

/**
 * With `RINA_BENCH_PROFILE=<name>` (and a trace directory) the enroller of that name also writes a CPU profile of
 * `RINA_BENCH_PROFILE_SECS` seconds (60 by default) from `RINA_BENCH_PROFILE_AFTER` seconds after it started (0) to
 * `<dir>/<name>.cpuprofile`.
 */
function profile(dir: string, name: string): void {
  if (process.env.RINA_BENCH_PROFILE !== name) return;
  const after = setTimeout(() => startProfile(dir, name), Number(process.env.RINA_BENCH_PROFILE_AFTER ?? 0) * 1000);
  after.unref();
}

function startProfile(dir: string, name: string): void {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable', () =>
    session.post('Profiler.start', () => {
      const timer = setTimeout(
        () =>
          session.post('Profiler.stop', (err, res) => {
            if (err === null) appendFileSync(join(dir, `${name}.cpuprofile`), JSON.stringify(res.profile));
            session.disconnect();
          }),
        Number(process.env.RINA_BENCH_PROFILE_SECS ?? 60) * 1000,
      );
      timer.unref();
    }),
  );
}

/** In an enroller process: a line every half second; stops with `stop()` (the timer is unref'd). */
export function traceEnroller(name: string, counters: () => Record<string, number> | undefined, extra: () => Record<string, number>) {
  const dir = traceDir();
  if (dir === undefined) return { stop: () => undefined };
  const write = writer(join(dir, `${name}.jsonl`));
  profile(dir, name);
  // The loop's delay from a 100 ms timer's lateness: monitorEventLoopDelay's timer wakes the process every 10 ms, and
  // the two traced 100,000-member joins with it were the slower ones (5,000-6,000 enrol() timeouts against 11).
  let loopMaxMs = 0;
  let tickAt = performance.now();
  const tick = setInterval(() => {
    const now = performance.now();
    loopMaxMs = Math.max(loopMaxMs, now - tickAt - TICK_MS);
    tickAt = now;
  }, TICK_MS);
  tick.unref();
  let cpu = process.cpuUsage();
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    const used = process.cpuUsage(cpu);
    cpu = process.cpuUsage();
    const c = counters() ?? {};
    write({
      loopMaxMs: Math.round(loopMaxMs),
      cpuPct: Math.round(((used.user + used.system) / 1000 / (now - last)) * 100),
      ...Object.fromEntries(COUNTERS.map((k) => [k, c[k] ?? 0])),
      ...extra(),
    });
    last = now;
    loopMaxMs = 0;
  }, EVERY_MS);
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      clearInterval(tick);
    },
  };
}

/**
 * In the scenario: each etcd member's Status and the time a keepalive of a
 * lease of the probe's own takes through it, every half second, one of each
 * in flight per member at a time (a probe still waiting is written as such).
 */
export async function traceEtcd(endpoints: readonly string[], makeClient: (hosts: string[]) => Etcd3) {
  const dir = traceDir();
  if (dir === undefined) return { stop: () => undefined, note: (_: string) => undefined };
  const write = writer(join(dir, 'etcd.jsonl'));
  const clients = endpoints.map((ep) => makeClient([ep]));
  const leases: Lease[] = clients.map((c) => c.lease(120, { autoKeepAlive: false }));
  await Promise.all(leases.map((l) => l.grant().catch(() => undefined)));
  const busy = new Set<string>();
  const probe = (m: number, what: string, call: () => Promise<Record<string, unknown>>): void => {
    const key = `${m}:${what}`;
    if (busy.has(key)) {
      write({ m, what, waiting: true });
      return;
    }
    busy.add(key);
    const t0 = performance.now();
    call()
      .then(
        (r) => write({ m, what, tookMs: Math.round(performance.now() - t0), ...r }),
        (err: unknown) =>
          write({ m, what, tookMs: Math.round(performance.now() - t0), err: String((err as Error)?.message ?? err).slice(0, 160) }),
      )
      .finally(() => busy.delete(key));
  };
  const timer = setInterval(() => {
    clients.forEach((client, m) => {
      probe(m, 'status', async () => {
        const s = await client.maintenance.status({ deadline: Date.now() + 5000 });
        return {
          committed: Number(s.raftIndex),
          applied: Number(s.raftAppliedIndex),
          leader: String(s.leader),
          self: String(s.header?.member_id),
        };
      });
      const lease = leases[m] as Lease;
      probe(m, 'keepalive', async () => ({ ttl: Number((await lease.keepaliveOnce({ deadline: Date.now() + 10_000 })).TTL) }));
    });
  }, EVERY_MS);
  timer.unref();
  return {
    /** A line saying what the scenario does now (a phase begins, an enroller is killed). */
    note: (text: string) => write({ note: text }),
    stop: () => {
      clearInterval(timer);
      for (const l of leases) l.release();
      for (const c of clients) c.close();
    },
  };
}
