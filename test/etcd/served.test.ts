/** ServedNames: a call answered late undoes nothing a newer call on the same name did. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ServedNames } from '../../src/etcd/served.js';

describe('ServedNames', () => {
  it('a failed call gives the name up only while it is still its own', () => {
    const s = new ServedNames();
    const older = s.take('m');
    const newer = s.take('m');
    s.drop('m', older); // the older call failed late
    expect(s.has('m')).toBe(true);
    s.drop('m', newer);
    expect(s.has('m')).toBe(false);
  });

  it('a release committed clears the name and its mark, unless a bind or confirm of it was sent since', () => {
    const s = new ServedNames();
    s.wrote('m', 7);
    const atSend = s.token('m'); // (not served: the hold ended)
    s.take('m'); // bound again before the release's answer
    s.wrote('m', 9);
    s.released('m', atSend);
    expect([s.has('m'), s.written('m')]).toEqual([true, 9]);
    s.released('m', s.token('m'));
    expect([s.has('m'), s.written('m')]).toEqual([false, undefined]);
  });

  it('keeps the latest mark written whatever order the answers come in, and deletes only the one at its revision', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 1000 }), { minLength: 1, maxLength: 20 }), (revisions) => {
        const s = new ServedNames();
        for (const r of revisions) s.wrote('m', r);
        const latest = Math.max(...revisions);
        expect(s.written('m')).toBe(latest);
        s.deleted('m', latest - 1);
        expect(s.written('m')).toBe(latest);
        s.deleted('m', latest);
        expect(s.written('m')).toBeUndefined();
      }),
    );
  });

  it('a leave forgets the name whoever took it; clear forgets every name and mark', () => {
    const s = new ServedNames();
    s.take('a');
    s.take('b');
    s.wrote('b', 3);
    s.forget('a');
    expect([s.has('a'), s.has('b'), s.size]).toEqual([false, true, 1]);
    s.clear();
    expect([s.size, s.written('b')]).toEqual([0, undefined]);
  });

  it('a failed call of a name a call of which succeeded before (its mark written) leaves it served; of a name never served, not', () => {
    const s = new ServedNames();
    s.take('m');
    s.wrote('m', 10); // m's first bind succeeded
    s.drop('m', s.take('m')); // m bound again: that call fails
    expect(s.has('m')).toBe(true);
    s.deleted('m', 10); // its mark went (a leave)
    s.drop('m', s.take('m'));
    expect(s.has('m')).toBe(false);
    const first = s.take('n');
    const second = s.take('n'); // two calls of n in flight, neither answered
    s.drop('n', first); // (a newer call took n: nothing)
    expect(s.has('n')).toBe(true);
    s.drop('n', second); // both failed: n is not served
    expect(s.has('n')).toBe(false);
  });
});
