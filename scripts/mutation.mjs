#!/usr/bin/env node
// npm run test:mutation [-- <folder>... ] [-- <stryker run options>]: mutation testing (StrykerJS) of each folder
// named (default: all six), one Stryker run per folder against the tests whose subject is that folder, then the
// score of each folder appended to test/MUTATION.md. See test/MUTATION.md.
//
//   npm run test:mutation -- auth                      src/auth against its tests
//   npm run test:mutation -- auth --mutate src/auth/channel.ts
//                                                      one file (options after the folders go to `stryker run`)
//   npm run test:mutation -- --survivors auth          the surviving mutants of the last auth run, one a line
//
// Each folder has its own incremental file (reports/stryker-incremental-<folder>.json), so a rerun after a small
// change tests only the mutants it touches, and its own report (reports/mutation/<folder>/).
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));

/**
 * The tests that run against each folder's mutants: the tests of that folder (test/ mirrors src/) and those that
 * drive it from outside (the enroller's and member's tests build authentication and codec; the ledger's use the
 * stores). A mutant these do not kill is counted as surviving even if some other test would kill it, so the
 * score is a lower bound: it says what the folder's own tests prove. Leaving the rest of the suite out is what
 * makes a run take minutes per folder rather than hours (every manager and enroller builds authentication, the
 * codec and the store, so without this each mutant ran most of the suite).
 */
const FOLDERS = {
  auth: ['test/auth/**/*.test.ts', 'test/security/**/*.test.ts', 'test/enroller/admission.test.ts'],
  cdap: [
    'test/cdap/**/*.test.ts',
    'test/security/**/*.test.ts',
    'test/auth/messages.test.ts',
    'test/enroller/sessions.test.ts',
    'test/enroller/robustness.test.ts',
    'test/enroller/idempotence.test.ts',
  ],
  store: ['test/store/**/*.test.ts', 'test/enroller/ledger*.test.ts', 'test/integration/**/*.test.ts'],
  // The etcd store's unit tests against a scripted client: the integration tests on a real etcd (races, cuts,
  // leases that expire) took ~40 s a mutant (hours for the folder); what they alone would kill is not counted.
  etcd: [
    'test/etcd/etcd-address-store.scripted.test.ts',
    'test/etcd/lease.test.ts',
    'test/etcd/table.test.ts',
    'test/etcd/watcher.test.ts',
    'test/etcd/keys.test.ts',
    'test/etcd/options.test.ts',
    'test/etcd/client.missing-etcd3.test.ts',
  ],
  // Without the three slow tests that run through most of the enroller (test/security/flood 4.4 s, the 2,000-member
  // churn 1.4 s, test/integration's UDP runs with a child process killed): each surviving mutant ran them all. With
  // test/auth (the HMAC channels the enroller opens) and the model test (random worlds of members and enrollers).
  enroller: [
    'test/enroller/!(members.churn).test.ts',
    'test/security/bounds.test.ts',
    'test/security/fuzz.test.ts',
    'test/auth/**/*.test.ts',
    'test/model/**/*.test.ts',
  ],
  member: ['test/member/**/*.test.ts', 'test/model/**/*.test.ts', 'test/testing/**/*.test.ts'],
};

/**
 * Settings of a folder's tests under mutation: the model test's 200 random worlds take 7.5 s, 25 about 1 s; a
 * test timeout of 2 s where the slowest test takes about 100 ms (vitest.mutation.config.ts says why).
 */
const ENV = {
  enroller: { RINA_MUTATION_TEST_TIMEOUT_MS: '2000', MODEL_RUNS: '25' },
  member: { MODEL_RUNS: '25' },
};

/** Surviving mutants known to be equivalent (test/mutation-equivalents.json), by file, mutator and replacement. */
const EQUIVALENTS = JSON.parse(readFileSync(join(root, 'test/mutation-equivalents.json'), 'utf8')).equivalents;
const equivalentOf = (file, m, source) =>
  EQUIVALENTS.find(
    (e) => e.file === file && e.mutator === m.mutatorName && e.original === original(source, m) && e.replacement === m.replacement,
  );

