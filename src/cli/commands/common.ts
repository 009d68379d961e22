/**
 * What `rina-enroll bootstrap` and `rina-enroll member` share: the output and
 * observability flags, `--config`, the example under their help, and the
 * logger the output flags ask for.
 *
 * @module
 */
import type { Command } from 'commander';
import type { Logger } from '../../index.js';
import { address } from '../flags/parsers.js';
import { createCliLogger } from '../log.js';

/** The output flags of both commands. */
export interface OutputFlags {
  json: boolean;
  verbose: boolean;
  metricsListen?: string;
}

/**
 * Adds `--metrics-listen` (serving what `metrics` says), `--json`,
 * `--verbose` and `--config` (a JSON object shaped like `configShape`) to
 * `command`, and `example` under its help.
 */
export function addOutputOptions(
  command: Command,
  { metrics, configShape, example }: Record<'metrics' | 'configShape' | 'example', string>,
) {
  return command
    .option('--metrics-listen <host:port>', `serve ${metrics} over HTTP here`, address)
    .option('--json', 'one JSON object per line', false)
    .option('--verbose', 'also debug lines (keepalives, attempts)', false)
    .option('--config <file>', `flags from a JSON file (${configShape}); flags override it, it overrides RINA_ENROLL_<FLAG>`)
    .addHelpText('after', `\nExample:\n  ${example}\n`);
}

/** The logger of a command, named for the IPCP it runs. */
export function loggerFor(name: string, opts: OutputFlags): Logger {
  return createCliLogger(name, opts.json, { verbose: opts.verbose });
}
