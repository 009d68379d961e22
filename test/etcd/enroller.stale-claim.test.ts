/**
 * A stale second claim of an address in etcd (`names/ghost=2` while `addresses/2=m3` and `names/m3=2`), released by
 * the enroller that restored it: the release leaves `addresses/2` (it names m3), and the pool must not take 2 for free.
 * Found by a review (2026-12-06) of the fix that keeps that key: the pool freed 2 with ghost, and nothing told it
 * otherwise, so every newcomer offered 2 was told "busy" for ever.
 */
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { enrol, enrollerOnMiniEtcd, PREFIX, started } from '../support/mini-etcd-enroller.js';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date', 'performance'] });
});
afterEach(() => vi.useRealTimers());

it('after releasing a stale second claim, the pool knows the address is still the holder’s, and a newcomer gets another', async () => {
  const { sim, net, e1 } = await enrollerOnMiniEtcd(
    { random: () => 0.4 }, // probes 2 first
    {
      before: (s) =>
        s.write([
          [`${PREFIX}names/ghost`, '2'],
          [`${PREFIX}names/m3`, '2'],
          [`${PREFIX}addresses/2`, 'm3'],
          [`${PREFIX}members/m3/e2`, '', 'lease-e2'],
        ]),
    },
  );
  try {
    await vi.advanceTimersByTimeAsync(10_000); // ghost is served by nobody: held, then released
    expect(sim.kv.has(`${PREFIX}names/ghost`)).toBe(false);
    expect(sim.kv.get(`${PREFIX}addresses/2`)?.value.toString()).toBe('m3');
    const z = await enrol(net, 'z');
    await vi.advanceTimersByTimeAsync(0);
    expect(started(z)).toMatchObject({ result: 0 }); // before: -5, "busy: 8 addresses were taken by other enrollers meanwhile"
    expect(e1.members().map((m) => m.address)).not.toContain(2);
  } finally {
    await e1.stop();
    net.close();
  }
});
