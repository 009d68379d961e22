import type { EventEmitter } from 'eventemitter3';
import { describe, expect, it } from 'vitest';
import { diagnosticsChannels } from '../../src/diagnostics.js';
import { EnrollmentTimeoutError } from '../../src/errors.js';
import type { EnrollmentEvents } from '../../src/member/events.js';
import { describeMemberEvent, MEMBER_CHANNELS } from '../../src/member/report.js';
import type { Report } from '../../src/util/telemetry.js';

/** The report of one event of a manager named `m1`, with its log line. */
function reportOf<E extends keyof EnrollmentEvents>(event: E, info: EnrollmentEvents[E][0]) {
  const manager = { ipcpName: 'm1' } as unknown as EventEmitter<EnrollmentEvents>;
  const r: Report = describeMemberEvent(event, [info] as never, manager);
  return { ...r, line: r.text?.() };
}

describe('what each member event reports: its diagnostics channel, message, log level, fields and line', () => {
  it('names every channel a report may go to', () => {
    expect(MEMBER_CHANNELS).toEqual([
      diagnosticsChannels.enrollmentSuccess,
      diagnosticsChannels.connectionLost,
      diagnosticsChannels.reenroll,
      diagnosticsChannels.addressChange,
      diagnosticsChannels.keepalive,
    ]);
  });

  it('state:change: an info line describing the state, on no channel', () => {
    const enrolling = reportOf('state:change', { type: 'enrolling', bootstrap: 'b', attempt: 2 });
    expect(enrolling).toEqual({
      level: 'info',
      fields: { event: 'state:change', ipcpName: 'm1', type: 'enrolling', bootstrap: 'b', attempt: 2 },
      text: expect.any(Function),
      line: 'enrolling with b (attempt 2)',
    });
    const since = 0;
    const enrolled = { type: 'enrolled', bootstrap: 'b', address: 7, difName: 'd.DIF', since } as const;
    expect(reportOf('state:change', enrolled).line).toBe('enrolled in d.DIF as address 7 via b');
    const again = { type: 'reenrolling', bootstrap: 'b', attempt: 3, previousAddress: 7 } as const;
    expect(reportOf('state:change', again).line).toBe('re-enrolling with b (attempt 3, asking for address 7)');
    const fresh = { type: 'reenrolling', bootstrap: 'b', attempt: 1, previousAddress: undefined } as const;
    expect(reportOf('state:change', fresh).line).toBe('re-enrolling with b (attempt 1, asking for address any)');
    expect(reportOf('state:change', { type: 'idle' }).line).toBe('idle');
    expect(reportOf('state:change', { type: 'closed' }).line).toBe('closed');
  });

  it('enrolled: the success channel, no log line of its own (state:change says it)', () => {
    const r = reportOf('enrolled', { address: 7, difName: 'd.DIF', bootstrap: 'b' });
    expect(r).toEqual({
      channel: diagnosticsChannels.enrollmentSuccess,
      fields: { ipcpName: 'm1', address: 7, difName: 'd.DIF', bootstrap: 'b' },
      line: undefined,
    });
  });

  it('connection:lost: a warning on its channel, saying how long it was silent, or that it was released', () => {
    const lost = reportOf('connection:lost', { bootstrap: 'b', silentMs: 3012.6, reason: 'timeout' });
    expect(lost).toEqual({
      channel: diagnosticsChannels.connectionLost,
      message: { ipcpName: 'm1', bootstrap: 'b', silentMs: 3012.6, reason: 'timeout' },
      fields: { event: 'connection:lost', ipcpName: 'm1', bootstrap: 'b', silentMs: 3012.6, reason: 'timeout' },
      level: 'warn',
      text: expect.any(Function),
      line: 'lost b: silent for 3013 ms (timeout)',
    });
    const released = reportOf('connection:lost', { bootstrap: 'b', silentMs: 5, reason: 'released' });
    expect(released.line).toBe('released by b: it stopped serving this member (released)');
  });

  it('reenroll:attempt and reenroll:success: the reenroll channel with their outcome', () => {
    const attempt = reportOf('reenroll:attempt', { attempt: 2, bootstrap: 'b', nextDelayMs: 800 });
    expect(attempt).toEqual({
      channel: diagnosticsChannels.reenroll,
      message: { ipcpName: 'm1', outcome: 'attempt', attempt: 2, bootstrap: 'b', nextDelayMs: 800 },
      fields: { event: 'reenroll:attempt', ipcpName: 'm1', attempt: 2, bootstrap: 'b', nextDelayMs: 800 },
      level: 'debug',
      text: expect.any(Function),
      line: 're-enrollment attempt 2 with b',
    });
    const info = { attempts: 3, bootstrap: 'b', address: 7, previousAddress: 7, recoveryMs: 1234.5 };
    const success = reportOf('reenroll:success', info);
    expect(success).toMatchObject({
      channel: diagnosticsChannels.reenroll,
      message: { ipcpName: 'm1', outcome: 'success', ...info },
      fields: { event: 'reenroll:success', ipcpName: 'm1', ...info },
      level: 'info',
      line: 'back with address 7 via b after 1235 ms',
    });
  });

  it('reenroll:failure: a warning; the error goes to the log as `err`, and the line says when the next try is', () => {
    const error = new EnrollmentTimeoutError(1, 'b');
    const failure = reportOf('reenroll:failure', { attempt: 1, bootstrap: 'b', error, retryInMs: 999.6 });
    expect(failure).toEqual({
      channel: diagnosticsChannels.reenroll,
      message: { ipcpName: 'm1', outcome: 'failure', attempt: 1, bootstrap: 'b', error, retryInMs: 999.6 },
      level: 'warn',
      fields: { event: 'reenroll:failure', ipcpName: 'm1', attempt: 1, bootstrap: 'b', retryInMs: 999.6, err: error },
      text: expect.any(Function),
      line: `attempt 1 with b failed (${error.message}); next in 1000 ms`,
    });
    const last = reportOf('reenroll:failure', { attempt: 4, bootstrap: 'b', error, retryInMs: undefined });
    expect(last.line).toBe(`attempt 4 with b failed (${error.message})`);
  });

  it('address:change: a warning on its channel naming both addresses', () => {
    const r = reportOf('address:change', { previous: 7, address: 9, bootstrap: 'b' });
    expect(r).toEqual({
      channel: diagnosticsChannels.addressChange,
      message: { ipcpName: 'm1', previous: 7, address: 9, bootstrap: 'b' },
      fields: { event: 'address:change', ipcpName: 'm1', previous: 7, address: 9, bootstrap: 'b' },
      level: 'warn',
      text: expect.any(Function),
      line: 'address changed from 7 to 9 (assigned by b)',
    });
  });

  it('keepalive:rtt: a debug line with the round trip to 0.01 ms, on the keepalive channel', () => {
    const r = reportOf('keepalive:rtt', { rttMs: 0.4567, bootstrap: 'b' });
    expect(r).toEqual({
      channel: diagnosticsChannels.keepalive,
      message: { ipcpName: 'm1', rttMs: 0.4567, bootstrap: 'b' },
      fields: { event: 'keepalive:rtt', ipcpName: 'm1', rttMs: 0.4567, bootstrap: 'b' },
      level: 'debug',
      text: expect.any(Function),
      line: 'keepalive answered in 0.46 ms',
    });
    expect(Object.keys(r.message as object)).toEqual(['ipcpName', 'rttMs', 'bootstrap']); // no outcome key: it has none
  });

  it("reads the manager's name at each event: a name set later shows", () => {
    const manager = { ipcpName: undefined as string | undefined };
    const nameIn = () =>
      describeMemberEvent('keepalive:rtt', [{ rttMs: 1, bootstrap: 'b' }], manager as unknown as EventEmitter<EnrollmentEvents>).fields;
    expect(nameIn()).toEqual({ event: 'keepalive:rtt', ipcpName: undefined, rttMs: 1, bootstrap: 'b' });
    manager.ipcpName = 'late';
    expect(nameIn()).toMatchObject({ ipcpName: 'late' });
  });
});
