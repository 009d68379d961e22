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
    s.released('m', atSend, 8);
    expect([s.has('m'), s.written('m')]).toEqual([true, 9]);
    s.released('m', s.token('m'), 10);
    expect([s.has('m'), s.written('m')]).toEqual([false, undefined]);
  });

  it('a success before a release that committed counts no more, even if a call of the name was sent since (found by a review, 2026-12-05)', () => {
    const s = new ServedNames();
    const first = s.take('a');
    s.succeeded('a', first, 5);
    s.wrote('a', 5);
    const again = s.take('a'); // a bind again, sent before the release's answer
    s.released('a', first, 6); // the release committed at 6: the mark of 5 is gone
    s.drop('a', again); // the bind again is refused
    expect(s.has('a')).toBe(false);
  });

  it('a release answered after a later call of the name failed lets the name go (found by a review, 2026-12-06)', () => {
    const s = new ServedNames();
    const b1 = s.take('a');
    s.succeeded('a', b1, 5);
    s.wrote('a', 5);
    const atSend = s.token('a'); // the release is sent (it commits at 6)
    const b3 = s.take('a'); // a bind sent after the release committed (at 8, its answer lost)
    s.drop('a', b3); // kept served: the success of b1 still counts, the release's answer is not in yet
    expect(s.has('a')).toBe(true);
    s.released('a', atSend, 6); // b1's success counts no more, and nothing else keeps a served
    expect(s.has('a')).toBe(false);
  });

  it('its mark known deleted (a release whose answer never came) lets the name go, unless a call is in flight or committed after', () => {
    const s = new ServedNames();
    s.succeeded('a', s.take('a'), 5);
    s.wrote('a', 5);
    s.markGone('a', 6); // the watch shows the mark deleted at 6: the release committed
    expect([s.has('a'), s.written('a')]).toEqual([false, undefined]);
    s.drop('a', s.take('a')); // a later bind that got no answer: nothing keeps a served
    expect(s.has('a')).toBe(false);
    const b = s.take('b');
    s.succeeded('b', b, 7);
    const again = s.take('b'); // a bind again in flight
    s.markGone('b', 8);
    expect(s.has('b')).toBe(true); // its answer decides
    s.wrote('b', 9); // committed after the deletion: its mark is there
    s.succeeded('b', again, 9);
    s.markGone('b', 8); // the same deletion seen again (a table read) changes nothing
    expect([s.has('b'), s.written('b')]).toEqual([true, 9]);
  });

  it('a call committed before its mark was known deleted counts for nothing, whenever its answer comes (a review, 2026-12-06)', () => {
    const s = new ServedNames();
    s.succeeded('a', s.take('a'), 5); // a bind: a served
    const confirm = s.take('a'); // a confirm commits at 6; its answer is late
    s.markGone('a', 7); // a release committed at 7, its answer lost; the watch shows the mark deleted
    expect(s.has('a')).toBe(true); // the confirm in flight decides
    s.wrote('a', 6); // answered now: its mark went at 7
    s.succeeded('a', confirm, 6);
    expect([s.has('a'), s.written('a')]).toEqual([false, undefined]);
    // A re-bind committed with its answer lost moved the mark to 6; the deletion at 7 still undoes the success of 5.
    s.succeeded('c', s.take('c'), 5);
    s.drop('c', s.take('c'));
    expect(s.has('c')).toBe(true);
    s.markGone('c', 7);
    expect(s.has('c')).toBe(false);
  });

  it('keeps the latest mark written whatever order the answers come in; a deletion forgets the marks before it only', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 1000 }), { minLength: 1, maxLength: 20 }), (revisions) => {
        const s = new ServedNames();
        for (const r of revisions) s.wrote('m', r);
        const latest = Math.max(...revisions);
        expect(s.written('m')).toBe(latest);
        s.markGone('m', latest - 1);
        expect(s.written('m')).toBe(latest);
        s.markGone('m', latest + 1);
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

  it('a failed call leaves a name served while another call of it is in flight, or after one succeeded, until the name is let go', () => {
    const s = new ServedNames();
    s.succeeded('m', s.take('m'), 3); // m's first bind succeeded
    s.drop('m', s.take('m')); // m bound again: that call fails
    expect(s.has('m')).toBe(true);
    s.forget('m'); // a leave
    s.drop('m', s.take('m')); // bound again after the leave: fails
    expect(s.has('m')).toBe(false);
    const first = s.take('n');
    const second = s.take('n'); // two calls of n in flight
    s.drop('n', second); // the newer fails: the older's answer decides
    expect(s.has('n')).toBe(true);
    s.drop('n', first); // both failed: n is not served
    expect(s.has('n')).toBe(false);
    const bind = s.take('o');
    const confirm = s.take('o');
    s.drop('o', confirm); // a confirm fails while a bind is in flight
    s.succeeded('o', bind, 7); // the bind succeeds: o is served, whatever the confirm did
    expect(s.has('o')).toBe(true);
    s.wrote('o', 7);
    s.markGone('o', 8); // its mark deleted (a leave committed)
    s.drop('o', s.take('o'));
    expect(s.has('o')).toBe(false);
    const before = s.take('p'); // sent before p is let go
    s.forget('p');
    const after = s.take('p');
    s.succeeded('p', before, 9); // counts for nothing now
    s.drop('p', after);
    expect(s.has('p')).toBe(false);
    const early = s.take('q'); // sent before a renewal
    s.clear();
    const late = s.take('q');
    s.succeeded('q', early, 10);
    s.drop('q', late);
    expect(s.has('q')).toBe(false);
  });
});
