#!/usr/bin/env node
// npm run test:model -- [--runs N] [--seed S] [--path P] [--verbose]
// Runs the convergence model (test/model) over N random worlds from seed S.
// A failure prints the seed, path and commands' replay path that replay it:
//   npm run test:model -- --seed S --path P --replay R
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';

const usage = 'usage: npm run test:model -- [--runs N] [--seed S] [--path P [--replay R]] [--verbose]';
let values;
try {
  ({ values } = parseArgs({
    options: {
      runs: { type: 'string' },
      seed: { type: 'string' },
      path: { type: 'string' },
      replay: { type: 'string' },
      verbose: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  }));
} catch (err) {
  console.error(`${err.message}\n${usage}`);
  process.exit(2);
}
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const env = { ...process.env };
for (const [flag, name] of [
  ['runs', 'MODEL_RUNS'],
  ['seed', 'MODEL_SEED'],
]) {
  const value = values[flag];
  if (value === undefined) continue;
  if (!/^-?\d+$/.test(value) || (flag === 'runs' && Number(value) < 1)) {
    console.error(`--${flag} must be ${flag === 'runs' ? 'a positive integer' : 'an integer'} (got "${value}")\n${usage}`);
    process.exit(2);
  }
  env[name] = value;
}
if (values.seed === undefined) env.MODEL_SEED ??= String(Math.floor(Math.random() * 2 ** 31));
if (values.path !== undefined) env.MODEL_PATH = values.path;
if (values.replay !== undefined) env.MODEL_REPLAY = values.replay;
if (values.verbose) env.MODEL_VERBOSE = '1';
console.log(`model: ${env.MODEL_RUNS ?? 200} worlds from seed ${env.MODEL_SEED}${values.path ? `, path ${values.path}` : ''}`);
const result = spawnSync('npx', ['vitest', 'run', 'test/model'], { stdio: 'inherit', env });
process.exit(result.status ?? 1);
