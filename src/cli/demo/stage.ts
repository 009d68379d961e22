/**
 * What both runs of the demo share: the members, the timeline's markers, the
 * phase the status view shows (redrawn every 150 ms), waiting, and the end
 * of a run (timeline, verdict, exit code) and its clean-up.
 *
 * @module
 */
import type { Marker } from '../timeline.js';
import { enrollerLabels, type Member } from './members.js';
import { writeTimeline } from './report.js';
import { printLog, render, since } from './status.js';

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves once `check()` holds (polled every 20 ms); rejects naming `what` after `ms`. */
export async function waitUntil(what: string, ms: number, check: () => boolean): Promise<void> {
  const end = performance.now() + ms;
  while (!check()) {
    if (performance.now() > end) throw new Error(`${what} did not happen within ${ms / 1000} s`);
    await sleep(20);
  }
}

/** The demo's promise: `expected` members, each back with the address it first had. */
export function everyAddressKept(members: readonly Pick<Member, 'mgr' | 'originalAddress'>[], expected: number): boolean {
  return members.length === expected && members.every((m) => m.originalAddress !== undefined && m.mgr.address === m.originalAddress);
}

/** One run of the demo: its members, its timeline's markers, and the phase the status view shows. */
export class Stage {
  /** The members, in the order of their names. */
  readonly members: Member[] = [];
  /** The events marked on the timeline. */
  readonly markers: Marker[] = [];
  /** What the run does now, shown in the status view. */
  phase: string;
  readonly #ticker: NodeJS.Timeout;

  /** Starts the status view at `phase`. */
  constructor(phase: string) {
    this.phase = phase;
    this.#ticker = setInterval(() => this.#render(), 150);
  }

  #render(): void {
    render(
      this.members.map((m) => m.mgr.state.type),
      this.phase,
    );
  }

  /** Marks `label` on the timeline now; returns when. */
  mark(label: string): number {
    const at = since();
    this.markers.push({ at, label });
    return at;
  }

  /** Shows the phase "done" one last time and stops the status view; returns the timeline's end. */
  done(): number {
    this.phase = 'done';
    this.#render();
    clearInterval(this.#ticker);
    printLog();
    return since() + 300;
  }

  /**
   * Writes the timeline (`file` in `out`, from the first member's start up
   * to `end`, `note` at the end of each member's row), closes the members,
   * and prints the verdict and the timeline's path; resolves with the exit code.
   */
  async finish(
    ok: boolean,
    verdict: { ok: string; failed: string },
    timeline: { out: string; file: string; title: string; end: number; note?: (m: Member) => string | undefined },
  ): Promise<number> {
    const start = Math.min(...this.members.map((m) => m.spans[0]?.at ?? timeline.end));
    const svgPath = writeTimeline(timeline.out, timeline.file, {
      title: timeline.title,
      rows: this.members.map((m) => {
        const note = timeline.note?.(m);
        return note === undefined ? { name: m.name, spans: m.spans } : { name: m.name, spans: m.spans, note };
      }),
      markers: this.markers,
      start,
      end: timeline.end,
      enrollers: [...new Set(enrollerLabels.values())],
    });
    await Promise.all(this.members.map((m) => m.mgr.close()));
    process.stdout.write(`\n${ok ? verdict.ok : verdict.failed}\n`);
    process.stdout.write(`timeline: ${svgPath}\n`);
    return ok ? 0 : 1;
  }

  /** Stops the status view, and closes every member and its socket. */
  async close(): Promise<void> {
    clearInterval(this.#ticker);
    await Promise.all(this.members.map((m) => m.mgr.close().then(() => m.shim.close())));
  }
}
