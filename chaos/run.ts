/**
 * `npm run chaos -- --seed S --duration SECS [--schedules N] [--members M] [--faults KIND,...] [--auth hmac-sha256] [--out DIR] [--verbose]`
 *
 * The nemesis. Each schedule builds a world of real processes on 127.0.0.1:
 * a three-member etcd cluster, three `rina-enroll bootstrap --etcd` processes
 * on it (each behind a fault-injecting UDP proxy that its members talk
 * through, and TCP proxies between it and every etcd member), and 30–50
 * members (library `EnrollmentManager`s in this process, each on its own UDP
 * socket, knowing all three enrollers). Once every member is enrolled, a
 * seeded schedule of faults runs (chaos/schedule.ts): enrollers SIGKILLed and
 * restarted, SIGSTOPped past their etcd lease TTL, cut from etcd while their
 * members reach them; etcd members and leaders killed and restarted; UDP
 * partitions, loss up to 30 %, duplication, delay. Then the faults stop
 * ("calm") and the world gets its convergence bound to settle.
 *
 * Every address a member holds (its `enrolled` state, with the time), every
 * binding etcd deletes (a watch), every answer an enroller logs, and etcd's
 * table at the end make the history; chaos/checker.ts checks it. The last line
 * is `chaos: N schedules, F faults, V violations`; any violation exits 1.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Etcd3 } from 'etcd3';
import { type EtcdCluster, startEtcd } from '../src/cli/etcd-server.js';
import { freeUdpPort } from '../src/cli/ports.js';
import { type AuthOptions, EnrollmentManager, type EnrollmentState, MemoryRib, UdpShim } from '../src/index.js';
import { type CliProcess, runCli } from '../test/support/cli.js';
import { TcpProxy } from '../test/support/tcp-proxy.js';
import { UdpProxy } from '../test/support/udp-proxy.js';
import { type ChaosEvent, checkHistory, summaryLine, type Violation } from './checker.js';
import { parseFlags } from './flags.js';
import { describeFault, type Fault, makeSchedule } from './schedule.js';

const DIF = 'chaos.DIF';
/** The enrollers' etcd lease TTL (the CLI's default). */
const LEASE_TTL_MS = 10_000;
/** `--lease` and `--hold` of the enrollers, seconds. */
const MEMBER_LEASE_SECS = 3;
const HOLD_SECS = 5;
/** The members' settings: keepalives every 500 ms, lost after 2 s of silence, 1 s attempts, backoff capped at 2 s. */
const MEMBER_CONFIG = {
  timeoutMs: 1000,
  maxRetries: 3,
  initialBackoffMs: 200,
  heartbeatIntervalSecs: 0.5,
  connectionTimeoutSecs: 2,
  reenrollBackoffBaseMs: 200,
  reenrollBackoffCapMs: 2000,
} as const;
/** A member's pause before it tries a failed first enrollment again. */
const FIRST_ENROL_PAUSE_MS = 1000;
/**
 * A member's convergence bound once the faults stop, ms: the library's bound
 * (docs/RECOVERY.md: CT + T + cap + E·T + 4 ticks, E = 3 enrollers), plus one
 * lease TTL (an enroller whose etcd lease expired gets a new one and
 * re-validates its members before it vouches again), plus one hold (addresses
 * of members that moved are held that long; a tight pool may wait for them),
 * plus 3 s for an enroller process started at the last moment to serve.
 * A newcomer whose first enrollment was refused (a pool exhausted by held
 * addresses) retries every second after a chain of 3 attempts (1 s each,
 * 200 + 400 ms apart): within the same bound once the holds have run out.
 */
const BOUND_MS =
  MEMBER_CONFIG.connectionTimeoutSecs * 1000 +
  MEMBER_CONFIG.timeoutMs +
  MEMBER_CONFIG.reenrollBackoffCapMs +
  3 * MEMBER_CONFIG.timeoutMs +
  4 * 20 +
  LEASE_TTL_MS +
  HOLD_SECS * 1000 +
  3000;
/** The calm window after the faults: the bound, and 2 s to see that it held. */
const CALM_MS = BOUND_MS + 2000;
/**
 * How long a member may still count itself enrolled after etcd freed its
 * binding: 0. The documented rule (README, "Faults"): an enroller stops
 * vouching within one lease TTL of losing etcd, and a freed binding was idle
 * for the hold first; with `hold + TTL > connectionTimeout` (5 s + 10 s > 2 s
 * here) every member has left `enrolled` before its binding is freed.
 */
