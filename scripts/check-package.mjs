#!/usr/bin/env node
// npm run check:package: the package as its users get it. Packs the tarball,
// installs it into a new temporary project, imports every subpath with plain
// node, typechecks a small TypeScript consumer under moduleResolution node16
// and bundler, runs the UDP examples against the installed package (one member
// from a V8 startup snapshot of it), and runs
// publint and @arethetypeswrong/cli (esm-only profile) on it.
// Before anything else is installed beside it: how many packages the library
// brings (no gRPC, etcd or metrics package), and that the parts needing an
// optional peer say which command installs it. After the operator's install
// (README, "Install"): an enroller sharing its table through etcd, with its
// metrics endpoint, admits a member.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/** At most this many packages come with rina-enrollment (its dependencies, all levels). */
const MAX_PACKAGES = 8;
/** What an operator installs beside it for everything the CLI does (README, "Install"). */
const OPERATOR_PEERS = ['etcd3@^1.1.2', 'prom-client@^15.1.3'];
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
// The demo and its helpers run from a checkout (npm run demo); nothing installed uses them.
const unused = packed.files.map((f) => f.path).filter((p) => /^dist\/cli\/(demo|etcd-server|timeline|ports)[./]/.test(p));
if (unused.length > 0) throw new Error(`the tarball ships the demo's files, which nothing installed runs: ${unused.join(', ')}`);

