import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { describe, expect, it } from 'vitest';
import { diagnosticsChannels } from '../../src/diagnostics.js';
import { describeEnrollerEvent, type EnrollerEvents, zeroStats } from '../../src/enroller/events.js';
import { cleanup, enrolledPeer, withEnroller } from '../support/helpers.js';

const member = { name: 'm1', address: 7, shimAddress: '10.0.0.1:7000', enrolledAt: new Date(0), lastSeen: new Date(0) };

/** What the enroller named `e1` reports of one event, with its log line. */
function reportOf<E extends keyof EnrollerEvents>(event: E, info: EnrollerEvents[E][0]) {
  const r = describeEnrollerEvent('e1')(event, [info] as never, undefined as never);
  return { ...r, line: r.text?.() };
}

describe('what each enroller event reports: the enroller channel with { enroller, event, ...info }, a log level and line', () => {
  it.each([
    ['member:enrolled', member, 'info', 'member m1 enrolled with address 7 from 10.0.0.1:7000'],
    ['member:released', member, 'info', 'member m1 left (address 7 held)'],
    ['member:gone', member, 'warn', 'member m1 went silent (address 7 held)'],
    ['address:released', { name: 'm1', address: 7 }, 'info', 'address 7 of m1 is free again'],
    [
      'enrollment:rejected',
      { shimAddress: '10.0.0.2:7000', name: 'm2', reason: 'the DIF is full: 2 members', result: -1 },
      'warn',
      'refused m2 at 10.0.0.2:7000: the DIF is full: 2 members',
    ],
    [
      'enrollment:rejected',
      { shimAddress: '10.0.0.3:7000', name: undefined, reason: 'malformed', result: -1 },
      'warn',
      'refused a peer at 10.0.0.3:7000: malformed',
    ],
  ] as const)('%s', (event, info, level, line) => {
    expect(reportOf(event, info as never)).toEqual({
      channel: diagnosticsChannels.enroller,
      fields: { enroller: 'e1', event, ...info },
      level,
      text: expect.any(Function),
      line,
    });
  });

  it('zeroStats(): every counter at 0, a new object each time', () => {
    const stats = zeroStats();
    expect(Object.values(stats)).toEqual(Array(11).fill(0)); // the eleven counters of EnrollerStats
    stats.busy++;
    expect(zeroStats().busy).toBe(0);
  });
});

describe('an enroller without a logger', () => {
  it('publishes its events on the enroller channel while someone subscribes to it', async () => {
    const heard: unknown[] = [];
    const listener = (message: unknown) => heard.push(message);
    subscribe('rina-enrollment:enroller', listener);
    try {
      const { net } = await withEnroller();
      await enrolledPeer(net, 'm');
      expect(heard).toContainEqual(expect.objectContaining({ enroller: 'bootstrap', event: 'member:enrolled', name: 'm' }));
    } finally {
      unsubscribe('rina-enrollment:enroller', listener);
      await cleanup();
    }
  });
});