const ALLOWED_OVERLAP_MS = 0;
/** How late the runner's etcd watch may see a delete. */
const WATCH_LAG_MS = 500;

interface ScheduleResult {
  readonly seed: number;
  readonly faults: number;
  /** Faults by kind. */
  readonly kinds: Readonly<Record<string, number>>;
  readonly violations: Violation[];
  /** Bindings etcd deleted (freed addresses, which others may then get). */
  readonly unbinds: number;
  /** The latest first enrollment after calm of a member that was not enrolled at calm, ms after calm (0 if all were). */
  readonly settledMs: number;
  readonly addressChanges: number;
  readonly answers: number;
}

interface MemberSlot {
  readonly name: string;
  /** This process's id in the history (a name restarted is a new process). */
  readonly process: string;
  readonly manager: EnrollmentManager;
  readonly shim: UdpShim;
}

interface EnrollerSlot {
  readonly name: string;
  readonly args: string[];
  readonly udp: UdpProxy;
  readonly tcp: TcpProxy[];
  /** Added to the enroller's environment (the key, with `--auth hmac-sha256`). */
  readonly env: Record<string, string>;
  process: CliProcess;
  readonly logs: CliProcess[];
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function startEnroller(slot: Omit<EnrollerSlot, 'process' | 'logs'> & { logs?: CliProcess[] }): Promise<CliProcess> {
  const process = runCli(slot.args, slot.env);
  slot.logs?.push(process);
  await process.waitFor(/"event":"enroller:started"/, 20_000);
  return process;
}

interface RunOptions {
  readonly durationMs: number;
  readonly memberCount: number;
  readonly out: string | undefined;
  readonly verbose: boolean;
  readonly kinds: readonly Fault['kind'][] | undefined;
  /** Every enroller and member authenticates with this (`--auth`). */
  readonly auth: AuthOptions;
}

async function runSchedule(seed: number, { durationMs, memberCount, out, verbose, kinds, auth }: RunOptions): Promise<ScheduleResult> {
  const t0 = Date.now();
  const now = (): number => Date.now() - t0;
  const history: ChaosEvent[] = [];
  const say = (line: string): void => {
    if (verbose) console.log(`  [${(now() / 1000).toFixed(1)} s] ${line}`);
  };
  const faultPhaseMs = durationMs - CALM_MS; // (parseFlags leaves at least 5 s)
  const schedule = makeSchedule(seed, { enrollers: 3, etcdNodes: 3, calmAtMs: faultPhaseMs, leaseTtlMs: LEASE_TTL_MS, kinds });

  const etcd: EtcdCluster = await startEtcd({ size: 3 });
  // Interrupted (Ctrl-C, a CI timeout): no etcd or enroller process may outlive the run.
  const onSignal = (): void => {
    for (const slot of enrollers) for (const log of slot.logs) log.child.kill('SIGKILL');
    void etcd.close().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const prefix = `/chaos/${seed}/`;
  const client = new Etcd3({ hosts: etcd.endpoints });
  const members: MemberSlot[] = [];
  const enrollers: EnrollerSlot[] = [];
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const pending = new Set<Promise<unknown>>();
  /** Ends a member process: silently (the socket first, as a crash does) or with M_RELEASE. */
  const stopMember = async (slot: MemberSlot, how: 'crash' | 'leave'): Promise<void> => {
    if (how === 'crash') {
      if (slot.manager.state.type === 'enrolled') history.push({ kind: 'release', t: now(), member: slot.name, process: slot.process });
      slot.manager.removeAllListeners('state:change');
      await slot.shim.close();
      await slot.manager.close();
    } else {
      await slot.manager.close();
      await slot.shim.close();
    }
  };
  try {
    // etcd's deletes of bindings, as they happen.
    const watcher = await client.watch().prefix(`${prefix}names/`).withPreviousKV().create();
    const unbound = (key: Buffer, value: string | undefined): void => {
      const address = Number(value);
      if (value === undefined || !Number.isSafeInteger(address)) return;
      history.push({ kind: 'unbind', t: now(), name: decodeURIComponent(key.toString().slice(`${prefix}names/`.length)), address });
    };
    watcher.on('delete', (kv, previous) => unbound(kv.key, previous?.value?.toString()));
    watcher.on('put', (kv, previous) => {
      if (previous != null && previous.value.toString() !== kv.value.toString()) unbound(kv.key, previous.value.toString());
    });
    watcher.on('error', () => undefined);

    const pool = { first: 1002, last: 1002 + memberCount + 1 };
    for (let i = 0; i < 3; i++) {
      const port = await freeUdpPort();
      const udp = await UdpProxy.start(`127.0.0.1:${port}`, {}, seed * 10 + i);
      const tcp = await Promise.all(etcd.endpoints.map((e) => TcpProxy.start(e)));
      const name = `e${i + 1}`;
      const args = [
        'bootstrap',
        '--listen',
        `127.0.0.1:${port}`,
        '--dif',
        DIF,
        '--pool',
        `${pool.first}-${pool.last}`,
        '--name',
        name,
        ...tcp.flatMap((p) => ['--etcd', p.url]),
        '--etcd-prefix',
        prefix,
        '--advertise',
        udp.address,
        '--lease',
        String(MEMBER_LEASE_SECS),
        '--hold',
        String(HOLD_SECS),
        '--json',
        ...(auth.mechanism === 'hmac-sha256' ? ['--auth', 'hmac-sha256'] : []),
      ];
      const env: Record<string, string> = auth.mechanism === 'hmac-sha256' ? { RINA_ENROLL_AUTH_KEY: String(auth.key) } : {};
      const logs: CliProcess[] = [];
      enrollers.push({ name, args, env, udp, tcp, logs, process: await startEnroller({ name, args, env, udp, tcp, logs }) });
    }
    const proxies = enrollers.map((e) => e.udp.address);

    let processes = 0;
    let nextName = 0;
    /** Starts a member process (a manager on its own socket) named `name`; it enrols and then monitors. */
    const startMember = async (name: string): Promise<MemberSlot> => {
      const process = `p${processes++}`;
      const shim = await UdpShim.bind('127.0.0.1:0');
      const j = Number(name.slice(1));
      const bootstraps = proxies.map((_, k) => proxies[(j + k) % proxies.length] as string);
      const manager = new EnrollmentManager({
        shim,
        rib: new MemoryRib(),
        ipcpName: name,
        difName: DIF,
        auth,
        config: { ...MEMBER_CONFIG, bootstraps },
      });
      manager.on('state:change', (state: EnrollmentState, previous: EnrollmentState) => {
        if (state.type === 'enrolled') {
          history.push({ kind: 'hold', t: now(), member: name, process, address: state.address, enroller: state.bootstrap });
        } else if (previous.type === 'enrolled') {
          history.push({ kind: 'release', t: now(), member: name, process });
        }
      });
      // As an IPCP daemon does: a first enrollment that fails (refused while the
      // pool is exhausted by held addresses, or no enroller answered) is tried
      // again a second later, until it succeeds; then the monitor keeps it enrolled.
      const closed = (): boolean => manager.state.type === 'closed';
      const run = (async () => {
        while (!closed()) {
          try {
            await manager.enrol();
            manager.startConnectionMonitoring();
            return;
          } catch (err) {
            if (closed()) return;
            say(`${name}: first enrollment failed (${(err as Error).message}); again in 1 s`);
            await sleep(FIRST_ENROL_PAUSE_MS);
          }
        }
      })();
      pending.add(run);
      void run.finally(() => pending.delete(run));
      return { name, process, manager, shim };
    };
    for (let j = 0; j < memberCount; j++) members.push(await startMember(`m${nextName++}`));
    const enrolledDeadline = Date.now() + 30_000;
    while (members.some((m) => m.manager.state.type !== 'enrolled') && Date.now() < enrolledDeadline) await sleep(50);
    say(`${members.filter((m) => m.manager.state.type === 'enrolled').length}/${memberCount} members enrolled; faults start`);

    // The faults.
    const faultsFrom = now();
    const at = (ms: number, fn: () => Promise<void> | void): void => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        const done = Promise.resolve()
          .then(fn)
          .catch((err: Error) => say(`fault step failed: ${err.message}`));
        pending.add(done);
        void done.finally(() => pending.delete(done));
      }, ms);
      timers.add(timer);
    };
    const signal = (slot: EnrollerSlot, sig: NodeJS.Signals): void => {
      if (slot.process.child.exitCode === null && slot.process.child.signalCode === null) slot.process.child.kill(sig);
    };
    for (const fault of schedule) {
      const what = describeFault(fault);
      const record = (): void => {
        history.push({ kind: 'fault', t: now(), what });
        say(what);
      };
      switch (fault.kind) {
        case 'enroller-kill': {
          const slot = enrollers[fault.enroller] as EnrollerSlot;
          at(fault.atMs, async () => {
            record();
            signal(slot, 'SIGKILL');
            await slot.process.exited;
          });
          at(fault.atMs + fault.forMs, async () => {
            slot.process = await startEnroller(slot);
          });
          break;
        }
        case 'enroller-pause': {
          const slot = enrollers[fault.enroller] as EnrollerSlot;
          at(fault.atMs, () => {
            record();
            signal(slot, 'SIGSTOP');
          });
          at(fault.atMs + fault.forMs, () => signal(slot, 'SIGCONT'));
          break;
        }
        case 'enroller-cut': {
          const slot = enrollers[fault.enroller] as EnrollerSlot;
          at(fault.atMs, () => {
            record();
            for (const p of slot.tcp) p.cut();
          });
          at(fault.atMs + fault.forMs, () => {
            for (const p of slot.tcp) p.restore();
          });
          break;
        }
        case 'etcd-kill': {
          let victim = etcd.members[fault.node];
          at(fault.atMs, async () => {
            record();
            if (fault.leader) victim = await etcd.leader(2000).catch(() => victim);
            await victim?.kill();
          });
          at(fault.atMs + fault.forMs, async () => {
            await victim?.start();
          });
          break;
        }
        case 'etcd-pause': {
          let victim = etcd.members[fault.node];
          at(fault.atMs, async () => {
            record();
            if (fault.leader) victim = await etcd.leader(2000).catch(() => victim);
            victim?.pause();
          });
          at(fault.atMs + fault.forMs, () => victim?.resume());
          break;
        }
        case 'partition': {
          const slot = enrollers[fault.enroller] as EnrollerSlot;
          at(fault.atMs, () => {
            record();
            slot.udp.setFaults({ blackhole: true });
          });
          at(fault.atMs + fault.forMs, () => slot.udp.setFaults({ blackhole: false }));
          break;
        }
        case 'churn': {
          at(fault.atMs, async () => {
            record();
            for (const pick of fault.picks) {
              const index = Math.floor(pick.at * members.length);
              const [victim] = members.splice(index, 1);
              if (victim === undefined) continue;
              await stopMember(victim, pick.how);
              if (pick.after === 'newcomer') members.push(await startMember(`m${nextName++}`));
              else at(fault.forMs, async () => void members.push(await startMember(victim.name)));
            }
          });
          break;
        }
        case 'network': {
          at(fault.atMs, () => {
            record();
            for (const slot of enrollers)
              slot.udp.setFaults({ drop: fault.drop, duplicate: fault.duplicate, delayMs: fault.delayMs, jitterMs: fault.jitterMs });
          });
          at(fault.atMs + fault.forMs, () => {
            for (const slot of enrollers) slot.udp.setFaults({ drop: 0, duplicate: 0, delayMs: 0, jitterMs: 0 });
          });
          break;
        }
      }
    }
    await sleep(faultPhaseMs);
    // Every fault has ended by now (the schedule says so); wait for the restarts in flight.
    while (pending.size > 0 && timers.size === 0) await Promise.race([...pending, sleep(100)]);
    const calm = now();
    history.push({ kind: 'calm', t: calm });
    say(`calm at ${((calm - faultsFrom) / 1000).toFixed(1)} s into the faults`);
    await sleep(CALM_MS);

