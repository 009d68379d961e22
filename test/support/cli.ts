/**
 * Runs the rina-enroll CLI (built from source for the run by test/support/cli-build.ts) as a child process, and
 * reads its lines; or, for checks that end before anything starts, its `run()` in this process.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { vi } from 'vitest';
import { freeUdpPort } from '../../src/cli/ports.js';
import { CLI_BUILD } from './cli-paths.js';

export interface CliProcess {
  child: ChildProcess;
  lines: string[];
  stderr: string[];
  /** Resolves with the first line (old or new) matching `pattern`; rejects after `ms`. */
  waitFor(pattern: RegExp, ms?: number): Promise<string>;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
}

/** Runs the CLI with `args`; `env` is added to this process's environment. */
export function runCli(args: string[], env: Record<string, string> = {}): CliProcess {
  const child = spawn(process.execPath, [CLI_BUILD, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const lines: string[] = [];
  const stderr: string[] = [];
  const waiters = new Set<() => void>();
  const split = (sink: string[]) => {
    let rest = '';
    return (chunk: Buffer) => {
      rest += chunk.toString('utf8');
      const parts = rest.split('\n');
      rest = parts.pop() ?? '';
      sink.push(...parts);
      for (const w of [...waiters]) w();
    };
  };
  child.stdout?.on('data', split(lines));
  child.stderr?.on('data', split(stderr));
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const waitFor = (pattern: RegExp, ms = 5000) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const hit = lines.find((l) => pattern.test(l));
        if (hit !== undefined) {
          clearTimeout(timer);
          waiters.delete(check);
          resolve(hit);
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no line matching ${pattern} within ${ms} ms; got:\n${lines.join('\n')}\n${stderr.join('\n')}`));
      }, ms);
      waiters.add(check);
      check();
    });
  return { child, lines, stderr, waitFor, exited };
}

/** How an in-process run ended: the exit code the bin would exit with, and the lines written. */
export interface CliRun {
  code: number;
  lines: string[];
  stderr: string[];
}

/**
 * Runs the CLI's `run()` (src/cli/run.ts: what the bin runs, then exits with its code) in this process, with
 * `env` added to the environment and stdout and stderr captured. For the checks of flags and configuration,
 * which end (exit 2) before anything is bound or started: a process each cost 0.2 s of CPU, some 40 times.
 */
export async function runCliInProcess(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  const { run } = await import('../../src/cli/run.js');
  const written = { stdout: '', stderr: '' };
  const capture = (stream: 'stdout' | 'stderr') =>
    vi.spyOn(process[stream], 'write').mockImplementation((chunk: string | Uint8Array) => {
      written[stream] += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      return true;
    });
  const spies = [capture('stdout'), capture('stderr')];
  for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
  try {
    const code = await run(args);
    const split = (text: string) => (text === '' ? [] : text.replace(/\n$/, '').split('\n'));
    return { code, lines: split(written.stdout), stderr: split(written.stderr) };
  } finally {
    for (const spy of spies) spy.mockRestore();
    vi.unstubAllEnvs();
  }
}

/**
 * A `cli(args)` that remembers every process it starts, and `killAll()` for
 * afterEach: SIGKILLs those still running and waits for every one to exit.
 */
export function cliRunner(): { cli: (args: string[], env?: Record<string, string>) => CliProcess; killAll: () => Promise<void> } {
  const running: CliProcess[] = [];
  return {
    cli: (args, env) => {
      const p = runCli(args, env);
      running.push(p);
      return p;
    },
    killAll: async () => {
      const all = running.splice(0);
      for (const p of all) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
      await Promise.all(all.map((p) => p.exited));
    },
  };
}

/**
 * This test worker's own band of UDP ports, 10000-19999 cut in ten by vitest's pool id: two files that run at once never choose the
 * same port (a CLI child bound it a moment after another worker's probe found it free, and failed with EADDRINUSE), and the
 * demos (20000-29999) and sockets bound to port 0 (32768 and up) choose elsewhere.
 */
const BAND = (() => {
  const slot = (Number(process.env.VITEST_POOL_ID ?? 1) - 1) % 10;
  return { from: 10_000 + slot * 1_000, to: 10_999 + slot * 1_000 };
})();
/** The ports this process has handed out: not handed out twice. */
const handedOut = new Set<number>();

/** A UDP port on 127.0.0.1 that was free a moment ago, in this worker's band, not one this process handed out before. */
export async function freePort(): Promise<number> {
  const port = await freeUdpPort(BAND, handedOut);
  handedOut.add(port);
  return port;
}
