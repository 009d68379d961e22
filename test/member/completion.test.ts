/**
 * The end of a successful attempt, pinned where the mutation run found it
 * unchecked: a RIB that cannot store the result, the log line of learned
 * alternates, and what counts as a recovery.
 */
import { afterEach, expect, it, vi } from 'vitest';
import { MemoryNetwork, MemoryRib, RibError, type RibObject } from '../../src/index.js';
import { cleanup, member, withEnroller } from '../support/helpers.js';
import { recordingLogger } from '../support/logs.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

it('a RIB that cannot store the enrolled state fails the enrollment with RibError naming why, the write error its cause', async () => {
  vi.useFakeTimers();
  const { net } = await withEnroller();
  const cause = new Error('disk full');
  class FullRib extends MemoryRib {
    override write(_: RibObject): void {
      throw cause;
    }
  }
  const { mgr } = member(net, 'm', { maxRetries: 1 }, { rib: new FullRib() });
  const outcome = mgr.enrolWithBootstrap('bootstrap').catch((err: unknown) => err);
  await vi.advanceTimersByTimeAsync(1000);
  const error = await outcome;
  expect(error).toBeInstanceOf(RibError);
  expect((error as RibError).message).toBe('cannot store the enrolled state: disk full');
  expect((error as RibError).cause).toBe(cause);
});

it('the alternates an enroller advertises are logged once, at debug, when learned', async () => {
  vi.useFakeTimers();
  const net = new MemoryNetwork({ seed: 6 });
  await withEnroller({ alternates: ['backup-1', 'backup-2'] }, net);
  const { logger, lines } = recordingLogger();
  const { mgr } = member(net, 'm', {}, { logger });
  await mgr.enrolWithBootstrap('bootstrap');
  await mgr.reEnroll(); // the same alternates again: nothing new to say
  const advertised = lines.filter((l) => (l.fields as { event?: string }).event === 'bootstraps:advertised');
  expect(advertised).toHaveLength(1);
  const [line] = advertised as [(typeof advertised)[number]];
  const { learned } = line.fields as { learned: string[] };
  expect([...learned].sort()).toEqual(['backup-1', 'backup-2']);
  expect(line).toEqual({
    level: 'debug',
    fields: { event: 'bootstraps:advertised', ipcpName: 'm', bootstrap: 'bootstrap', learned },
    message: `bootstrap advertised ${learned.join(', ')}`,
  });
});

it('a first enrollment is no recovery; a re-enrollment after a loss is one, its time measured from the loss', async () => {
  vi.useFakeTimers();
  const net = new MemoryNetwork({ seed: 7 });
  await withEnroller({}, net);
  const { mgr } = member(net, 'm', { heartbeatIntervalSecs: 1, connectionTimeoutSecs: 3 });
  const successes: number[] = [];
  mgr.on('reenroll:success', ({ recoveryMs }) => successes.push(recoveryMs));
  await mgr.enrolWithBootstrap('bootstrap');
  expect(successes).toEqual([]);
  expect(mgr.metrics().reenrollSuccesses).toBe(0);
  mgr.startConnectionMonitoring();
  net.partition('m', 'bootstrap');
  await vi.advanceTimersByTimeAsync(3100); // lost at 3 s
  await vi.advanceTimersByTimeAsync(2000); // two seconds of failed recovery
  net.heal('m', 'bootstrap');
  await vi.advanceTimersByTimeAsync(30_000);
  expect(mgr.state.type).toBe('enrolled');
  expect(successes).toHaveLength(1);
  expect(successes[0]).toBeGreaterThanOrEqual(2000);
  expect(successes[0]).toBeLessThan(31_000);
  expect(mgr.metrics().timeToRecoverMs.count).toBe(1);
});
