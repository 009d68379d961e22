/**
 * The demo's picture: every member's state over time, as an SVG timeline.
 * Time runs from the first member's start. An enrolled member is drawn in
 * the colour of the enroller it is enrolled with; the time a member spends
 * enrolled with an enroller that is already dead (before it notices) is
 * hatched in that enroller's colour; a note at the end of a row says what
 * happened to the member (where it went, how long it took). The legend shows
 * only what is drawn.
 *
 * @module
 */

/** A member's state from `at` (ms, on the demo's clock) until the next span. */
export interface Span {
  readonly at: number;
  /** `idle`, `enrolling`, `enrolled`, `unnoticed` (enrolled, its enroller dead, not noticed yet), `reenrolling`, `closed`. */
  readonly state: string;
  /** The enroller's label, for `enrolled` and `unnoticed`. */
  readonly via?: string;
}

/** Something that happened to everyone (an enroller killed, back, ...), drawn as a vertical line. */
export interface Marker {
  readonly at: number;
  readonly label: string;
}

/** One member's row. */
export interface TimelineRow {
  readonly name: string;
  readonly spans: readonly Span[];
  /** Written right of the row, e.g. `e1 → e2, noticed after 1.51 s, back 9 ms later`. */
  readonly note?: string;
}

/** What the picture shows. */
export interface Timeline {
  readonly title: string;
  readonly rows: readonly TimelineRow[];
  readonly markers: readonly Marker[];
  /** Time zero of the picture (the first member's start), and its end, on the demo's clock. */
  readonly start: number;
  readonly end: number;
  /** The enrollers' labels, in the order of their colours. */
  readonly enrollers: readonly string[];
}

const STATE_COLORS: Record<string, string> = {
  idle: '#d1d5db',
  enrolling: '#f59e0b',
  reenrolling: '#dc2626',
  closed: '#6b7280',
};
const STATE_NAMES: Record<string, string> = {
  idle: 'idle',
  enrolling: 'enrolling',
  reenrolling: 're-enrolling (loss noticed)',
  closed: 'closed',
};
const ENROLLER_COLORS = ['#2563eb', '#16a34a', '#9333ea', '#0891b2', '#65a30d', '#c026d3'];

const escapeXml = (text: string) => text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c);

/** The fill of a span, and its legend entry. */
/** How a span is drawn, and its legend entry. */
interface Paint {
  readonly fill: string;
  readonly key: string;
  readonly label: string;
  readonly color: string;
  readonly hatched: boolean;
}

function paint(span: Span, enrollers: readonly string[]): Paint {
  if (span.state === 'enrolled' || span.state === 'unnoticed') {
    const i = Math.max(0, enrollers.indexOf(span.via ?? ''));
    const color = ENROLLER_COLORS[i % ENROLLER_COLORS.length] as string;
    const who = span.via ?? 'an enroller';
    if (span.state === 'enrolled') return { fill: color, key: `enrolled:${who}`, label: `enrolled with ${who}`, color, hatched: false };
    return { fill: `url(#hatch${i})`, key: `unnoticed:${who}`, label: `${who} dead, not noticed yet`, color, hatched: true };
  }
  const color = STATE_COLORS[span.state] ?? '#000';
  return { fill: color, key: span.state, label: STATE_NAMES[span.state] ?? span.state, color, hatched: false };
}

/** Spans with the state and enroller of the one before them are part of it (a new attempt, the same state). */
function merged(spans: readonly Span[]): Span[] {
  const out: Span[] = [];
  for (const span of spans) {
    const last = out[out.length - 1];
    if (last === undefined || last.state !== span.state || last.via !== span.via) out.push(span);
  }
  return out;
}

/** The legend's order: the story of a member, from idle to closed. */
const ORDER = ['idle', 'enrolling', 'enrolled', 'unnoticed', 'reenrolling', 'closed'];
const rank = (key: string) => ORDER.indexOf(key.split(':')[0] ?? key);
const LEGEND_PER_LINE = 4;

/** The legend: one entry per colour drawn, in the story's order, four to a line, from (`left`, `y`). */
function legendSvg(paints: Iterable<Paint>, left: number, y: number): { svg: string[]; lines: number } {
  const entries = [...paints].sort((a, b) => rank(a.key) - rank(b.key) || a.key.localeCompare(b.key));
  const svg = entries.flatMap((p, i) => {
    const lx = left + (i % LEGEND_PER_LINE) * 205;
    const ly = y + Math.floor(i / LEGEND_PER_LINE) * 16;
    return [
      `<rect x="${lx}" y="${ly}" width="10" height="10" fill="${p.fill}" stroke="${p.hatched ? p.color : 'none'}"/>`,
      `<text x="${lx + 14}" y="${ly + 9}">${escapeXml(p.label)}</text>`,
    ];
  });
  return { svg, lines: Math.ceil(entries.length / LEGEND_PER_LINE) };
}

