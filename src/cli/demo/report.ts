/**
 * The demo's results: the summary table and the SVG timeline.
 *
 * @module
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { percentile, type Timeline, timelineSvg } from '../timeline.js';

const fmt = (v: number | undefined, unit = 'ms') => (v === undefined ? '-' : `${v.toFixed(1)} ${unit}`);

/** The median and the 99th percentile of `values`, in ms. */
export const spread = (values: number[]) => `p50 ${fmt(percentile(values, 50))}   p99 ${fmt(percentile(values, 99))}`;

/** Prints the summary table. */
export function printSummary(rows: Array<[string, string]>): void {
  const width = Math.max(...rows.map(([k]) => k.length));
  process.stdout.write(`\nSummary\n${rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n')}\n`);
}

/** Writes the SVG timeline as `file` into `out`; returns its path. */
export function writeTimeline(out: string, file: string, timeline: Timeline): string {
  const outDir = resolve(out);
  mkdirSync(outDir, { recursive: true });
  const svgPath = join(outDir, file);
  writeFileSync(svgPath, timelineSvg(timeline));
  return svgPath;
}
