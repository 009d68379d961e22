/** What every scenario gets from the runner. */
import type { Report } from './report.js';

export interface Ctx {
  /** `--quick`: smaller sizes, fewer repetitions; a smoke run, not for quoting. */
  quick: boolean;
  /** Repetitions of each measurement; figures are medians over them. */
  runs: number;
  report: Report;
  /** A scratch directory for state files, removed at the end. */
  tmpDir: string;
  /** Prints a progress line to stderr (not part of the tables). */
  log(line: string): void;
}
