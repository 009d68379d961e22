/** The UDP examples in examples/ run as written (from source, through tsx and tsconfig's paths). */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { freePort } from './support/cli.js';

const example = (name: string) => fileURLToPath(new URL(`../examples/${name}`, import.meta.url));

function run(file: string, args: string[]): { output: Promise<string>; code: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', example(file), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout.on('data', (c: Buffer) => (text += c.toString()));
  child.stderr.on('data', (c: Buffer) => (text += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const code = new Promise<number | null>((resolve) =>
    child.on('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    }),
  );
  return { output: code.then(() => text), code };
}

it('examples/enroller.mjs serves one member from examples/member.mjs, and both exit 0', async () => {
  const port = await freePort();
  const enroller = run('enroller.mjs', [`127.0.0.1:${port}`, '1']);
  await new Promise((r) => setTimeout(r, 700)); // let it bind
  const member = run('member.mjs', [`127.0.0.1:${port}`, 'example-member']);
  expect(await member.code).toBe(0);
  expect(await enroller.code).toBe(0);
  expect(await member.output).toMatch(/example-member enrolled in demo\.DIF as address 1002/);
  expect(await enroller.output).toMatch(/example-member enrolled as 1002/);
}, 20_000);
