import { describe, expect, it } from 'vitest';
import { type ChaosEvent, checkHistory, summaryLine } from '../../chaos/checker.js';

const hold = (t: number, member: string, address: number, process = member, enroller = 'e1'): ChaosEvent => ({
  kind: 'hold',
  t,
  member,
  process,
  address,
  enroller,
});
const release = (t: number, member: string, process = member): ChaosEvent => ({ kind: 'release', t, member, process });
const end = (t: number, names: Record<string, number>, boundsMs: Record<string, number> = {}): ChaosEvent => ({
  kind: 'end',
  t,
  names,
  addresses: Object.fromEntries(Object.entries(names).map(([n, a]) => [String(a), n])),
  boundsMs,
});

/** A clean run: two members, one outage of m1 that ends with the same address. */
const clean: ChaosEvent[] = [
  hold(0, 'm1', 10),
  hold(5, 'm2', 11),
  { kind: 'fault', t: 100, what: 'SIGKILL e1' },
  release(200, 'm1'),
  hold(300, 'm1', 10, 'm1', 'e2'),
  { kind: 'calm', t: 400 },
  end(1000, { m1: 10, m2: 11 }, { m1: 500, m2: 500 }),
];

describe('the chaos checker', () => {
  it('finds nothing wrong in a clean history', () => {
    expect(checkHistory(clean, { allowOverlapMs: 0 })).toEqual([]);
  });

  it('reports a planted duplicate: two live processes on one address', () => {
    const planted = [...clean, hold(600, 'm3', 11), release(700, 'm3')];
    const found = checkHistory(planted, { allowOverlapMs: 0 });
    expect(found).toEqual([
      { kind: 'duplicate', t: 600, message: 'address 11 held by m2 (m2, via e1) and m3 (m3, via e1) for 100 ms (allowed: 0 ms)' },
    ]);
  });

  it('allows an overlap within the documented lease bound after etcd freed the first binding, and only then', () => {
    const unbind: ChaosEvent = { kind: 'unbind', t: 80, name: 'a', address: 5 };
    const overlap: ChaosEvent[] = [
      hold(0, 'a', 5),
      unbind,
      hold(100, 'b', 5, 'b'),
      release(150, 'a'),
      { kind: 'calm', t: 200 },
      end(300, { b: 5 }),
    ];
    expect(checkHistory(overlap, { allowOverlapMs: 50 })).toEqual([]);
    expect(checkHistory(overlap, { allowOverlapMs: 49 }).map((v) => v.kind)).toEqual(['duplicate']);
    // the same overlap with no binding freed: a plain double assignment, whatever the allowance
    const fresh = overlap.filter((e) => e !== unbind);
    expect(checkHistory(fresh, { allowOverlapMs: 1000 }).map((v) => v.message)).toEqual([
      'address 5 held by a (a, via e1) and b (b, via e1) for 50 ms (allowed: 0 ms)',
    ]);
  });

  it('is not fooled by hostile names, a reused process id, a missing calm, or an unbind the watch records late', () => {
    // as JSON.parse builds it: "__proto__" is an own key there (an object literal would set the prototype)
    const table = JSON.parse('{"__proto__": 7, "constructor": 8}') as Record<string, number>;
    const hostile: ChaosEvent[] = [hold(0, '__proto__', 7), hold(0, 'constructor', 8), { kind: 'calm', t: 1 }, end(10, table)];
    expect(checkHistory(hostile, { allowOverlapMs: 0 })).toEqual([]);
    const reused: ChaosEvent[] = [
      hold(0, 'a', 1, 'p1'),
      release(5, 'a', 'p1'),
      hold(10, 'b', 1, 'p1'),
      { kind: 'calm', t: 11 },
      end(20, { b: 1 }),
    ];
    expect(checkHistory(reused, { allowOverlapMs: 0 }).map((v) => v.kind)).toContain('history');
    const noCalm: ChaosEvent[] = [hold(0, 'a', 1), { kind: 'fault', t: 5, what: 'x' }, end(20, { a: 1 })];
    expect(checkHistory(noCalm, { allowOverlapMs: 0 }).map((v) => v.kind)).toEqual(['history']);
    const lagging: ChaosEvent[] = [
      hold(0, 'm', 1),
      release(5, 'm'),
      hold(10, 'm', 2),
      { kind: 'unbind', t: 25, name: 'm', address: 1 },
      { kind: 'calm', t: 30 },
      end(40, { m: 2 }),
    ];
    expect(checkHistory(lagging, { allowOverlapMs: 0 }).map((v) => v.kind)).toEqual(['address-change']);
    expect(checkHistory(lagging, { allowOverlapMs: 0, watchLagMs: 20 })).toEqual([]);
  });

  it('reports a table that is not a bijection, and a member whose view differs from etcd', () => {
    const bad: ChaosEvent[] = [
      hold(0, 'm1', 10),
      { kind: 'calm', t: 1 },
      { kind: 'end', t: 10, names: { m1: 12, m2: 12 }, addresses: { '12': 'm2' }, boundsMs: {} },
    ];
    const messages = checkHistory(bad, { allowOverlapMs: 0 }).map((v) => v.message);
    expect(messages).toEqual(
      expect.arrayContaining([
        'etcd binds address 12 to both m1 and m2',
        'etcd names/m1 is 12 but addresses/12 is m2',
        'm1 (m1) holds 10 at the end, but etcd binds it to 12',
      ]),
    );
  });

  it('reports a member not back within its bound, and one not enrolled at the end', () => {
    const late: ChaosEvent[] = [
      hold(0, 'm1', 10),
      release(50, 'm1'),
      { kind: 'calm', t: 100 },
      hold(900, 'm1', 10),
      hold(0, 'm2', 11),
      release(60, 'm2'),
      end(1000, { m1: 10, m2: 11 }, { m1: 500, m2: 500 }),
    ];
    expect(checkHistory(late, { allowOverlapMs: 0 }).map((v) => [v.kind, v.message])).toEqual([
      ['convergence', 'm1 enrolled again 800 ms after the faults stopped (bound 500 ms)'],
      ['convergence', 'm2 is not enrolled at the end'],
    ]);
  });

  it('reports an address change without the binding deleted in etcd first, and accepts one after it', () => {
    const moved: ChaosEvent[] = [
      hold(0, 'm1', 10),
      release(50, 'm1'),
      hold(100, 'm1', 12),
      { kind: 'calm', t: 100 },
      end(200, { m1: 12 }, { m1: 500 }),
    ];
    expect(checkHistory(moved, { allowOverlapMs: 0 }).map((v) => v.kind)).toEqual(['address-change']);
    const freed: ChaosEvent[] = [...moved, { kind: 'unbind', t: 70, name: 'm1', address: 10 }];
    expect(checkHistory(freed, { allowOverlapMs: 0 })).toEqual([]);
  });

  it('says so when the run never ended', () => {
    expect(checkHistory([hold(0, 'm1', 1)], { allowOverlapMs: 0 }).map((v) => v.kind)).toEqual(['history']);
  });

  it('ends with one summary line', () => {
    expect(summaryLine(100, 3456, 0)).toBe('chaos: 100 schedules, 3456 faults, 0 violations');
    expect(summaryLine(1, 1, 1)).toBe('chaos: 1 schedule, 1 fault, 1 violation');
  });
});
