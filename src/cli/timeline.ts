/**
 * The demo's picture: every member's state over time, as an SVG timeline.
 *
 * @module
 */

/** A member's state from `at` (ms since the start) until the next span. */
export interface Span {
  readonly at: number;
  readonly state: string;
}

/** Something that happened to everyone (the enroller killed, back, ...), drawn as a vertical line. */
export interface Marker {
  readonly at: number;
  readonly label: string;
}

const COLORS: Record<string, string> = {
  idle: '#9ca3af',
  enrolling: '#f59e0b',
  enrolled: '#16a34a',
  reenrolling: '#dc2626',
  closed: '#6b7280',
};

const escapeXml = (text: string) => text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c);

/** Renders one row per member from its spans, up to `end` ms. */
export function timelineSvg(
  rows: ReadonlyArray<{ name: string; spans: readonly Span[] }>,
  markers: readonly Marker[],
  end: number,
): string {
  const left = 90;
  const right = 20;
  const top = 40;
  const rowHeight = 14;
  const width = 960;
  const plot = width - left - right;
  const height = top + rows.length * rowHeight + 50;
  const x = (t: number) => left + (Math.max(0, Math.min(t, end)) / end) * plot;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="16" font-size="13" font-weight="bold">Member states over time (${(end / 1000).toFixed(1)} s)</text>`,
  );
  rows.forEach((row, i) => {
    const y = top + i * rowHeight;
    parts.push(`<text x="${left - 6}" y="${y + rowHeight - 4}" text-anchor="end">${escapeXml(row.name)}</text>`);
    row.spans.forEach((span, j) => {
      const until = row.spans[j + 1]?.at ?? end;
      if (until <= span.at) return;
      const w = Math.max(0.5, x(until) - x(span.at));
      parts.push(
        `<rect x="${x(span.at).toFixed(1)}" y="${y + 1}" width="${w.toFixed(1)}" height="${rowHeight - 2}" fill="${COLORS[span.state] ?? '#000'}"><title>${escapeXml(row.name)}: ${escapeXml(span.state)} from ${(span.at / 1000).toFixed(2)} s</title></rect>`,
      );
    });
  });
  const axisY = top + rows.length * rowHeight + 4;
  for (let t = 0; t <= end; t += 1000) {
    parts.push(`<line x1="${x(t)}" y1="${axisY}" x2="${x(t)}" y2="${axisY + 4}" stroke="#333"/>`);
    if ((t / 1000) % 2 === 0) parts.push(`<text x="${x(t)}" y="${axisY + 15}" text-anchor="middle">${t / 1000}s</text>`);
  }
  for (const m of markers) {
    parts.push(
      `<line x1="${x(m.at)}" y1="${top - 6}" x2="${x(m.at)}" y2="${axisY}" stroke="#111" stroke-dasharray="4 3"/>`,
      `<text x="${x(m.at) + 3}" y="${top - 8}">${escapeXml(m.label)}</text>`,
    );
  }
  let lx = left;
  for (const [state, color] of Object.entries(COLORS)) {
    parts.push(
      `<rect x="${lx}" y="${height - 16}" width="10" height="10" fill="${color}"/>`,
      `<text x="${lx + 14}" y="${height - 7}">${state}</text>`,
    );
    lx += 95;
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

/** The p-th percentile (0..100) of `values`, by nearest rank; undefined when empty. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}
