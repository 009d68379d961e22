#!/usr/bin/env node
// npm run build: dist/ as the package ships it.
//
// - Code: one ES module per entry point (the library, its testing kit, its
//   etcd store and the rina-enroll CLI), bundled by esbuild with the runtime
//   dependencies inlined and the code the entry points share in dist/chunks/.
//   A fresh process then reads a handful of files instead of some 200 modules
//   of ours, zod's and protobuf's, which is most of what `import()` cost
//   (bench scenario 8, "The cold path"). The optional peers (etcd3,
//   prom-client) stay outside: they are loaded only when the etcd store or the
//   metrics endpoint is used.
// - Types: tsc's declarations, one .d.ts per source file as before.
// - The licences of the packages inlined: dist/THIRD_PARTY_LICENSES.md.
//
// `node scripts/build.mjs [outdir] [--no-types]`; bench/run.ts builds into its
// own directory without types.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));

/** The package's entry points (package.json "exports" and "bin"), by their path under dist/ without extension. */
export const ENTRY_POINTS = {
  index: 'src/index.ts',
  'testing/index': 'src/testing/index.ts',
  'etcd/index': 'src/etcd/index.ts',
  'cli/rina-enroll': 'src/cli/rina-enroll.ts',
};

/** Optional peers: resolved from the user's node_modules when (and only when) used. */
const EXTERNAL = ['etcd3', 'prom-client'];

/**
 * Bundled CommonJS dependencies (write-file-atomic; eventemitter3 needs
 * neither) call `require()` for Node's own modules and read `__filename`
 * (write-file-atomic hashes it into its temporary names); an ES module has
 * neither, so the output files that use them make them ({@link withoutUnusedBanner}
 * drops the banner elsewhere). An application that bundles this package
 * again as CommonJS (a startup snapshot's builder, docs/COLD-START.md) gets
 * an empty `import.meta`: `require` then resolves from the working directory,
 * which is enough for Node's own modules.
 */
const BANNER = [
  // process.getBuiltinModule, not an import: the ES-module facade of node:module reads all its exports (source maps and more).
  "const require = process.getBuiltinModule('node:module').createRequire(import.meta.url ?? 'file://' + process.cwd() + '/');",
  "const __filename = import.meta.url === undefined ? 'rina-enrollment' : process.getBuiltinModule('node:url').fileURLToPath(import.meta.url);",
].join('\n');

/** The banner is dropped from an output file whose code names neither `require` (esbuild's `__require` reads it) nor `__filename`. */
function withoutUnusedBanner(outdir) {
  const js = (dir) =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? js(join(dir, e.name)) : e.name.endsWith('.js') ? [join(dir, e.name)] : [],
    );
  for (const file of js(outdir)) {
    const text = readFileSync(file, 'utf8');
    const shebang = text.startsWith('#!') ? text.slice(0, text.indexOf('\n') + 1) : '';
    if (!text.startsWith(`${BANNER}\n`, shebang.length)) throw new Error(`${file} does not start with the banner`);
    const code = text.slice(shebang.length + BANNER.length + 1);
    if (!/(?<![\w$])(?:require|__filename)(?![\w$])/.test(code)) writeFileSync(file, shebang + code);
  }
}

/** Bundles the entry points into `outdir`; returns the inlined packages' directories. */
export async function bundle(outdir) {
  const result = await build({
    absWorkingDir: root,
    entryPoints: ENTRY_POINTS,
    outdir,
    bundle: true,
    splitting: true,
    // dist/chunks/ sits as deep as dist/cli/, so `../../package.json` (the CLI's --version) resolves from either.
    chunkNames: 'chunks/[name]-[hash]',
    format: 'esm',
    platform: 'node',
    target: 'node20.19',
    external: EXTERNAL,
    banner: { js: BANNER },
    legalComments: 'none',
    metafile: true,
    logLevel: 'warning',
  });
  withoutUnusedBanner(outdir);
  const packages = new Set();
  for (const input of Object.keys(result.metafile.inputs)) {
    const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (m !== null) packages.add(join(root, m[1]));
  }
  return [...packages].sort();
}

/** The licence texts of the inlined packages, as the MIT, ISC and Apache-2.0 licences ask. */
function licences(packageDirs) {
  const parts = ['# Third-party licences', '', 'dist/ inlines the code of these packages (scripts/build.mjs).', ''];
  for (const dir of packageDirs) {
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    const file = readdirSync(dir).find((f) => /^licen[cs]e/i.test(f));
    const repo = typeof pkg.repository === 'string' ? pkg.repository : pkg.repository?.url;
    parts.push(`## ${pkg.name} ${pkg.version}, ${pkg.license}`, '');
    if (file !== undefined) parts.push('```', readFileSync(join(dir, file), 'utf8').trim(), '```', '');
    else parts.push(`Its package ships no licence file; the text of ${pkg.license} applies, as published with ${repo}.`, '');
  }
  return parts.join('\n');
}

async function main() {
  const args = process.argv.slice(2);
  const outdir = resolve(root, args.find((a) => !a.startsWith('--')) ?? 'dist');
  const types = !args.includes('--no-types');
  rmSync(outdir, { recursive: true, force: true });
  if (types) {
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--emitDeclarationOnly', '--outDir', outdir], {
      cwd: root,
      stdio: 'inherit',
    });
    if (r.status !== 0) process.exit(r.status ?? 1);
  }
  const inlined = await bundle(outdir);
  writeFileSync(join(outdir, 'THIRD_PARTY_LICENSES.md'), licences(inlined));
  if (!existsSync(join(outdir, 'index.js'))) throw new Error(`esbuild wrote no ${outdir}/index.js`);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
