/** Starts and drives bench/child.ts in its own process. */
import { fileURLToPath } from 'node:url';
import type { ChildReply, ChildRequest, ChildStats, EtcdFloorOp } from './child-protocol.js';
import { type Body, IpcProcess } from './ipc.js';

const CHILD = fileURLToPath(new URL('../child.ts', import.meta.url));

export class BenchChild {
  readonly #ipc: IpcProcess<ChildRequest, ChildReply>;
  /** The enroller's or echo server's UDP address. */
  address = '';

  private constructor(ipc: IpcProcess<ChildRequest, ChildReply>) {
    this.#ipc = ipc;
  }

  /** Starts the child (with this process's tsx loader) and waits until it is ready. */
  static async spawn(): Promise<BenchChild> {
    // BENCH_CHILD_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the enroller side.
    const nodeArgs = process.env.BENCH_CHILD_NODE_ARGS?.split(/\s+/).filter(Boolean) ?? [];
    return new BenchChild(await IpcProcess.start<ChildRequest, ChildReply>(CHILD, { nodeArgs }));
  }

  get pid(): number | undefined {
    return this.#ipc.pid;
  }

  request(req: Body<ChildRequest>): Promise<ChildReply> {
    return this.#ipc.request(req);
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
    if (this.#ipc.exited) return;
    await this.request({ type: 'stop' }).catch(() => undefined);
    await this.#ipc.exit(2000);
  }

  /** SIGKILL: the enroller vanishes without a word. Resolves once the process is gone. */
  kill(): Promise<void> {
    return this.#ipc.kill();
  }
}
