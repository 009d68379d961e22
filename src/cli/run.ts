/**
 * Runs `rina-enroll` on its arguments and says how it ended: the exit code
 * (0 done or help asked for, 1 a failure while running, 2 bad usage) and, on
 * an error, one line on stderr.
 *
 * @module
 */
import { CommanderError } from 'commander';
import { ConfigError, EnrollmentError } from '../index.js';
import { inFlags } from './flags/flag-names.js';
import { type PresetSources, presetFromConfigAndEnvironment, refuseFlagsAsValues } from './flags/presets.js';
import { UsageError } from './flags/usage-error.js';
import { program } from './program.js';

/** The exit code of commander's own ending: help or version asked for is 0; it has printed its one line already. */
function commanderExitCode(err: CommanderError, argv: string[]): number {
  // asked for help: 0; help shown because no command was given: a usage error
  if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
  if (err.code === 'commander.help') return argv.length === 0 ? 2 : 0;
  if (err.code === 'commander.executeSubCommandAsync') return 0;
  return 2; // commander already printed its one line
}

/** Prints `err` as one line on stderr; resolves with its exit code. */
function reportError(err: unknown, sources: PresetSources): number {
  const message =
    err instanceof ConfigError
      ? inFlags(err, sources)
      : err instanceof EnrollmentError || err instanceof UsageError
        ? err.message
        : ((err as Error)?.message ?? String(err));
  process.stderr.write(`rina-enroll: error: ${message}\n`);
  // Bad input (flags, config) and a missing optional package are usage errors: running again changes nothing (a
  // systemd unit does not restart on them). Anything else (a port in use, a store out of reach or locked, a refusal)
  // failed while running.
  const usage = err instanceof UsageError || (err instanceof EnrollmentError && ['CONFIG_ERROR', 'MISSING_DEPENDENCY'].includes(err.code));
  return usage ? 2 : 1;
}

/** Runs the CLI on `argv` (without node and the script); resolves with the exit code. */
export async function run(argv: string[]): Promise<number> {
  const cmd = program();
  const sources: PresetSources = new Map();
  try {
    const sub = cmd.commands.find((c) => c.name() === argv[0]);
    const asksForHelp = argv.some((a) => ['--help', '-h', '--version', '-V'].includes(a));
    if (sub !== undefined && !asksForHelp) {
      refuseFlagsAsValues(sub, argv.slice(1));
      await presetFromConfigAndEnvironment(sub, argv.slice(1), sources);
    }
    await cmd.parseAsync(argv, { from: 'user' });
    return (cmd.getOptionValue('exitCode') as number | undefined) ?? 0;
  } catch (err) {
    return err instanceof CommanderError ? commanderExitCode(err, argv) : reportError(err, sources);
  }
}