/** The source text a mutant replaces (Stryker's locations: lines 1-based, columns 1-based). */
function original(source, { location: { start, end } }) {
  const lines = source.split('\n');
  if (start.line === end.line) return lines[start.line - 1].slice(start.column - 1, end.column - 1);
  return [
    lines[start.line - 1].slice(start.column - 1),
    ...lines.slice(start.line, end.line - 1),
    lines[end.line - 1].slice(0, end.column - 1),
  ].join('\n');
}

const args = process.argv.slice(2);
if (args[0] === '--survivors') {
  for (const folder of args.slice(1)) printSurvivors(folder);
  process.exit(0);
}
const firstOption = args.findIndex((a) => a.startsWith('-'));
const named = firstOption === -1 ? args : args.slice(0, firstOption);
const strykerArgs = firstOption === -1 ? [] : args.slice(firstOption);
for (const folder of named) {
  if (!(folder in FOLDERS)) {
    process.stderr.write(`test:mutation: unknown folder "${folder}"; one of ${Object.keys(FOLDERS).join(', ')}\n`);
    process.exit(2);
  }
}

for (const folder of named.length === 0 ? Object.keys(FOLDERS) : named) runFolder(folder);

function reportDir(folder) {
  return join(root, 'reports/mutation', folder);
}

function runFolder(folder) {
  const base = JSON.parse(readFileSync(join(root, 'stryker.config.json'), 'utf8'));
  const config = {
    ...base,
    mutate: [`src/${folder}/**/*.ts`, ...base.mutate.filter((m) => m.startsWith('!'))],
    incrementalFile: `reports/stryker-incremental-${folder}.json`,
    htmlReporter: { fileName: `reports/mutation/${folder}/index.html` },
    jsonReporter: { fileName: `reports/mutation/${folder}/mutation.json` },
  };
  mkdirSync(reportDir(folder), { recursive: true });
  const configFile = join(root, 'reports', `stryker.${folder}.config.json`);
  writeFileSync(configFile, `${JSON.stringify(config, null, 2)}\n`);

  const started = performance.now();
  const run = spawnSync('npx', ['--no-install', 'stryker', 'run', relative(root, configFile), ...strykerArgs], {
    cwd: root,
    stdio: 'inherit',
    // The tests, through the vitest config (vitest.mutation.config.ts says why not Stryker's testFiles).
    env: { ...process.env, ...ENV[folder], RINA_MUTATION_TESTS: FOLDERS[folder].join(',') },
  });
  const minutes = (performance.now() - started) / 60_000;
  if (run.status !== 0) {
    process.stderr.write(`test:mutation: stryker ended with ${run.status ?? run.signal} for ${folder}\n`);
    process.exit(run.status ?? 1);
  }
  appendScores(folder, minutes);
}

/**
 * Score = (killed + timed out) / every mutant but those that do not compile, those Stryker ignored and the
 * survivors listed as equivalent in test/mutation-equivalents.json.
 */
