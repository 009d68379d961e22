import { describe, expect, it } from 'vitest';
import { describeFault, type Fault, makeSchedule } from '../../chaos/schedule.js';

const options = { enrollers: 3, etcdNodes: 3, calmAtMs: 32_000, leaseTtlMs: 10_000 };

const target = (f: Fault): string =>
  f.kind === 'enroller-kill' || f.kind === 'enroller-pause' || f.kind === 'enroller-cut'
    ? `enroller:${f.enroller}`
    : f.kind === 'partition'
      ? `udp:${f.enroller}`
      : f.kind === 'etcd-kill' || f.kind === 'etcd-pause'
        ? 'etcd'
        : f.kind === 'churn'
          ? 'members'
          : 'network';

describe('the chaos schedule', () => {
  it('is a function of its seed: the same seed replays the same faults, another seed gives others', () => {
    expect(makeSchedule(7, options)).toEqual(makeSchedule(7, options));
    expect(makeSchedule(7, options)).not.toEqual(makeSchedule(8, options));
  });

  it('ends every fault before calm, never overlaps two faults on one target, and keeps etcd one member short at most', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const faults = makeSchedule(seed, options);
      expect(faults.length).toBeGreaterThan(0);
      const busy = new Map<string, number>();
      for (const f of faults) {
        expect(f.atMs).toBeGreaterThanOrEqual(0);
        expect(f.atMs + f.forMs).toBeLessThanOrEqual(options.calmAtMs);
        expect(f.atMs).toBeGreaterThanOrEqual(busy.get(target(f)) ?? 0);
        busy.set(target(f), f.atMs + f.forMs);
        expect(describeFault(f)).not.toBe('');
      }
    }
  });

  it('draws every kind of fault the issue names, and pauses and cuts past the lease TTL', () => {
    const all = Array.from({ length: 100 }, (_, i) => makeSchedule(i + 1, options)).flat();
    const kinds = new Set(all.map((f) => f.kind));
    expect([...kinds].sort()).toEqual(['churn', 'enroller-cut', 'enroller-kill', 'enroller-pause', 'etcd-kill', 'network', 'partition']);
    expect(all.some((f) => f.kind === 'enroller-pause' && f.forMs > options.leaseTtlMs)).toBe(true);
    expect(all.some((f) => f.kind === 'enroller-cut' && f.forMs > options.leaseTtlMs)).toBe(true);
    expect(all.some((f) => f.kind === 'etcd-kill' && f.leader)).toBe(true);
    expect(all.some((f) => f.kind === 'network' && f.drop > 0.25)).toBe(true);
  });

  it('draws an etcd member paused (past the lease TTL too) only when asked for: the default draw of every seed is as before', () => {
    const asked = Array.from({ length: 50 }, (_, i) => makeSchedule(i + 1, { ...options, kinds: ['etcd-pause', 'churn'] })).flat();
    expect(asked.some((f) => f.kind === 'etcd-pause' && f.leader)).toBe(true);
    expect(asked.some((f) => f.kind === 'etcd-pause' && f.forMs > options.leaseTtlMs)).toBe(true);
    expect(asked.filter((f) => f.kind === 'etcd-pause').map(describeFault)[0]).toMatch(/^SIGSTOP etcd (leader|n\d) for \d+\.\d s$/);
    const defaults = Array.from({ length: 50 }, (_, i) => makeSchedule(i + 1, options)).flat();
    expect(defaults.some((f) => f.kind === 'etcd-pause')).toBe(false);
  });

  it('--faults keeps only the kinds asked for, still a function of the seed', () => {
    const counts = Array.from({ length: 50 }, (_, i) => {
      const only = makeSchedule(i + 1, { ...options, kinds: ['enroller-cut', 'churn'] });
      expect(only).toEqual(makeSchedule(i + 1, { ...options, kinds: ['enroller-cut', 'churn'] }));
      expect(only.every((f) => f.kind === 'enroller-cut' || f.kind === 'churn')).toBe(true);
      return only.length;
    });
    expect(Math.min(...counts)).toBeGreaterThan(0);
  });
});
