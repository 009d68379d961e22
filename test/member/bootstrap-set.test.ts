import { describe, expect, it } from 'vitest';
import { BootstrapSet } from '../../src/member/bootstrap-set.js';

function set(options: { random?: () => number; backoff?: (n: number) => number } = {}) {
  let t = 1000;
  const bootstraps = new BootstrapSet({
    localAddress: 'me',
    now: () => t,
    random: options.random ?? (() => 0),
    backoff: options.backoff ?? ((n) => 100 * n),
  });
  return { bootstraps, advance: (ms: number) => (t += ms), now: () => t };
}

describe('BootstrapSet', () => {
  it('learns each address once and keeps where it was first learnt', () => {
    const { bootstraps } = set();
    const a = bootstraps.learn('a', 'config');
    expect(bootstraps.learn('a', 'explicit')).toBe(a);
    expect(bootstraps.list()).toEqual([{ address: 'a', failures: 0, blockedUntil: 0, source: 'config' }]);
  });

  it('list() gives copies: changing them changes nothing', () => {
    const { bootstraps } = set();
    bootstraps.learn('a', 'config');
    const [copy] = bootstraps.list();
    (copy as { failures: number }).failures = 99;
    expect(bootstraps.list()[0]?.failures).toBe(0);
  });

  it('picks nothing when nothing is known', () => {
    expect(set().bootstraps.pick(undefined)).toBeUndefined();
  });

  it('picks in the order learnt, the last one that worked first among equals', () => {
    const { bootstraps } = set();
    for (const a of ['a', 'b', 'c']) bootstraps.learn(a, 'config');
    expect(bootstraps.pick(undefined)?.address).toBe('a');
    expect(bootstraps.pick('b')?.address).toBe('b');
  });

  it('a failure blocks the bootstrap for its backoff: the others come first, then the one unblocked soonest', () => {
    const { bootstraps, now } = set();
    const a = bootstraps.learn('a', 'config');
    const b = bootstraps.learn('b', 'config');
    bootstraps.failed(a);
    expect(a.failures).toBe(1);
    expect(a.blockedUntil).toBe(now() + 100);
    expect(bootstraps.pick('a')?.address).toBe('b');
    bootstraps.failed(b);
    bootstraps.failed(b);
    expect(b.blockedUntil).toBe(now() + 200);
    expect(bootstraps.pick(undefined)?.address).toBe('a');
  });

  it('a failure with an explicit delay uses it instead of the backoff', () => {
    const { bootstraps, now } = set({ backoff: () => 1_000_000 });
    const a = bootstraps.learn('a', 'config');
    bootstraps.failed(a, 5);
    expect(a.blockedUntil).toBe(now() + 5);
  });

  it('a success forgets the failures and the backoff', () => {
    const { bootstraps } = set();
    const a = bootstraps.learn('a', 'config');
    bootstraps.failed(a);
    bootstraps.succeeded(a);
    expect(a).toMatchObject({ failures: 0, blockedUntil: 0 });
  });

  it('calls for a new lookup once every known bootstrap failed in this round, and not before', () => {
    const { bootstraps } = set();
    const a = bootstraps.learn('a', 'config');
    const b = bootstraps.learn('b', 'config');
    bootstraps.failed(a);
    expect(bootstraps.allFailedSinceDiscovery()).toBe(false);
    bootstraps.failed(b);
    expect(bootstraps.allFailedSinceDiscovery()).toBe(true);
    bootstraps.newRound();
    expect(bootstraps.allFailedSinceDiscovery()).toBe(false);
  });

  describe('learnAdvertised', () => {
    it('learns the enrollers listed, never the member itself nor an empty entry, and returns the new ones', () => {
      const { bootstraps } = set();
      bootstraps.learn('a', 'config');
      expect(bootstraps.learnAdvertised(['a', 'x', '', 'me'], 'a')).toEqual(['x']);
      expect(bootstraps.list().map((b) => [b.address, b.source])).toEqual([
        ['a', 'config'],
        ['x', 'advertised'],
      ]);
    });

    it('drops advertised enrollers the enroller no longer lists, and keeps the others', () => {
      const { bootstraps } = set();
      bootstraps.learn('c', 'config');
      bootstraps.learnAdvertised(['x', 'y'], 'c');
      bootstraps.learn('e', 'explicit');
      bootstraps.learnAdvertised(['y'], 'c');
      expect(bootstraps.list().map((b) => b.address)).toEqual(['c', 'y', 'e']);
    });

    it('keeps the advertising enroller itself even when it does not list itself', () => {
      const { bootstraps } = set();
      bootstraps.learnAdvertised(['x'], 'c');
      bootstraps.learnAdvertised(['y'], 'x');
      expect(bootstraps.has('x')).toBe(true);
    });

    it('learns new ones in a random order (Fisher-Yates with the given random)', () => {
      const first = set({ random: () => 0 }).bootstraps;
      first.learnAdvertised(['x', 'y', 'z'], 'c');
      const last = set({ random: () => 0.999 }).bootstraps;
      last.learnAdvertised(['x', 'y', 'z'], 'c');
      expect(first.list().map((b) => b.address)).toEqual(['y', 'z', 'x']);
      expect(last.list().map((b) => b.address)).toEqual(['x', 'y', 'z']);
    });
  });

  describe('arrange', () => {
    it('puts the preferred order first, then the others in the order learnt, keeping their failures', () => {
      const { bootstraps } = set();
      const e = bootstraps.learn('e', 'explicit');
      bootstraps.failed(e);
      bootstraps.learn('c', 'config');
      bootstraps.arrange(
        [
          { address: 'c', source: 'config' },
          { address: 'd1', source: 'dns' },
        ],
        undefined,
      );
      expect(bootstraps.list().map((b) => b.address)).toEqual(['c', 'd1', 'e']);
      expect(bootstraps.list()[2]?.failures).toBe(1);
    });

    it('forgets an enroller the DNS no longer lists, unless it is the one of the last enrollment', () => {
      const { bootstraps } = set();
      bootstraps.arrange(
        [
          { address: 'd1', source: 'dns' },
          { address: 'd2', source: 'dns' },
        ],
        undefined,
      );
      bootstraps.arrange([], 'd2');
      expect(bootstraps.list().map((b) => b.address)).toEqual(['d2']);
    });

    it('never lists the member itself from the DNS', () => {
      const { bootstraps } = set();
      bootstraps.arrange([{ address: 'me', source: 'dns' }], undefined);
      expect(bootstraps.size).toBe(0);
    });
  });
});
