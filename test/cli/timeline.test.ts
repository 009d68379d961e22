/** The demo's SVG timeline, rendered from the shape of an `--ha` run. */
import { describe, expect, it } from 'vitest';
import { type Span, type Timeline, timelineSvg } from '../../src/cli/timeline.js';

/** Three enrollers; m01 moves from e1 (killed at 3,000) to e2, m02 stays with e3; the clock starts at 1,000 (etcd's start before it). */
function haTimeline(): Timeline {
  const m01: Span[] = [
    { at: 1000, state: 'idle' },
    { at: 1001, state: 'enrolling' },
    { at: 1050, state: 'enrolled', via: 'e1' },
    { at: 3000, state: 'unnoticed', via: 'e1' },
    { at: 4500, state: 'reenrolling' },
    { at: 4505, state: 'reenrolling' }, // a second attempt: the same bar
    { at: 4530, state: 'enrolled', via: 'e2' },
  ];
  const m02: Span[] = [
    { at: 1002, state: 'enrolling' },
    { at: 1060, state: 'enrolled', via: 'e3' },
  ];
  return {
    title: '2 members, 3 enrollers on one etcd',
    rows: [
      { name: 'm01', spans: m01, note: 'e1 → e2: noticed in 1.50 s, enrolled 15 ms later, same address' },
      { name: 'm02', spans: m02 },
    ],
    markers: [{ at: 3000, label: 'e1 killed (SIGKILL)' }],
    start: 1000,
    end: 6000,
    enrollers: ['e1', 'e2', 'e3'],
  };
}

/** The texts of `<text>` elements, unescaped. */
const texts = (svg: string) =>
  [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map(([, t]) => (t ?? '').replaceAll('&gt;', '>').replaceAll('&amp;', '&'));

describe('timelineSvg', () => {
  it('shows which enroller each member is with, the kill, where the member went, axis titles, and a legend of what is drawn', () => {
    const svg = timelineSvg(haTimeline());
    const words = texts(svg);
    expect(words).toContain('e1 killed (SIGKILL)');
    expect(words).toContain('e1 → e2: noticed in 1.50 s, enrolled 15 ms later, same address');
    expect(words).toContain('seconds since the first member started');
    expect(words).toContain('members');
    const legend = [
      'idle',
      'enrolling',
      'enrolled with e1',
      'enrolled with e2',
      'enrolled with e3',
      'e1 dead, not noticed yet',
      're-enrolling (loss noticed)',
    ];
    // In the story's order, once each, and nothing that is not drawn (no member is closed; e2 and e3 never died).
    expect(words.filter((w) => legend.includes(w) || /closed|dead|enrolled with/.test(w))).toEqual(legend);
    // The enrollers have colours of their own, and the unnoticed time is hatched in e1's.
    const fill = (label: string) => new RegExp(`fill="([^"]+)"[^>]*/>\\s*<text[^>]*>${label}<`).exec(svg)?.[1];
    const colours = ['e1', 'e2', 'e3'].map((e) => fill(`enrolled with ${e}`));
    expect(new Set(colours).size).toBe(3);
    expect(fill('e1 dead, not noticed yet')).toBe('url(#hatch0)');
    expect(/<pattern id="hatch0"[^>]*><rect[^>]*\/><rect width="2.5" height="5" fill="([^"]+)"/.exec(svg)?.[1]).toBe(colours[0]);
  });

  it('starts the time axis at the first member, not before', () => {
    const svg = timelineSvg(haTimeline());
    // The first bar begins at the plot's left edge, where the axis says 0; the axis ends at 5 (6,000 - 1,000 ms).
    const firstBar = /<rect x="([\d.]+)" y="[\d.]+" width="[\d.]+" height="12" fill="#d1d5db"><title>m01: idle from 0.00 s/.exec(svg);
    const zero = /<text x="([\d.]+)" y="[\d.]+" text-anchor="middle">0<\/text>/.exec(svg);
    expect(firstBar?.[1]).toBeDefined();
    expect(Number(firstBar?.[1])).toBe(Number(zero?.[1]));
    const ticks = texts(svg).filter((w) => /^\d+$/.test(w));
    expect(ticks).toEqual(['0', '1', '2', '3', '4', '5']);
  });

  it('draws repeated spans of one state as one bar, with its whole duration', () => {
    const svg = timelineSvg(haTimeline());
    const bars = [...svg.matchAll(/<title>m01: re-enrolling \(loss noticed\) from ([\d.]+) s for ([\d.]+) s<\/title>/g)];
    expect(bars.map(([, from, long]) => [from, long])).toEqual([['3.50', '0.03']]);
  });

  it('draws only what falls in the picture, and escapes names', () => {
    const t = haTimeline();
    const svg = timelineSvg({
      ...t,
      rows: [{ name: 'a<&>"b', spans: [{ at: 1000, state: 'enrolled', via: 'e2' }] }],
      markers: [{ at: 500, label: 'before the start' }],
    });
    expect(svg).toContain('a&lt;&amp;&gt;&quot;b');
    expect(svg).not.toContain('before the start');
    expect(texts(svg).filter((w) => /enrolled with|dead|idle|enrolling/.test(w))).toEqual(['enrolled with e2']);
  });
});