/** The time axis at height `y` from `start` to `start + length`: ticks, their seconds, and its title. */
function axisSvg(x: (t: number) => number, start: number, length: number, y: number): string[] {
  const step = length > 20_000 ? 5000 : length > 8000 ? 2000 : 1000;
  const out: string[] = [];
  for (let t = 0; t <= length; t += step) {
    out.push(
      `<line x1="${x(start + t)}" y1="${y}" x2="${x(start + t)}" y2="${y + 4}" stroke="#333"/>`,
      `<text x="${x(start + t)}" y="${y + 15}" text-anchor="middle">${t / 1000}</text>`,
    );
  }
  const middle = (x(start) + x(start + length)) / 2;
  out.push(`<text x="${middle}" y="${y + 30}" text-anchor="middle">seconds since the first member started</text>`);
  return out;
}

/** Renders the timeline as an SVG document. */
export function timelineSvg({ title, rows, markers, start, end, enrollers }: Timeline): string {
  const left = 70;
  const noteWidth = rows.some((r) => r.note !== undefined) ? 360 : 20;
  const top = 54;
  const rowHeight = 14;
  const plot = 900 - left - 20;
  const width = left + plot + noteWidth;
  const length = Math.max(1, end - start);
  const axisY = top + rows.length * rowHeight + 4;
  const x = (t: number) => left + (Math.max(0, Math.min(t - start, length)) / length) * plot;
  const legend = new Map<string, Paint>();
  const body: string[] = [];
  rows.forEach((row, i) => {
    const y = top + i * rowHeight;
    body.push(`<text x="${left - 6}" y="${y + rowHeight - 4}" text-anchor="end">${escapeXml(row.name)}</text>`);
    const spans = merged(row.spans);
    spans.forEach((span, j) => {
      const until = Math.min(spans[j + 1]?.at ?? end, end);
      if (until <= span.at || until <= start) return;
      const p = paint(span, enrollers);
      legend.set(p.key, p);
      const w = Math.max(1, x(until) - x(span.at));
      const tip = `${row.name}: ${p.label} from ${((span.at - start) / 1000).toFixed(2)} s for ${((until - span.at) / 1000).toFixed(2)} s`;
      body.push(
        `<rect x="${x(span.at).toFixed(1)}" y="${y + 1}" width="${w.toFixed(1)}" height="${rowHeight - 2}" fill="${p.fill}"><title>${escapeXml(tip)}</title></rect>`,
      );
    });
    if (row.note !== undefined) body.push(`<text x="${left + plot + 8}" y="${y + rowHeight - 4}">${escapeXml(row.note)}</text>`);
  });
  const middleY = top + (rows.length * rowHeight) / 2;
  body.push(
    ...axisSvg(x, start, length, axisY),
    `<text x="14" y="${middleY}" text-anchor="middle" transform="rotate(-90 14 ${middleY})">members</text>`,
  );
  for (const m of markers) {
    if (m.at < start || m.at > end) continue;
    body.push(
      `<line x1="${x(m.at)}" y1="${top - 6}" x2="${x(m.at)}" y2="${axisY}" stroke="#111" stroke-dasharray="4 3"/>`,
      `<text x="${x(m.at) + 3}" y="${top - 9}">${escapeXml(m.label)}</text>`,
    );
  }
  const key = legendSvg(legend.values(), left, axisY + 44);
  const height = axisY + 44 + key.lines * 16 + 8;
  const patterns = enrollers.map(
    (_, i) =>
      `<pattern id="hatch${i}" width="5" height="5" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="5" height="5" fill="white"/><rect width="2.5" height="5" fill="${ENROLLER_COLORS[i % ENROLLER_COLORS.length]}"/></pattern>`,
  );
  return `${[
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<defs>${patterns.join('')}</defs>`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="18" font-size="13" font-weight="bold">${escapeXml(title)}</text>`,
    ...body,
    ...key.svg,
    '</svg>',
  ].join('\n')}\n`;
}

/** The p-th percentile (0..100) of `values`, by nearest rank; undefined when empty. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}
