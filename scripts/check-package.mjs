#!/usr/bin/env node
// npm run check:package: the package as its users get it. Packs the tarball,
// installs it into a new temporary project, imports every subpath with plain
// node, typechecks a small TypeScript consumer under moduleResolution node16
// and bundler, runs the UDP examples against the installed package, and runs
// publint and @arethetypeswrong/cli (esm-only profile) on it.
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const sh = (cmd, args, cwd, opts = {}) => execFileSync(cmd, args, { cwd, stdio: opts.capture ? 'pipe' : 'inherit', encoding: 'utf8' });
const step = (text) => console.log(`\n== ${text}`);

step('build and npm pack');
sh('npm', ['run', 'build'], root);
const [packed] = JSON.parse(sh('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', tmpdir()], root, { capture: true }));
const tarball = join(tmpdir(), packed.filename);
console.log(
  `${packed.filename}: ${packed.entryCount} files, ${(statSync(tarball).size / 1024).toFixed(1)} KiB packed, ${(packed.unpackedSize / 1024).toFixed(1)} KiB unpacked`,
);
const stray = packed.files
  .map((f) => f.path)
  .filter((p) => !/^(dist\/|deploy\/rina-enroll\.service$|README\.md$|LICENSE$|SECURITY\.md$|CHANGELOG\.md$|package\.json$)/.test(p));
if (stray.length > 0) throw new Error(`the tarball ships files it should not: ${stray.join(', ')}`);

