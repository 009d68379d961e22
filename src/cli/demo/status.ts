/**
 * The demo's progress: on a terminal a status view redrawn in place (each
 * member's state and the last lines said), otherwise plain timestamped lines.
 *
 * @module
 */
import type { EnrollmentState } from '../../index.js';

const tty = process.stdout.isTTY === true;
const t0 = performance.now();
/** Milliseconds since the demo started. */
export const since = () => performance.now() - t0;
const stamp = () => `${(since() / 1000).toFixed(2).padStart(6)}s`;
const recent: string[] = [];

/** A line of progress: printed as is without a terminal; kept for the live view with one. */
export function say(line: string): void {
  if (tty) {
    recent.push(`${stamp()} ${line}`);
    if (recent.length > 8) recent.shift();
  } else {
    process.stdout.write(`${stamp()} ${line}\n`);
  }
}

const GLYPH: Record<EnrollmentState['type'], string> = { idle: '·', enrolling: '○', enrolled: '●', reenrolling: '◌', closed: '×' };

/** Redraws the status view (on a terminal only): the phase, each member's state, the counts and the last lines said. */
export function render(states: ReadonlyArray<EnrollmentState['type']>, phase: string): void {
  if (!tty) return;
  const counts = new Map<string, number>();
  for (const s of states) counts.set(s, (counts.get(s) ?? 0) + 1);
  const lines = [
    `\x1b[1mrina-enrollment demo\x1b[0m  ${stamp()}  ${phase}`,
    `  ${states.map((s) => GLYPH[s]).join(' ')}`,
    `  enrolled ${counts.get('enrolled') ?? 0}/${states.length}   re-enrolling ${counts.get('reenrolling') ?? 0}   idle ${counts.get('idle') ?? 0}   (● enrolled ◌ re-enrolling ○ enrolling · idle)`,
    ...recent.map((l) => `  ${l}`),
  ];
  process.stdout.write(`\x1b[2J\x1b[H${lines.join('\n')}\n`);
}
