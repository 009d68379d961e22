/** The UDP examples in examples/ run as written (from source, through tsx and tsconfig's paths). */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { freePort } from './support/cli.js';

const example = (name: string) => fileURLToPath(new URL(`../examples/${name}`, import.meta.url));

function run(
  file: string,
  args: string[],
): { output: Promise<string>; code: Promise<number | null>; said: (text: string) => Promise<void> } {
  const child = spawn(process.execPath, ['--import', 'tsx', example(file), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const waiting = new Set<() => void>();
  const heard = (c: Buffer) => {
    text += c.toString();
    for (const check of waiting) check();
  };
  child.stdout.on('data', heard);
  child.stderr.on('data', heard);
  /** Resolves once the output holds `wanted` (the run's kill timer bounds the wait: exit rejects it). */
  const said = (wanted: string) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!text.includes(wanted)) return;
        waiting.delete(check);
        resolve();
      };
      waiting.add(check);
      check();
      child.on('exit', () => reject(new Error(`${file} exited without saying "${wanted}":\n${text}`)));
    });
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const code = new Promise<number | null>((resolve) =>
    child.on('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    }),
  );
  return { output: code.then(() => text), code, said };
}

it('examples/enroller.mjs serves one member from examples/member.mjs, and both exit 0', async () => {
  const port = await freePort();
  const enroller = run('enroller.mjs', [`127.0.0.1:${port}`, '1']);
  await enroller.said('enroller serving demo.DIF');
  const member = run('member.mjs', [`127.0.0.1:${port}`, 'example-member']);
  expect(await member.code).toBe(0);
  expect(await enroller.code).toBe(0);
  expect(await member.output).toMatch(/example-member enrolled in demo\.DIF as address 1002/);
  expect(await enroller.output).toMatch(/example-member enrolled as 1002/);
}, 20_000);
