/**
 * Without etcd3 installed, `rina-enrollment/etcd` fails to load with a
 * MissingDependencyError naming the install command. etcd3 is installed
 * here, so node:module's resolution is mocked to miss it (this file runs in
 * a process of its own: vitest.config.ts, MOCKING).
 */
import type * as NodeModule from 'node:module';
import { expect, it, vi } from 'vitest';
import { MissingDependencyError } from '../../src/errors.js';

vi.mock('node:module', async (importOriginal) => {
  const original = await importOriginal<typeof NodeModule>();
  const createRequire = (from: string | URL) => {
    const require = original.createRequire(from);
    const resolve = (id: string) => {
      if (id === 'etcd3') throw Object.assign(new Error("Cannot find module 'etcd3'"), { code: 'MODULE_NOT_FOUND' });
      return require.resolve(id);
    };
    return Object.assign((id: string) => require(id), require, { resolve });
  };
  return { ...original, createRequire, default: { ...original, createRequire } };
});

it('without etcd3, loading the etcd store is a MissingDependencyError that names the install command', async () => {
  const err = await import('../../src/etcd/client.js').then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(MissingDependencyError);
  const missing = err as MissingDependencyError;
  expect(missing.packages).toEqual(['etcd3']);
  expect(missing.installCommand).toBe('npm install etcd3');
  expect(missing.message).toBe(
    'rina-enrollment/etcd needs etcd3, an optional peer dependency of rina-enrollment: install it with `npm install etcd3`',
  );
  expect((missing.cause as Error).message).toBe("Cannot find module 'etcd3'");
});

// Found by an audit (2026-12-06): it exited 1, so a systemd unit restarted it every 2 s, for ever; a usage error is 2.
it('rina-enroll bootstrap --etcd without etcd3 says what to install in one line, and exits 2 (not restarted)', async () => {
  const { runCliInProcess } = await import('../support/cli.js');
  const args = ['bootstrap', '--listen', '127.0.0.1:0', '--dif', 'd', '--pool', '1-9', '--etcd', 'http://127.0.0.1:1'];
  const p = await runCliInProcess(args);
  expect(p.code).toBe(2);
  expect(p.stderr).toEqual([expect.stringMatching(/^rina-enroll: error: .*install it with `npm install etcd3`$/)]);
});