const work = mkdtempSync(join(tmpdir(), 'rina-consumer-'));
try {
  step(`install into ${work}`);
  writeFileSync(join(work, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }, null, 2));
  sh('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', tarball], work);

  step('what the library brings: its dependencies, and no gRPC, etcd or metrics package');
  const installed = sh('npm', ['ls', '--all', '--parseable'], work, { capture: true })
    .trim()
    .split('\n')
    .slice(1) // the consumer project itself
    .map((path) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length));
  const brought = installed.filter((name) => name !== 'rina-enrollment');
  console.log(`rina-enrollment brings ${brought.length} packages: ${brought.join(', ')}`);
  if (brought.length > MAX_PACKAGES) throw new Error(`rina-enrollment brings ${brought.length} packages, more than ${MAX_PACKAGES}`);
  const heavy = brought.filter((name) => /grpc|etcd|protobufjs|prom-client|cockatiel/.test(name));
  if (heavy.length > 0)
    throw new Error(`rina-enrollment brings ${heavy.join(', ')}, which only the etcd store or the metrics endpoint need`);

  step('without the optional peers: a typed error naming the install command');
  const visible = spawnSync('node', ['-e', "console.log(require.resolve('etcd3'))"], { cwd: work, encoding: 'utf8' });
  if (visible.status === 0)
    throw new Error(`etcd3 resolves from ${work} (${visible.stdout.trim()}): a node_modules above it spoils this check`);
  const esmEtcd = sh(
    'node',
    ['--input-type=module', '-e', "try { await import('rina-enrollment/etcd'); } catch (e) { console.log(e.code, e.message); }"],
    work,
    { capture: true },
  );
  const cjsEtcd = sh(
    'node',
    ['--input-type=commonjs', '-e', "try { require('rina-enrollment/etcd'); } catch (e) { console.log(e.code, e.message); }"],
    work,
    {
      capture: true,
    },
  );
  for (const [how, out] of [
    ['import', esmEtcd],
    ['require', cjsEtcd],
  ]) {
    if (!out.startsWith('MISSING_DEPENDENCY') || !out.includes('npm install etcd3')) {
      throw new Error(`${how}('rina-enrollment/etcd') without etcd3 did not name the install command: ${out}`);
    }
  }
  console.log(`import('rina-enrollment/etcd'): ${esmEtcd.trim()}`);
  const cli = (args) =>
    spawnSync('node', ['node_modules/rina-enrollment/dist/cli/rina-enroll.js', ...args], { cwd: work, encoding: 'utf8', timeout: 20_000 });
  const base = ['bootstrap', '--listen', '127.0.0.1:0', '--dif', 'check.DIF', '--pool', '1-9'];
  for (const [flags, hint] of [
    [['--etcd', 'http://127.0.0.1:1'], 'npm install etcd3'],
    [['--metrics-listen', '127.0.0.1:0'], 'npm install prom-client'],
  ]) {
    const r = cli([...base, ...flags]);
    // exit 2, a usage error: running again changes nothing, and the systemd unit does not restart on it
    if (r.status !== 2 || !r.stderr.includes(hint)) {
      throw new Error(
        `rina-enroll ${flags[0]} without its peer: exit ${r.status}, stderr ${JSON.stringify(r.stderr)} (expected exit 2 and "${hint}")`,
      );
    }
    console.log(`rina-enroll ${flags[0]}: ${r.stderr.trim()}`);
  }

  step('the operator install (README): the optional peers, and the tools of the checks below');
  sh(
    'npm',
    ['install', '--no-audit', '--no-fund', '--loglevel=error', ...OPERATOR_PEERS, 'typescript@5.9', '@types/node@20', 'vitest@4.1'],
    work,
  );

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

  step("the typings document every option (an editor's hover): each options interface's properties carry their JSDoc");
  for (const [file, option] of [
    ['enroller/options.d.ts', 'leaseMs'],
    ['member/options.d.ts', 'lowerDifs'],
    ['config.d.ts', 'heartbeatIntervalSecs'],
    ['shim/udp-shim.d.ts', 'recvBufferSize'],
    ['etcd/options.d.ts', 'txnTargetMs'],
  ]) {
    const text = readFileSync(join(work, 'node_modules/rina-enrollment/dist', file), 'utf8');
    // the option's declaration in its interface, right after the comment that documents it
    if (!new RegExp(`\\*/\\s*readonly ${option}\\??:`).test(text)) {
      throw new Error(`dist/${file}: ${option} is not documented in the typings (an options interface inferred from its schema?)`);
    }
  }
  console.log('the options interfaces of the typings carry their documentation');

  step('the state file from the bundle: a FileAddressStore writes (write-file-atomic, inlined) and a second one reads it back');
  {
    const script = [
      "import { FileAddressStore } from 'rina-enrollment';",
      "const path = process.argv[1] + '/state.json';",
      'const a = new FileAddressStore(path);',
      'await a.load();',
      "await a.bind({ name: 'member-1', address: 1002 });",
      'await a.close();',
      'const b = new FileAddressStore(path);',
      'const table = await b.load();',
      'await b.close();',
      'console.log(JSON.stringify(table));',
    ].join('\n');
    const out = sh('node', ['--input-type=module', '-e', script, work], work, { capture: true }).trim();
    if (!out.includes('member-1') || !out.includes('1002')) throw new Error(`the state file did not round-trip: ${out}`);
    console.log(`FileAddressStore round trip: ${out}`);
  }

  step("the main entry loads none of Node's modules that only some paths need (crypto, dgram, streams, fs/promises, net)");
  {
    // They are fetched at first use (src/util/builtins.ts, the file store's lazy imports); a member that
    // does not authenticate and keeps no table never loads them at import (bench scenario 8, the cold path),
    // and a startup snapshot's builder that does not bind a UdpShim gets no warning about dgram.
    const script = [
      'const before = new Set(process.moduleLoadList);',
      "await import('rina-enrollment');",
      'const loaded = process.moduleLoadList.filter((m) => !before.has(m) && /^NativeModule (crypto|dgram|stream|fs\\/promises|net|worker_threads)$/.test(m));',
      'console.log(JSON.stringify(loaded));',
    ].join('\n');
    const out = sh('node', ['--input-type=module', '-e', script], work, { capture: true }).trim();
    if (out !== '[]') throw new Error(`import('rina-enrollment') loads ${out}`);
    console.log("import('rina-enrollment') loads none of crypto, dgram, stream, fs/promises, net, worker_threads");
  }

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

  step('run the UDP examples against the installed package, the second member from a startup snapshot');
  for (const f of ['enroller.mjs', 'member.mjs', 'snapshot-member.mjs']) copyFileSync(join(root, 'examples', f), join(work, f));
  // As its first lines say: the installed package bundled again as CommonJS (esbuild, this repository's), then built.
  await build({
    absWorkingDir: work,
    entryPoints: ['snapshot-member.mjs'],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    outfile: join(work, 'member-entry.cjs'),
    logLevel: 'error',
  });
  sh(process.execPath, ['--snapshot-blob', 'member.blob', '--build-snapshot', 'member-entry.cjs'], work);
  const port = 20_000 + Math.floor(Math.random() * 10_000);
  const enroller = spawn('node', ['enroller.mjs', `127.0.0.1:${port}`, '2'], { cwd: work, stdio: 'inherit' });
  const enrollerDone = new Promise((r) => enroller.on('exit', r));
  await new Promise((r) => setTimeout(r, 800));
  sh('node', ['member.mjs', `127.0.0.1:${port}`, 'packaged-member'], work);
  sh(process.execPath, ['--snapshot-blob', 'member.blob', `127.0.0.1:${port}`, 'snapshot-member'], work);
  const code = await Promise.race([enrollerDone, new Promise((r) => setTimeout(() => r('timeout'), 10_000))]);
  if (code !== 0) throw new Error(`examples/enroller.mjs ended with ${code}`);

  step('after the operator install: an enroller on etcd, with its metrics endpoint, admits a member');
  {
    // The throw-away etcd of the tests and the demo: a helper of the checkout, not of the package (dist/ has no copy).
    const { tsImport } = await import('tsx/esm/api');
    const { startEtcd, findEtcd, ETCD_INSTALL_HINT } = await tsImport('../src/cli/etcd-server.ts', import.meta.url);
    if (findEtcd() === undefined) throw new Error(`no etcd binary for the operator-install check: ${ETCD_INSTALL_HINT}`);
    const etcd = await startEtcd();
    // Both below Linux's ephemeral range (32768-60999): an outgoing connection (etcd's clients) cannot hold them. A CI
    // run failed once with EADDRINUSE when the metrics port was udp + 10,000, inside that range.
    const udp = 20_000 + Math.floor(Math.random() * 5_000);
    const http = udp + 5_000;
    const bootstrap = spawn(
      'node',
      [
        'node_modules/rina-enrollment/dist/cli/rina-enroll.js',
        ...['bootstrap', '--listen', `127.0.0.1:${udp}`, '--dif', 'demo.DIF', '--pool', '1-9', '--name', 'e1'],
        ...['--etcd', etcd.endpoints[0], '--metrics-listen', `127.0.0.1:${http}`],
      ],
      { cwd: work, stdio: ['ignore', 'inherit', 'inherit'] },
    );
    const exited = new Promise((r) => bootstrap.on('exit', (code) => r(code)));
    let code;
    try {
      let healthy = false;
      for (let i = 0; i < 100 && !healthy; i++) {
        await new Promise((r) => setTimeout(r, 100));
        healthy = await fetch(`http://127.0.0.1:${http}/healthz`).then(
          (r) => r.ok,
          () => false,
        );
      }
      if (!healthy) throw new Error('rina-enroll bootstrap --etcd --metrics-listen never answered /healthz');
      const out = sh('node', ['member.mjs', `127.0.0.1:${udp}`, 'operator-member'], work, { capture: true });
      if (!/operator-member enrolled in demo\.DIF as address [1-9]/.test(out)) throw new Error(`the member did not enrol: ${out}`);
      const metrics = await (await fetch(`http://127.0.0.1:${http}/metrics`)).text();
      if (!metrics.includes('rina_')) throw new Error('the /metrics endpoint serves none of our metrics');
      console.log('enroller on etcd with /metrics: a member enrolled');
    } finally {
      bootstrap.kill('SIGTERM');
      code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 10_000))]);
      if (code === 'timeout') bootstrap.kill('SIGKILL');
      await etcd.close();
    }
    if (code !== 0) throw new Error(`rina-enroll bootstrap ended with ${code} on SIGTERM`);
  }

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
