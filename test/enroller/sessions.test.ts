import { describe, expect, it } from 'vitest';
import { MAX_PENDING_SPANS } from '../../src/enroller/sessions.js';
import { sessionTable } from './session-table.js';

const RETRANSMIT_MS = 100;
const PENDING_MS = 5000;

const table = (running = true) => sessionTable({ running, retransmitMs: RETRANSMIT_MS, pendingTimeoutMs: PENDING_MS });

const bytes = (s: string) => new TextEncoder().encode(s);

describe('SessionTable', () => {
  it('the sweep sends M_STOP again while its M_STOP_R is missing, doubling the interval up to 8 times the first', () => {
    const { sessions, clock, sent, session } = table();
    sessions.set('shim-a', session('a', 'shim-a', { stopInvokeId: 7, burst: [bytes('START_R'), bytes('CREATE'), bytes('STOP')] }));
    clock.advance(3000);
    expect(sent.every((s) => s.to === 'shim-a' && s.pdu === 'STOP')).toBe(true); // only the M_STOP, never the rest of the burst
    const gaps = sent.slice(1).map((s, i) => s.at - (sent[i]?.at ?? 0));
    expect(sent[0]?.at).toBe(1000 + RETRANSMIT_MS);
    expect(gaps).toEqual([200, 400, 800, 800]);
  });

  it('the sweep does nothing to an enrollment that has not sent its M_STOP yet (a refusal it answered included)', () => {
    const { sessions, clock, sent, session } = table();
    sessions.set('shim-a', session('a', 'shim-a'));
    sessions.set('shim-b', session('b', 'shim-b', { burst: [bytes('START_R refused')] }));
    clock.advance(PENDING_MS);
    expect(sent).toEqual([]);
  });

  it('the sweep forgets an enrollment older than the pending timeout, once, and its address goes back', () => {
    const { sessions, clock, abandoned, session } = table();
    sessions.set('shim-a', session('a', 'shim-a', { startInvokeId: 2 }));
    clock.advance(PENDING_MS - RETRANSMIT_MS);
    expect(sessions.get('shim-a')).toBeDefined();
    expect(sessions.serving('a')).toBe(true);
    clock.advance(2 * RETRANSMIT_MS);
    expect(sessions.get('shim-a')).toBeUndefined();
    expect(sessions.serving('a')).toBe(false);
    expect(abandoned).toEqual(['a']);
    clock.advance(PENDING_MS);
    expect(abandoned).toEqual(['a']);
  });

  it('an enrollment whose member keeps speaking outlives the pending timeout since M_CONNECT; it is forgotten once the member has been silent that long', () => {
    const { sessions, clock, abandoned, session } = table();
    const slow = session('a', 'shim-a', { startInvokeId: 2 });
    sessions.set('shim-a', slow);
    clock.advance(PENDING_MS - RETRANSMIT_MS);
    slow.lastSeenAt = clock.now(); // its M_START, late
    clock.advance(PENDING_MS - RETRANSMIT_MS); // almost twice the timeout since M_CONNECT
    expect(sessions.get('shim-a')).toBe(slow);
    expect(abandoned).toEqual([]);
    clock.advance(2 * RETRANSMIT_MS);
    expect(sessions.get('shim-a')).toBeUndefined();
    expect(abandoned).toEqual(['a']);
  });

  it('an enrollment is forgotten MAX_PENDING_SPANS pending timeouts after its M_CONNECT, however often its member speaks', () => {
    expect(MAX_PENDING_SPANS).toBe(4); // SECURITY.md and PROTOCOL.md §8 promise 4 x pendingTimeoutMs (an audit, 2026-12-06)
    const { sessions, clock, abandoned, session } = table();
    const chatty = session('a', 'shim-a', { startInvokeId: 2 });
    sessions.set('shim-a', chatty);
    for (let t = 0; t < MAX_PENDING_SPANS * PENDING_MS - RETRANSMIT_MS; t += 1000) {
      clock.advance(1000);
      chatty.lastSeenAt = clock.now();
    }
    expect(sessions.get('shim-a')).toBe(chatty);
    clock.advance(2 * RETRANSMIT_MS);
    chatty.lastSeenAt = clock.now();
    clock.advance(RETRANSMIT_MS);
    expect(abandoned).toEqual(['a']);
  });

  it('an unproven candidate expires silently; a proven one replaces the enrollment it found, which is abandoned', () => {
    const { sessions, clock, abandoned, session } = table();
    const first = session('a', 'shim-a');
    sessions.set('shim-a', first);
    const candidate = session('a', 'shim-a', { connectInvokeId: 9 });
    sessions.setCandidate('shim-a', candidate);
    expect(sessions.inProgress).toBe(2);
    expect(sessions.size).toBe(1);
    sessions.promote('shim-a', candidate);
    expect(sessions.get('shim-a')).toBe(candidate);
    expect(sessions.candidate('shim-a')).toBeUndefined();
    expect(abandoned).toEqual(['a']);
    const late = session('b', 'shim-b');
    sessions.setCandidate('shim-b', late);
    clock.advance(PENDING_MS + 2 * RETRANSMIT_MS);
    expect(sessions.candidate('shim-b')).toBeUndefined();
    expect(abandoned).toEqual(['a', 'a']); // the promoted one timed out too; the candidate went without a word
  });

  it("the same member asking again takes over its replaced enrollment's binding; another name, a contested one or one with nothing bound abandons it", () => {
    const { sessions, abandoned, session } = table();
    const bound = { address: 7, newBinding: true, heldUntil: 900, boundUnder: 3 };
    sessions.set('shim-a', session('a', 'shim-a', { startInvokeId: 2, ...bound }));
    const again = session('a', 'shim-a', { connectInvokeId: 3 });
    sessions.replace('shim-a', again);
    expect(sessions.get('shim-a')).toBe(again);
    expect(sessions.holding('a')).toBe(again);
    expect(again).toMatchObject(bound);
    expect(abandoned).toEqual([]);
    for (const [name, over] of [
      ['b', {}],
      ['a', { contested: true }],
    ] as const) {
      sessions.set('shim-a', session('a', 'shim-a', { address: 7 }));
      const other = session(name, 'shim-a', { connectInvokeId: 5, ...over });
      sessions.replace('shim-a', other);
      expect(sessions.get('shim-a')).toBe(other);
      expect(other.address).toBeUndefined();
    }
    sessions.set('shim-a', session('a', 'shim-a'));
    sessions.replace('shim-a', session('a', 'shim-a', { connectInvokeId: 9 }));
    expect(abandoned).toEqual(['a', 'a', 'a']);
  });

  it('a contested enrollment holds its name only once it wins it', () => {
    const { sessions, session } = table();
    const contested = session('a', 'shim-new', { contested: true, startInvokeId: 2 });
    sessions.set('shim-new', contested);
    expect(sessions.holding('a')).toBeUndefined();
    sessions.won(contested);
    expect(sessions.holding('a')).toBe(contested);
  });

  it('runs one interval only while enrollments are in progress and the enroller serves', () => {
    const { sessions, clock, session } = table();
    expect(clock.pending).toBe(0);
    sessions.set('shim-a', session('a', 'shim-a'));
    sessions.set('shim-b', session('b', 'shim-b'));
    expect(clock.pending).toBe(1);
    sessions.delete('shim-a');
    expect(clock.pending).toBe(1);
    sessions.delete('shim-b');
    expect(clock.pending).toBe(0);
    sessions.set('shim-c', session('c', 'shim-c'));
    sessions.clear();
    expect(clock.pending).toBe(0);
    const stopped = table(false);
    stopped.sessions.set('shim-a', stopped.session('a', 'shim-a'));
    expect(stopped.clock.pending).toBe(0);
  });

  it('at exactly the pending timeout an enrollment and a candidate are kept; one sweep later they are forgotten', () => {
    const { sessions, clock, session } = table();
    clock.advance(1000); // not created at time 0
    sessions.set('shim-a', session('a', 'shim-a'));
    sessions.setCandidate('shim-b', session('b', 'shim-b'));
    clock.advance(PENDING_MS);
    expect([sessions.get('shim-a')?.name, sessions.candidate('shim-b')?.name]).toEqual(['a', 'b']);
    clock.advance(RETRANSMIT_MS);
    expect([sessions.get('shim-a'), sessions.candidate('shim-b')]).toEqual([undefined, undefined]);
  });

  it('an enrollment with an address it took over is serving its name before its M_START', () => {
    const { sessions, session } = table();
    sessions.set('shim-a', session('a', 'shim-a', { address: 7 }));
    expect(sessions.serving('a')).toBe(true);
    sessions.set('shim-b', session('b', 'shim-b'));
    expect(sessions.serving('b')).toBe(false);
  });

  it('forgetting a contested enrollment leaves the name to its holder; a contested one that won holds it', () => {
    const { sessions, session } = table();
    const holder = session('a', 'shim-a');
    sessions.set('shim-a', holder);
    const contender = session('a', 'shim-b', { contested: true });
    sessions.set('shim-b', contender);
    expect(sessions.holding('a')).toBe(holder);
    sessions.delete('shim-b');
    expect(sessions.holding('a')).toBe(holder);
    sessions.set('shim-b', contender);
    sessions.won(contender);
    expect(contender.contested).toBe(false);
    expect(sessions.holding('a')).toBe(contender);
  });

  it('abandoning an enrollment that was replaced meanwhile gives its address back and leaves the newer one', () => {
    const { sessions, abandoned, session } = table();
    const older = session('a', 'shim-a');
    sessions.set('shim-a', older);
    const newer = session('a', 'shim-a', { connectInvokeId: 4 });
    sessions.set('shim-a', newer);
    sessions.abandon('shim-a', older);
    expect(sessions.get('shim-a')).toBe(newer);
    expect(abandoned).toEqual(['a']);
  });
});