    const names: Record<string, number> = {};
    const addresses: Record<string, string> = {};
    for (const [key, value] of Object.entries(await client.getAll().prefix(`${prefix}names/`).strings())) {
      names[decodeURIComponent(key.slice(`${prefix}names/`.length))] = Number(value);
    }
    for (const [key, value] of Object.entries(await client.getAll().prefix(`${prefix}addresses/`).strings())) {
      addresses[key.slice(`${prefix}addresses/`.length)] = value;
    }
    const boundsMs: Record<string, number> = {};
    for (const m of members) boundsMs[m.name] = BOUND_MS;
    history.push({ kind: 'end', t: now(), names, addresses, boundsMs });
    await watcher.cancel();

    // What the enrollers answered, from their logs (their clock is this machine's).
    let answers = 0;
    for (const slot of enrollers) {
      for (const log of slot.logs) {
        for (const line of log.lines) {
          if (!line.includes('"event":"member:enrolled"')) continue;
          const entry = JSON.parse(line) as { time: string; name: string; address: number };
          history.push({ kind: 'answer', t: Date.parse(entry.time) - t0, enroller: slot.name, member: entry.name, address: entry.address });
          answers++;
        }
      }
    }
    const violations = checkHistory(history, { allowOverlapMs: ALLOWED_OVERLAP_MS, watchLagMs: WATCH_LAG_MS });
    const holds = history.filter((e): e is Extract<ChaosEvent, { kind: 'hold' }> => e.kind === 'hold');
    let addressChanges = 0;
    const lastAddress = new Map<string, number>();
    for (const h of holds) {
      const before = lastAddress.get(h.member);
      if (before !== undefined && before !== h.address) addressChanges++;
      lastAddress.set(h.member, h.address);
    }
    const settledMs = Math.max(0, ...holds.filter((h) => h.t >= calm).map((h) => h.t - calm));
    if (out !== undefined) {
      await mkdir(out, { recursive: true });
      await writeFile(join(out, `history-${seed}.jsonl`), `${history.map((e) => JSON.stringify(e)).join('\n')}\n`);
      for (const slot of enrollers) {
        await writeFile(
          join(out, `${slot.name}-${seed}.log`),
          slot.logs.flatMap((l) => [...l.lines, ...l.stderr, '--- restart ---']).join('\n'),
        );
      }
    }
    const kinds: Record<string, number> = {};
    for (const f of schedule) kinds[f.kind] = (kinds[f.kind] ?? 0) + 1;
    const unbinds = history.filter((e) => e.kind === 'unbind').length;
    return { seed, faults: schedule.length, kinds, violations, settledMs, addressChanges, answers, unbinds };
  } finally {
    for (const t of timers) clearTimeout(t);
    await Promise.allSettled(members.map((m) => stopMember(m, 'leave')));
    for (const slot of enrollers) {
      for (const log of slot.logs) {
        if (log.child.exitCode === null && log.child.signalCode === null) {
          log.child.kill('SIGCONT');
          log.child.kill('SIGKILL');
        }
      }
      await Promise.all(slot.logs.map((l) => l.exited));
      await slot.udp.close();
      await Promise.all(slot.tcp.map((p) => p.close()));
    }
    client.close();
    await etcd.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), CALM_MS / 1000);
  if (!flags.ok) {
    (flags.code === 0 ? console.log : console.error)(flags.message);
    process.exit(flags.code);
  }
  const { seed, durationMs, schedules, memberCount, kinds, verbose, out } = flags;
  const auth: AuthOptions =
    flags.auth === 'none' ? { mechanism: 'none' } : { mechanism: 'hmac-sha256', key: randomBytes(32).toString('base64') };
  const options: RunOptions = { durationMs, memberCount, out, verbose, kinds, auth };
  let faults = 0;
  let violations = 0;
  for (let i = 0; i < schedules; i++) {
    const s = seed + i;
    const r = await runSchedule(s, options);
    faults += r.faults;
    violations += r.violations.length;
    console.log(
      `schedule seed=${s}: ${r.faults} faults (${Object.entries(r.kinds)
        .map(([k, n]) => `${k} ${n}`)
        .join(
          ', ',
        )}), ${r.violations.length} violations, last enrollment ${(r.settledMs / 1000).toFixed(1)} s after calm (bound ${(BOUND_MS / 1000).toFixed(1)} s), ${r.addressChanges} address changes, ${r.unbinds} bindings freed, ${r.answers} enrollments answered`,
    );
    for (const v of r.violations) console.log(`  ${v.kind} at ${(v.t / 1000).toFixed(1)} s: ${v.message}`);
  }
  console.log(summaryLine(schedules, faults, violations));
  process.exitCode = violations > 0 ? 1 : 0;
}

await main();