function appendScores(folder, minutes) {
  const report = JSON.parse(readFileSync(join(reportDir(folder), 'mutation.json'), 'utf8'));
  const total = { detected: 0, valid: 0, survived: 0, noCoverage: 0, equivalent: 0 };
  const rows = [];
  const used = new Set();
  // Stryker now and then reports a mutant as surviving a run in which no test ran: worth a rerun, not a test.
  const untested = [];
  for (const [path, { mutants, source }] of Object.entries(report.files).sort(([a], [b]) => a.localeCompare(b))) {
    const file = relative(root, resolve(root, path));
    const f = { detected: 0, valid: 0, survived: 0, noCoverage: 0, equivalent: 0 };
    for (const m of mutants) {
      if (m.status === 'Ignored' || m.status === 'CompileError') continue;
      const equivalent = m.status === 'Survived' ? equivalentOf(file, m, source) : undefined;
      if (equivalent !== undefined) {
        f.equivalent++;
        used.add(equivalent);
        continue;
      }
      f.valid++;
      if (m.status === 'Killed' || m.status === 'Timeout') f.detected++;
      if (m.status === 'Survived') f.survived++;
      if (m.status === 'Survived' && m.testsCompleted === 0) untested.push(`${file}:${m.location.start.line} ${m.mutatorName}`);
      if (m.status === 'NoCoverage') f.noCoverage++;
    }
    for (const key of Object.keys(total)) total[key] += f[key];
    rows.push(row(file, f));
  }
  const stale = EQUIVALENTS.filter((e) => e.file.startsWith(`src/${folder}/`) && !used.has(e));
  const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).stdout.trim();
  const dirty = spawnSync('git', ['status', '--porcelain', 'src', 'test'], { cwd: root, encoding: 'utf8' }).stdout;
  const extra = strykerArgs.length === 0 ? '' : `, \`${strykerArgs.join(' ')}\``;
  const section = [
    '',
    `### ${new Date().toISOString().slice(0, 16)}Z, src/${folder}, commit ${commit}${dirty === '' ? '' : ' (with uncommitted changes)'}${extra} (${minutes.toFixed(1)} min)`,
    '',
    `Tests: ${FOLDERS[folder].map((t) => `\`${t}\``).join(', ')}${Object.entries(ENV[folder] ?? {})
      .map(([k, v]) => `, with ${k}=${v}`)
      .join('')}.`,
    '',
    '| file | score | detected / valid | survived | no coverage | equivalent |',
    '|---|---:|---:|---:|---:|---:|',
    ...rows,
    row(`**src/${folder}**`, total),
    '',
    ...(untested.length === 0
      ? []
      : [
          'Reported as surviving although no test ran (a Stryker glitch; rerun them with `--mutate <file>:<line>`):',
          '',
          ...untested.map((u) => `- ${u}`),
          '',
        ]),
    ...(stale.length === 0
      ? []
      : [
          'Listed as equivalent but not among the survivors (killed now, or the code changed; the list needs a look):',
          '',
          ...stale.map((e) => `- ${e.file} ${e.mutator} \`${e.replacement}\``),
          '',
        ]),
  ].join('\n');
  appendFileSync(join(root, 'test/MUTATION.md'), section);
  process.stdout.write(`${section}\nappended to test/MUTATION.md; the HTML report is reports/mutation/${folder}/index.html\n`);
}

function row(name, f) {
  const score = f.valid === 0 ? 'n/a' : `${((100 * f.detected) / f.valid).toFixed(1)}%`;
  return `| ${name} | ${score} | ${f.detected} / ${f.valid} | ${f.survived} | ${f.noCoverage} | ${f.equivalent} |`;
}

function printSurvivors(folder) {
  const file = join(reportDir(folder), 'mutation.json');
  if (!existsSync(file)) {
    process.stderr.write(`test:mutation: no report for ${folder} (${relative(root, file)}); run it first\n`);
    process.exit(2);
  }
  const report = JSON.parse(readFileSync(file, 'utf8'));
  for (const [path, { mutants, source }] of Object.entries(report.files)) {
    const name = relative(root, resolve(root, path));
    for (const m of mutants) {
      if (m.status !== 'Survived' && m.status !== 'NoCoverage') continue;
      if (equivalentOf(name, m, source) !== undefined) continue;
      const at = `${name}:${m.location.start.line}:${m.location.start.column}`;
      // one JSON object a line: what test/mutation-equivalents.json needs, if it is one
      const entry = { file: name, mutator: m.mutatorName, original: original(source, m), replacement: m.replacement };
      process.stdout.write(`${at} ${m.status} ${JSON.stringify(entry)}\n`);
    }
  }
}
