/**
 * The demo's enrollers: `rina-enroll bootstrap` in child processes, started
 * until they serve, killed, and stopped gracefully.
 *
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
const CLI = fileURLToPath(new URL(`../rina-enroll${ext}`, import.meta.url));

/** Starts `rina-enroll bootstrap` on `port` with `store` flags (`--state FILE` or `--etcd URL ...`); resolves once it serves. */
export function startEnroller(port: number, store: string[]): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      ...process.execArgv,
      CLI,
      'bootstrap',
      '--listen',
      `127.0.0.1:${port}`,
      '--dif',
      'demo.DIF',
      '--pool',
      '1002-1999',
      '--lease',
      '3',
      ...store,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return new Promise((resolveStart, reject) => {
    let buffer = '';
    const timer = setTimeout(() => reject(new Error('the enroller did not start within 10 s')), 10_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      if (buffer.includes('serving demo.DIF')) {
        clearTimeout(timer);
        resolveStart(child);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the enroller exited with ${code}`));
    });
  });
}

/** Stops an enroller process gracefully (SIGINT), if it still runs. */
export async function stopEnroller(enroller: ChildProcess | undefined): Promise<void> {
  if (enroller === undefined || enroller.exitCode !== null || enroller.signalCode !== null) return;
  const exited = new Promise((r) => enroller.once('exit', r));
  enroller.kill('SIGINT');
  await exited;
}
