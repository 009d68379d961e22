/**
 * The demo's progress: on a terminal a status view redrawn in place (each
 * member's state, with the latest lines of the log below it) and the whole
 * log printed once the run is over; otherwise plain timestamped lines.
 *
 * @module
 */
import type { EnrollmentState } from '../../index.js';

const tty = process.stdout.isTTY === true;
const t0 = performance.now();
/** Milliseconds since the demo started. */
export const since = () => performance.now() - t0;
const stamp = () => `${(since() / 1000).toFixed(2).padStart(6)}s`;
/** Every line said, for the end of the run (on a terminal). */
const log: string[] = [];
/** Lines of the status view drawn last, which the next frame overwrites. */
let drawn = 0;
/** Lines of the log the status view shows. */
const LATEST = 10;

/** A line of progress: printed as is without a terminal; kept for the status view and the final log with one. */
export function say(line: string): void {
  const stamped = `${stamp()} ${line}`;
  if (tty) log.push(stamped);
  else process.stdout.write(`${stamped}\n`);
}

const GLYPH: Record<EnrollmentState['type'], string> = { idle: '·', enrolling: '○', enrolled: '●', reenrolling: '◌', closed: '×' };

/** `line` cut to the terminal's width, so that each line of the view is one row of the screen. */
const fit = (line: string) => {
  const columns = process.stdout.columns ?? 120;
  return line.length > columns ? `${line.slice(0, columns - 1)}…` : line;
};

/**
 * Redraws the status view (on a terminal only), in place of the last one:
 * the phase, each member's state, the counts, then the latest lines of the log.
 */
export function render(states: ReadonlyArray<EnrollmentState['type']>, phase: string): void {
  if (!tty) return;
  const counts = new Map<string, number>();
  for (const s of states) counts.set(s, (counts.get(s) ?? 0) + 1);
  const lines = [
    `\x1b[1mrina-enrollment demo\x1b[0m  ${stamp()}  ${phase}`,
    `  ${states.map((s) => GLYPH[s]).join(' ')}`,
    `  enrolled ${counts.get('enrolled') ?? 0}/${states.length}   re-enrolling ${counts.get('reenrolling') ?? 0}   idle ${counts.get('idle') ?? 0}   (● enrolled ◌ re-enrolling ○ enrolling · idle)`,
    '',
    `  log (latest ${LATEST} of ${log.length} lines; the whole log follows the run)`,
    ...log.slice(-LATEST).map((l) => `  ${l}`),
  ].map(fit);
  // Up to the first line of the last frame, clear from there down, draw.
  process.stdout.write(`${drawn > 0 ? `\x1b[${drawn}F` : ''}\x1b[J${lines.join('\n')}\n`);
  drawn = lines.length;
}

/** After the run (on a terminal): the whole log, below the last status view. */
export function printLog(): void {
  if (!tty || log.length === 0) return;
  process.stdout.write(`\nLog\n${log.map((l) => `  ${l}`).join('\n')}\n`);
}
