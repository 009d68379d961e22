/** Starts and drives bench/child.ts in its own process. */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ChildReply, ChildRequest, ChildStats, EtcdFloorOp } from './child-protocol.js';

const CHILD = fileURLToPath(new URL('../child.ts', import.meta.url));

type Body<T> = T extends unknown ? Omit<T, 'id'> : never;

export class BenchChild {
  readonly #proc: ChildProcess;
  readonly #waiting = new Map<number, { resolve: (r: ChildReply) => void; reject: (e: Error) => void }>();
  #next = 1;
  #exited = false;
  /** The enroller's or echo server's UDP address. */
  address = '';

  private constructor(proc: ChildProcess) {
    this.#proc = proc;
    proc.on('message', (reply: ChildReply) => {
      const w = this.#waiting.get(reply.id);
      if (w === undefined) return;
      this.#waiting.delete(reply.id);
      if (reply.error !== undefined) w.reject(new Error(`bench child: ${reply.error}`));
      else w.resolve(reply);
    });
    proc.on('exit', () => {
      this.#exited = true;
      for (const w of this.#waiting.values()) w.reject(new Error('bench child exited'));
      this.#waiting.clear();
    });
  }

  /** Forks the child (with this process's tsx loader) and waits until it is ready. */
  static async spawn(): Promise<BenchChild> {
    // BENCH_CHILD_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the enroller side.
    const extra = process.env.BENCH_CHILD_NODE_ARGS?.split(/\s+/).filter(Boolean) ?? [];
    const proc = fork(CHILD, [], { execArgv: [...extra, ...process.execArgv], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    await new Promise<void>((resolve, reject) => {
      const onMessage = (m: ChildReply): void => {
        if (m.ready) {
          proc.off('message', onMessage);
          resolve();
        }
      };
      proc.on('message', onMessage);
      proc.once('exit', (code) => reject(new Error(`bench child exited with ${code} before it was ready`)));
    });
    return new BenchChild(proc);
  }

  get pid(): number | undefined {
    return this.#proc.pid;
  }

  request(req: Body<ChildRequest>): Promise<ChildReply> {
    if (this.#exited) return Promise.reject(new Error('bench child has exited'));
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      this.#proc.send({ ...req, id } as ChildRequest);
    });
  }

  /** Starts an Enroller in the child; resolves with its UDP address. If it cannot start, the child is stopped. */
  static async enroller(opts: Omit<Extract<ChildRequest, { type: 'enroller' }>, 'id' | 'type'> = {}): Promise<BenchChild> {
    const child = await BenchChild.spawn();
    try {
      const reply = await child.request({ type: 'enroller', ...opts });
      child.address = reply.address ?? '';
    } catch (err) {
      await child.stop();
      throw err;
    }
    return child;
  }

  /** Starts a bare node:dgram echo server in the child. */
  static async echo(): Promise<BenchChild> {
    const child = await BenchChild.spawn();
    const reply = await child.request({ type: 'echo' });
    child.address = reply.address ?? '';
    return child;
  }

  /** Starts a bare node:dgram echo server in this child too (beside an enroller); resolves with its address. */
  async startEcho(): Promise<string> {
    return (await this.request({ type: 'echo' })).address ?? '';
  }

  async mark(target?: number): Promise<void> {
    await this.request(target === undefined ? { type: 'mark' } : { type: 'mark', target });
  }

  async stats(): Promise<ChildStats> {
    const reply = await this.request({ type: 'stats' });
    if (reply.stats === undefined) throw new Error('bench child sent no stats');
    return reply.stats;
  }

  /** Waits until no store call is in flight and the enroller lists at most `members` members; false on timeout. */
  async settle(members?: number, timeoutMs = 2000): Promise<boolean> {
    const req = members === undefined ? { type: 'settle' as const, timeoutMs } : { type: 'settle' as const, members, timeoutMs };
    return (await this.request(req)).settled === true;
  }

  /** The etcd floor, timed in the child (ms each): see the `etcd-floor` request. */
  async etcdFloor(hosts: string[], op: EtcdFloorOp, key: string, samples: number): Promise<{ samples: number[]; keys: number }> {
    const reply = await this.request({ type: 'etcd-floor', hosts, op, key, samples });
    return { samples: reply.samples ?? [], keys: reply.keys ?? 0 };
  }

  async members(): Promise<Array<{ name: string; address: number }>> {
    return (await this.request({ type: 'members' })).members ?? [];
  }

  /** Stops gracefully. */
  async stop(): Promise<void> {
    if (this.#exited) return;
    const exited = new Promise<void>((r) => this.#proc.once('exit', () => r()));
    await this.request({ type: 'stop' }).catch(() => undefined);
    await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
    if (!this.#exited) this.#proc.kill('SIGKILL');
  }

  /** SIGKILL: the enroller vanishes without a word. Resolves once the process is gone. */
  async kill(): Promise<void> {
    if (this.#exited) return;
    const exited = new Promise<void>((r) => this.#proc.once('exit', () => r()));
    this.#proc.kill('SIGKILL');
    await exited;
  }
}
