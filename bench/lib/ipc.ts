/** A benchmark process driven over Node's IPC channel: requests with an id, one reply each. */
import { type ChildProcess, spawn } from 'node:child_process';

/** `sh -c` script that raises the soft open-files limit to the hard one, then becomes `"$0" "$@"` (exec keeps the IPC descriptor). */
export const RAISE_FD_LIMIT = 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"';

/** A request without its id (the process numbers them). */
export type Body<T> = T extends unknown ? Omit<T, 'id'> : never;

interface Reply {
  id: number;
  ready?: boolean;
  error?: string;
}

/** Options of {@link IpcProcess.start}. */
export interface IpcStartOptions {
  /** Raise the soft open-files limit to the hard one first (through `sh -c 'ulimit -n'`). */
  raiseFdLimit?: boolean;
  /** Extra node flags before this process's own (its tsx loader). */
  nodeArgs?: string[];
}

export class IpcProcess<Req extends { id: number }, Rep extends Reply> {
  readonly #proc: ChildProcess;
  readonly #waiting = new Map<number, { resolve: (r: Rep) => void; reject: (e: Error) => void }>();
  readonly #exit: Promise<void>;
  #next = 1;
  #exited = false;

  private constructor(proc: ChildProcess) {
    this.#proc = proc;
    this.#exit = new Promise((resolve) => proc.once('exit', () => resolve()));
    proc.on('message', (reply: Rep) => {
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

  /** Starts `script` with this process's node flags (its tsx loader) and waits for its `ready`. */
  static async start<Req extends { id: number }, Rep extends Reply>(
    script: string,
    options: IpcStartOptions = {},
  ): Promise<IpcProcess<Req, Rep>> {
    const node = [...(options.nodeArgs ?? []), ...process.execArgv, script];
    const stdio: Array<'ignore' | 'inherit' | 'ipc'> = ['ignore', 'inherit', 'inherit', 'ipc'];
    // exec keeps the IPC descriptor (NODE_CHANNEL_FD) open, so the shell can raise the limit and become node.
    const proc = options.raiseFdLimit
      ? spawn('/bin/sh', ['-c', RAISE_FD_LIMIT, process.execPath, ...node], { stdio })
      : spawn(process.execPath, node, { stdio });
    await new Promise<void>((resolve, reject) => {
      const onMessage = (m: Reply): void => {
        if (m.ready) {
          proc.off('message', onMessage);
          resolve();
        }
      };
      proc.on('message', onMessage);
      proc.once('exit', (code) => reject(new Error(`bench child ${script} exited with ${code} before it was ready`)));
    });
    return new IpcProcess<Req, Rep>(proc);
  }

  get pid(): number | undefined {
    return this.#proc.pid;
  }

  get exited(): boolean {
    return this.#exited;
  }

  request(req: Body<Req>): Promise<Rep> {
    if (this.#exited) return Promise.reject(new Error('bench child has exited'));
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      this.#proc.send({ ...req, id });
    });
  }

  /** Waits up to `ms` for the process to exit by itself, then SIGKILLs it. */
  async exit(ms: number): Promise<void> {
    if (this.#exited) return;
    await Promise.race([this.#exit, new Promise((r) => setTimeout(r, ms))]);
    await this.kill();
  }

  /** SIGKILL: the process vanishes without a word. Resolves once it is gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.#exited) return;
    this.#proc.kill(signal);
    await this.#exit;
  }
}
