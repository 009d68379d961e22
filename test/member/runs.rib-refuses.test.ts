import { afterEach, expect, it, vi } from 'vitest';
import { decodeCdapMessage, MemoryRib, OpCode, type RibObject } from '../../src/index.js';
import { cleanup, member, withEnroller } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

/** A RIB whose writes fail while `broken` (disk full, quota, ...); heals itself after 2,000 failures so the test ends. */
class FlakyRib extends MemoryRib {
  broken = false;
  failures = 0;
  override write(object: RibObject): void {
    if (this.broken && ++this.failures <= 2000) throw new Error('disk full');
    super.write(object);
  }
}

it('a member RIB that refuses writes during recovery: each failed re-enrollment waits its backoff (no back-to-back loop), and the member is back once the RIB works', async () => {
  vi.useFakeTimers();
  const { net } = await withEnroller();
  const rib = new FlakyRib();
  const { mgr } = member(net, 'm', { heartbeatIntervalSecs: 1, connectionTimeoutSecs: 3 }, { rib });
  await mgr.enrolWithBootstrap('bootstrap');
  mgr.startConnectionMonitoring();
  const connects: number[] = [];
  net.tap((p) => {
    if (p.from === 'm' && decodeCdapMessage(p.pdu).opCode === OpCode.M_CONNECT) connects.push(performance.now());
  });
  net.partition('m', 'bootstrap');
  await vi.advanceTimersByTimeAsync(3100); // lost, recovery starts
  rib.broken = true;
  net.heal('m', 'bootstrap');
  const t0 = performance.now();
  await vi.advanceTimersByTimeAsync(2000);
  const inWindow = connects.filter((t) => t >= t0);
  expect(inWindow.length).toBeLessThan(20); // with backoff >= retransmitMs (250 ms): at most ~8 in 2 s
  rib.broken = false; // the disk has room again: recovery, still trying, completes
  await vi.advanceTimersByTimeAsync(60_000);
  expect(mgr.state.type).toBe('enrolled');
});
