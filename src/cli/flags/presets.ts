/**
 * Flags from a `--config FILE` or the environment. Every flag of a command
 * may also come from a `--config FILE` (JSON, its keys the flags' names
 * without dashes: `{"listen": "0.0.0.0:7000", "pool": "1002-1999"}`) or the
 * environment (`RINA_ENROLL_LISTEN`). Flags override the file, the file
 * overrides the environment. Values go through the flags' own parsers; a bad
 * one names the file key or the variable the user wrote.
 *
 * @module
 */
import type { Command, Option } from 'commander';
import { readFlagFile, UsageError } from './usage-error.js';

/** Where the value of a flag came from when not from the command line (`--listen` to `--config "f" key "listen"` or `environment variable V`). */
export type PresetSources = Map<string, string>;

/** Flags that may be given more than once: a JSON array in a `--config` file, comma-separated in the environment. */
const REPEATABLE = new Set(['etcd', 'alternate', 'bootstrap', 'dns-server']);

/** The environment variable of a flag: `--heartbeat-interval` is `RINA_ENROLL_HEARTBEAT_INTERVAL`. */
export const envVarOf = (flag: string): string => `RINA_ENROLL_${flag.replace(/^--/, '').toUpperCase().replace(/-/g, '_')}`;

/**
 * The file of `--config FILE` or `--config=FILE` in `args` (the last one, as
 * for every flag given twice), else of `RINA_ENROLL_CONFIG`, if any.
 */
function configFileIn(args: string[]): string | undefined {
  let file: string | undefined;
  let given = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--') break;
    if (arg === '--config') [given, file] = [true, args[++i]];
    else if (arg.startsWith('--config=')) [given, file] = [true, arg.slice('--config='.length)];
  }
  const fromEnv = process.env[envVarOf('--config')];
  return given ? file : fromEnv === '' ? undefined : fromEnv;
}

/**
 * Refuses a flag that takes a value followed by another flag (`--dif
 * --json`): commander would take the flag as the value, and run a DIF named
 * "--json" instead of saying what is missing.
 */
export function refuseFlagsAsValues(command: Command, args: string[]): void {
  const takesValue = new Set(command.options.filter((o) => o.required && o.long !== undefined).map((o) => o.long as string));
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--') return;
    if (!takesValue.has(arg)) continue;
    const value = args[++i];
    if (value?.startsWith('--')) throw new UsageError(`${arg} needs a value, got the flag ${value}`);
  }
}

/** The JSON object of a `--config` file. */
async function readConfigFile(file: string): Promise<Record<string, unknown>> {
  const text = await readFlagFile('--config', file);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--config "${file}" is not JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new UsageError(`--config "${file}" must hold one JSON object of flags, e.g. {"listen": "127.0.0.1:7000"}`);
  }
  return parsed as Record<string, unknown>;
}

/** A switch's value (such as `--json`) from a file's boolean or an environment's `1/true/yes`, `0/false/no`. */
function switchValue(raw: unknown, fail: (rule: string) => never): boolean {
  if (typeof raw === 'boolean') return raw;
  if (typeof raw === 'string' && /^(1|true|yes)$/i.test(raw)) return true;
  if (typeof raw === 'string' && /^(0|false|no|)$/i.test(raw)) return false;
  return fail('must be true or false');
}

/** A flag's value from its raw preset, through the flag's own choices and parser. */
function presetValue(key: string, option: Option, raw: unknown, fromFile: boolean, fail: (rule: string) => never): unknown {
  if (!option.required && !option.optional) return switchValue(raw, fail);
  const items = Array.isArray(raw) ? raw : !fromFile && REPEATABLE.has(key) ? String(raw).split(',') : [raw];
  if (!REPEATABLE.has(key) && items.length !== 1) fail('takes one value, not a list');
  let value: unknown;
  for (const item of items) {
    if (typeof item !== 'string' && typeof item !== 'number') fail(`must be a string or a number, got ${JSON.stringify(item)}`);
    const text = String(item).trim();
    if (option.argChoices !== undefined && !option.argChoices.includes(text))
      fail(`must be one of ${option.argChoices.join(', ')}, got "${text}"`);
    try {
      value = option.parseArg === undefined ? text : option.parseArg(text, value as never);
    } catch (err) {
      fail((err as Error).message);
    }
  }
  return value;
}

/**
 * Presets every flag of `command` not on the command line `args` from the
 * `--config` file or the environment, and records in `sources` where each
 * came from.
 */
export async function presetFromConfigAndEnvironment(command: Command, args: string[], sources: PresetSources): Promise<void> {
  const file = configFileIn(args);
  const config = file === undefined ? {} : await readConfigFile(file);
  const options = command.options.filter((o) => o.long !== undefined && !['--help', '--config'].includes(o.long));
  const keys = new Map(options.map((o) => [(o.long as string).slice(2), o]));
  for (const key of Object.keys(config)) {
    if (!keys.has(key)) throw new UsageError(`--config "${file}": unknown key "${key}" (keys: ${[...keys.keys()].join(', ')})`);
  }
  for (const [key, option] of keys) {
    // A flag on the command line wins (and a repeated one replaces the file's list rather than adding to it).
    if (args.some((a) => a === `--${key}` || a.startsWith(`--${key}=`))) continue;
    const fromFile = Object.hasOwn(config, key);
    const variable = envVarOf(key);
    const raw = fromFile ? config[key] : process.env[variable];
    if (raw === undefined) continue;
    const where = fromFile ? `--config "${file}" key "${key}"` : `environment variable ${variable}`;
    const fail = (rule: string): never => {
      throw new UsageError(`${where}: ${rule}`);
    };
    command.setOptionValueWithSource(option.attributeName(), presetValue(key, option, raw, fromFile, fail), 'config');
    sources.set(`--${key}`, where);
  }
}
