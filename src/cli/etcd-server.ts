/**
 * Throw-away etcd servers on 127.0.0.1, for the tests and `npm run demo -- --ha`:
 * free ports, a temporary data directory, a wait until healthy, and a stop
 * that leaves nothing running. Uses the `etcd` binary on the PATH (Debian's
 * `etcd-server` package); this is no part of the library's API.
 *
 * @module
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** How to get an etcd binary, for the message of a run that has none. */
export const ETCD_INSTALL_HINT = 'install etcd first: `apt-get install etcd-server` (Debian/Ubuntu) or put an `etcd` binary on the PATH';

/** The path of the `etcd` binary to use (`$ETCD_BIN`, else `etcd` on the PATH), or undefined if there is none. */
export function findEtcd(): string | undefined {
  const candidate = process.env.ETCD_BIN ?? 'etcd';
  const probe = spawnSync(candidate, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  return probe.status === 0 ? candidate : undefined;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freeTcpPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP port');
  return address.port;
}

interface MemberSpec {
  readonly name: string;
  readonly clientPort: number;
  /** A second client port, served with TLS (`StartEtcdOptions.tls`). */
  readonly tlsPort: number | undefined;
  readonly peerPort: number;
  readonly dataDir: string;
}

/** One etcd process of a {@link EtcdCluster}. */
export interface EtcdMember {
  /** The member's name (`n0`, `n1`, ...). */
  readonly name: string;
  /** Its client URL, `http://127.0.0.1:PORT`. */
  readonly endpoint: string;
  /** With `StartEtcdOptions.tls`: its TLS client URL, `https://127.0.0.1:PORT` (client certificates required). */
  readonly tlsEndpoint: string | undefined;
  /** True while its process runs. */
  readonly running: boolean;
  /** Starts it again from its data directory (same ports), and waits until it answers (at most `timeoutMs`, 20 s by default). */
  start(timeoutMs?: number): Promise<void>;
  /** Stops it: SIGTERM, then SIGKILL after 5 s. */
  stop(): Promise<void>;
  /** Kills it at once (SIGKILL). */
  kill(): Promise<void>;
  /** Pauses it (SIGSTOP): it keeps its connections and answers nothing, as a member does while it catches up. */
  pause(): void;
  /** Lets a paused member go on (SIGCONT). */
  resume(): void;
  /** Whether this member is the Raft leader now (asks it over its v3 JSON gateway). */
  isLeader(): Promise<boolean>;
}

/** A throw-away etcd cluster of one or more members on 127.0.0.1. */
export interface EtcdCluster {
  /** Every member's client URL. */
  readonly endpoints: string[];
  /** The members. */
  readonly members: EtcdMember[];
  /** The current leader (waits up to `timeoutMs` for an election to end). */
  leader(timeoutMs?: number): Promise<EtcdMember>;
  /** Kills every member and deletes the data directories. */
  close(): Promise<void>;
}

/** Options of {@link startEtcd}. */
export interface StartEtcdOptions {
  /** Members of the cluster. Default 1. */
  readonly size?: number;
  /** The etcd binary. Default: {@link findEtcd}. */
  readonly binary?: string;
  /** Where etcd's output goes: 'ignore' (default) or 'inherit'. */
  readonly output?: 'ignore' | 'inherit';
  /**
   * Also serve clients over TLS, on a second port (`tlsEndpoint`), with these
   * PEM files (paths): etcd's certificate and key, and the CA its clients'
   * certificates must be signed by (`--client-cert-auth`). The plain
   * `endpoint` stays, for health checks and set-up.
   */
  readonly tls?: { readonly cert: string; readonly key: string; readonly ca: string };
}

/**
 * Starts a fresh etcd cluster on 127.0.0.1 with free ports and temporary data
 * directories, and resolves once every member reports healthy. Short Raft
 * timers (50 ms heartbeat, 500 ms election) make a leader change quick.
 */
export async function startEtcd(options: StartEtcdOptions = {}): Promise<EtcdCluster> {
  const size = options.size ?? 1;
  const binary = options.binary ?? findEtcd();
  if (binary === undefined) throw new Error(`no etcd binary found: ${ETCD_INSTALL_HINT}`);
  const root = await mkdtemp(join(tmpdir(), 'rina-etcd-'));
  const specs: MemberSpec[] = [];
  const taken = new Set<number>();
  const port = async (): Promise<number> => {
    for (;;) {
      const p = await freeTcpPort();
      if (!taken.has(p)) {
        taken.add(p);
        return p;
      }
    }
  };
  for (let i = 0; i < size; i++) {
    specs.push({
      name: `n${i}`,
      clientPort: await port(),
      tlsPort: options.tls === undefined ? undefined : await port(),
      peerPort: await port(),
      dataDir: join(root, `n${i}`),
    });
  }
  const initialCluster = specs.map((s) => `${s.name}=http://127.0.0.1:${s.peerPort}`).join(',');
  const members = specs.map((spec) => new Member(spec, binary, initialCluster, options.output ?? 'ignore', options.tls));
  try {
    // Every member must run before any can elect a leader and report healthy.
    for (const m of members) m.spawn();
    await Promise.all(members.map((m) => m.waitHealthy()));
  } catch (err) {
    await Promise.all(members.map((m) => m.kill()));
    await rm(root, { recursive: true, force: true });
    throw err;
  }
  return {
    endpoints: members.map((m) => m.endpoint),
    members,
    async leader(timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        for (const m of members) {
          if (m.running && (await m.isLeader())) return m;
        }
        await delay(50);
      }
      throw new Error(`no etcd leader within ${timeoutMs} ms`);
    },
    async close() {
      // Thrown away with its data: no need for a clean shutdown (which, in a
      // cluster that lost a member, can wait seconds for a leader transfer).
      await Promise.all(members.map((m) => m.kill()));
      await rm(root, { recursive: true, force: true });
    },
  };
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

class Member implements EtcdMember {
  readonly name: string;
  readonly endpoint: string;
  readonly tlsEndpoint: string | undefined;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #started = false;

  constructor(
    readonly spec: MemberSpec,
    readonly binary: string,
    readonly initialCluster: string,
    readonly output: 'ignore' | 'inherit',
    readonly tls: StartEtcdOptions['tls'],
  ) {
    this.name = spec.name;
    this.endpoint = `http://127.0.0.1:${spec.clientPort}`;
    this.tlsEndpoint = spec.tlsPort === undefined ? undefined : `https://127.0.0.1:${spec.tlsPort}`;
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  spawn(): void {
    const { name, peerPort, dataDir } = this.spec;
    const peer = `http://127.0.0.1:${peerPort}`;
    const clients = this.tlsEndpoint === undefined ? this.endpoint : `${this.endpoint},${this.tlsEndpoint}`;
    const tls =
      this.tls === undefined
        ? []
        : [`--cert-file=${this.tls.cert}`, `--key-file=${this.tls.key}`, `--trusted-ca-file=${this.tls.ca}`, '--client-cert-auth'];
    const args = [
      `--name=${name}`,
      `--data-dir=${dataDir}`,
      `--listen-client-urls=${clients}`,
      `--advertise-client-urls=${clients}`,
      ...tls,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=${this.initialCluster}`,
      `--initial-cluster-state=${this.#started ? 'existing' : 'new'}`,
      '--initial-cluster-token=rina-enrollment-test',
      '--heartbeat-interval=50',
      '--election-timeout=500',
      '--logger=zap',
      '--log-level=error',
    ];
    this.#started = true;
    const child = spawn(this.binary, args, { stdio: ['ignore', this.output, this.output] });
    this.#child = child;
    this.#exited = new Promise<void>((resolve) => {
      child.once('exit', () => {
        if (this.#child === child) this.#child = undefined;
        resolve();
      });
      child.once('error', () => {
        if (this.#child === child) this.#child = undefined;
        resolve();
      });
    });
  }

  async waitHealthy(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.#child === undefined) throw new Error(`etcd ${this.name} exited while starting`);
      try {
        const res = await fetch(`${this.endpoint}/health`, { signal: AbortSignal.timeout(1000) });
        const body = (await res.json()) as { health?: string };
        if (body.health === 'true') return;
      } catch {
        // not up yet
      }
      await delay(50);
    }
    throw new Error(`etcd ${this.name} not healthy within ${timeoutMs} ms`);
  }

  async start(timeoutMs?: number): Promise<void> {
    if (this.#child !== undefined) return;
    this.spawn();
    await this.waitHealthy(timeoutMs);
  }

  async stop(): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await this.#exited;
    clearTimeout(timer);
  }

  async kill(): Promise<void> {
    this.#child?.kill('SIGKILL');
    await this.#exited;
  }

  pause(): void {
    this.#child?.kill('SIGSTOP');
  }

  resume(): void {
    this.#child?.kill('SIGCONT');
  }

  async isLeader(): Promise<boolean> {
    try {
      const res = await fetch(`${this.endpoint}/v3/maintenance/status`, {
        method: 'POST',
        body: '{}',
        signal: AbortSignal.timeout(1000),
      });
      const body = (await res.json()) as { header?: { member_id?: string }; leader?: string };
      return body.leader !== undefined && body.leader !== '0' && body.leader === body.header?.member_id;
    } catch {
      return false;
    }
  }
}