const work = mkdtempSync(join(tmpdir(), 'rina-consumer-'));
try {
  step(`install into ${work}`);
  writeFileSync(join(work, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }, null, 2));
  sh('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', tarball, 'typescript@5.9', '@types/node@20', 'vitest@4.1'], work);

  step('import every subpath with plain node');
  for (const sub of ['rina-enrollment', 'rina-enrollment/testing', 'rina-enrollment/etcd']) {
    const out = sh('node', ['--input-type=module', '-e', `const m = await import('${sub}'); console.log(Object.keys(m).length)`], work, {
      capture: true,
    });
    if (Number(out.trim()) < 1) throw new Error(`${sub} exports nothing`);
    console.log(`${sub}: ${out.trim()} exports`);
  }
  step('require() every subpath from CommonJS (Node >= 20.19 loads ES modules so)');
  for (const sub of ['rina-enrollment', 'rina-enrollment/testing', 'rina-enrollment/etcd']) {
    const out = sh('node', ['--input-type=commonjs', '-e', `console.log(Object.keys(require('${sub}')).length)`], work, { capture: true });
    if (Number(out.trim()) < 1) throw new Error(`require('${sub}') gives nothing`);
    console.log(`require('${sub}'): ${out.trim()} exports`);
  }
  sh('node', ['node_modules/rina-enrollment/dist/cli/rina-enroll.js', '--help'], work, { capture: true });
  console.log('rina-enroll --help runs');

  step('the main entry loads no gRPC or etcd code');
  // A resolve hook (module.register, Node >= 20.6) reports every module the import loads.
  writeFileSync(
    join(work, 'hooks.mjs'),
    `let port;
export function initialize(data) { port = data.port; }
export async function resolve(specifier, context, next) { const r = await next(specifier, context); port.postMessage(r.url); return r; }
`,
  );
  writeFileSync(
    join(work, 'record-loads.mjs'),
    `import { register } from 'node:module';
import { MessageChannel } from 'node:worker_threads';
const { port1, port2 } = new MessageChannel();
const loaded = [];
port1.on('message', (url) => loaded.push(url));
port1.unref();
register('./hooks.mjs', { parentURL: import.meta.url, data: { port: port2 }, transferList: [port2] });
await import('rina-enrollment');
await new Promise((r) => setTimeout(r, 100));
const heavy = loaded.filter((u) => /grpc|etcd/i.test(u));
console.log(loaded.length + ' modules loaded by the main entry; gRPC or etcd among them: ' + (heavy.join(', ') || 'none'));
if (loaded.length === 0 || heavy.length > 0) process.exit(1);
`,
  );
  sh('node', ['record-loads.mjs'], work);

  step('typecheck a TypeScript consumer (node16 and bundler)');
  writeFileSync(
    join(work, 'consumer.ts'),
    `import { Enroller, EnrollmentManager, MemoryNetwork, MemoryRib, type EnrollmentState, type Shim } from 'rina-enrollment';
import { createMockShim, createScriptedEnroller } from 'rina-enrollment/testing';
import { EtcdAddressStore } from 'rina-enrollment/etcd';
const net = new MemoryNetwork();
const shim: Shim = net.attach('m');
const mgr = new EnrollmentManager({ shim, rib: new MemoryRib(), ipcpName: 'm', config: { heartbeatIntervalSecs: 1, connectionTimeoutSecs: 3 } });
mgr.on('connection:lost', (i) => i.silentMs.toFixed(0));
const state: EnrollmentState = mgr.state;
const mock = createMockShim();
createScriptedEnroller(mock, { assign: 5 });
const store = new EtcdAddressStore({ hosts: 'http://127.0.0.1:2379', difName: 'demo.DIF' });
new Enroller({ shim, rib: new MemoryRib(), ipcpName: 'e', difName: 'demo.DIF', addressPool: { first: 1, last: 9 }, store });
export { Enroller, state };
`,
  );
  for (const moduleResolution of ['node16', 'bundler']) {
    const tsconfig = {
      compilerOptions: {
        strict: true,
        noEmit: true,
        target: 'ES2022',
        lib: ['ES2023'],
        types: ['node'],
        skipLibCheck: false,
        module: moduleResolution === 'node16' ? 'node16' : 'esnext',
        moduleResolution,
      },
      files: ['consumer.ts'],
    };
    writeFileSync(join(work, `tsconfig.${moduleResolution}.json`), JSON.stringify(tsconfig));
    sh('npx', ['tsc', '-p', `tsconfig.${moduleResolution}.json`], work);
    console.log(`moduleResolution ${moduleResolution}: ok`);
  }

  step('run the UDP examples against the installed package');
  for (const f of ['enroller.mjs', 'member.mjs']) copyFileSync(join(root, 'examples', f), join(work, f));
  const port = 20_000 + Math.floor(Math.random() * 10_000);
  const enroller = spawn('node', ['enroller.mjs', `127.0.0.1:${port}`, '1'], { cwd: work, stdio: 'inherit' });
  const enrollerDone = new Promise((r) => enroller.on('exit', r));
  await new Promise((r) => setTimeout(r, 800));
  sh('node', ['member.mjs', `127.0.0.1:${port}`, 'packaged-member'], work);
  const code = await Promise.race([enrollerDone, new Promise((r) => setTimeout(() => r('timeout'), 10_000))]);
  if (code !== 0) throw new Error(`examples/enroller.mjs ended with ${code}`);

  step("run the README's mocked-shim unit test against the installed package");
  copyFileSync(join(root, 'examples', 'ipcp.test.ts'), join(work, 'ipcp.test.ts'));
  sh('npx', ['vitest', 'run', '--root', work, 'ipcp.test.ts'], work);

  step('publint');
  sh('npx', ['--yes', 'publint@0.3.25', '--strict', 'node_modules/rina-enrollment'], work);

  step('@arethetypeswrong/cli (esm-only profile)');
  sh('npx', ['--yes', '@arethetypeswrong/cli@0.18.5', '--profile', 'esm-only', tarball], work);

  console.log(`\npackage check passed: ${packed.filename}, ${packed.entryCount} files, ${(statSync(tarball).size / 1024).toFixed(1)} KiB`);
} finally {
  rmSync(work, { recursive: true, force: true });
  rmSync(tarball, { force: true });
}
