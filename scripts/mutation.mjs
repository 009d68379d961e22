#!/usr/bin/env node
// npm run test:mutation [-- <stryker run options>]: runs StrykerJS (stryker.config.json: incremental, so a rerun
// after a small change tests only the mutants it touches), then appends the mutation score of each folder to
// test/MUTATION.md. Extra arguments go to `stryker run`, e.g. `-- --mutate "src/auth/**/*.ts"` for one folder.
import { spawnSync } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const started = performance.now();
const run = spawnSync('npx', ['--no-install', 'stryker', 'run', ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
const minutes = (performance.now() - started) / 60_000;
if (run.status !== 0) {
  process.stderr.write(`test:mutation: stryker ended with ${run.status ?? run.signal}\n`);
  process.exit(run.status ?? 1);
}

// Mutation score per folder: (killed + timed out) / (every mutant but the ignored and those that do not compile).
const report = JSON.parse(readFileSync(join(root, 'reports/mutation/mutation.json'), 'utf8'));
const folders = new Map();
for (const [file, { mutants }] of Object.entries(report.files)) {
  const folder = dirname(relative(root, resolve(root, file)));
  const f = folders.get(folder) ?? { detected: 0, valid: 0, survived: 0, noCoverage: 0 };
  for (const m of mutants) {
    if (m.status === 'Ignored' || m.status === 'CompileError') continue;
    f.valid++;
    if (m.status === 'Killed' || m.status === 'Timeout') f.detected++;
    if (m.status === 'Survived') f.survived++;
    if (m.status === 'NoCoverage') f.noCoverage++;
  }
  folders.set(folder, f);
}
const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).stdout.trim();
const rows = [...folders]
  .sort(([a], [b]) => a.localeCompare(b))
  .map(([folder, f]) => {
    const score = f.valid === 0 ? 'n/a' : `${((100 * f.detected) / f.valid).toFixed(1)}%`;
    return `| ${folder} | ${score} | ${f.detected} / ${f.valid} | ${f.survived} | ${f.noCoverage} |`;
  });
const args = process.argv.slice(2).join(' ');
const section = [
  '',
  `### ${new Date().toISOString().slice(0, 16)}Z, commit ${commit}${args === '' ? '' : `, \`${args}\``} (${minutes.toFixed(1)} min)`,
  '',
  '| folder | score | detected / valid | survived | no coverage |',
  '|---|---:|---:|---:|---:|',
  ...rows,
  '',
].join('\n');
appendFileSync(join(root, 'test/MUTATION.md'), section);
process.stdout.write(`${section}\nappended to test/MUTATION.md; the HTML report is reports/mutation/index.html\n`);