describe('SessionTable: enrollments refused for good', () => {
  it('are kept but not in progress, until answered anew, replaced, forgotten or cleared; the sweep still forgets them', () => {
    const { sessions, session, clock } = table();
    const a = session('a', 'a-shim');
    const b = session('b', 'b-shim');
    sessions.set('a-shim', a);
    sessions.set('b-shim', b);
    sessions.refused(a, true);
    sessions.refused(a, true); // twice is once
    expect([sessions.size, sessions.inProgress, sessions.get('a-shim')]).toEqual([1, 1, a]);
    sessions.refused(a, false); // answered anew
    expect(sessions.inProgress).toBe(2);
    sessions.refused(a, true);
    sessions.set('a-shim', session('a', 'a-shim')); // a new M_CONNECT there
    expect(sessions.inProgress).toBe(2);
    sessions.refused(b, true);
    sessions.delete('b-shim');
    expect(sessions.inProgress).toBe(1);
    sessions.refused(session('c', 'c-shim'), true); // not in the table: nothing
    expect(sessions.inProgress).toBe(1);
    const left = sessions.get('a-shim');
    if (left === undefined) throw new Error('unreachable');
    sessions.refused(left, true);
    expect(sessions.inProgress).toBe(0);
    clock.advance(PENDING_MS + RETRANSMIT_MS); // the sweep runs while refused ones are kept, and forgets them
    expect([sessions.get('a-shim'), sessions.inProgress]).toEqual([undefined, 0]);
    sessions.set('d-shim', session('d', 'd-shim'));
    expect(sessions.inProgress).toBe(1);
    sessions.clear();
    expect(sessions.inProgress).toBe(0);
  });
});

// Found by a review (2026-12-07): refused ones counting for no place, a flood of M_CONNECTs and M_STARTs against a
// full pool kept one each for the pending timeout, with no bound.
it('keeps at most maxRefused enrollments refused for good: one more is forgotten at once', () => {
  const { sessions, session } = sessionTable({ maxRefused: 2 });
  for (const name of ['a', 'b', 'c']) {
    const s = session(name, `${name}-shim`);
    sessions.set(`${name}-shim`, s);
    sessions.refused(s, true);
  }
  expect(['a-shim', 'b-shim', 'c-shim'].map((from) => sessions.get(from) !== undefined)).toEqual([true, true, false]);
  expect(sessions.inProgress).toBe(0);
  sessions.delete('a-shim');
  const d = session('d', 'd-shim');
  sessions.set('d-shim', d);
  sessions.refused(d, true); // room again
  expect(sessions.get('d-shim')).toBe(d);
});
