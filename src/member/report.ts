/**
 * What each member event reports besides its listeners: its diagnostics
 * channel message and its log line (see {@link Telemetry}).
 *
 * @module
 */
import { diagnosticsChannels } from '../diagnostics.js';
import type { Describe, Report } from '../util/telemetry.js';
import type { EnrollmentEvents, EnrollmentState } from './events.js';

type Info<E extends keyof EnrollmentEvents> = EnrollmentEvents[E][0];

/** Every channel a manager's events go to. */
export const MEMBER_CHANNELS = [
  diagnosticsChannels.enrollmentSuccess,
  diagnosticsChannels.connectionLost,
  diagnosticsChannels.reenroll,
  diagnosticsChannels.addressChange,
  diagnosticsChannels.keepalive,
] as const;

/** The report table of a manager (its `ipcpName` read at the time of each event). */
export const describeMemberEvent: Describe<EnrollmentEvents> = ((
  event: keyof EnrollmentEvents,
  args: EnrollmentEvents[keyof EnrollmentEvents],
  manager: { readonly ipcpName?: string | undefined },
): Report => {
  const name = manager.ipcpName;
  const info = args[0] as object;
  switch (event) {
    case 'state:change': {
      const state = args[0] as EnrollmentState;
      return { level: 'info', fields: { event, ipcpName: name, ...state }, text: () => describeState(state) };
    }
    case 'enrolled':
      return { channel: diagnosticsChannels.enrollmentSuccess, fields: { ipcpName: name, ...info } };
    case 'connection:lost': {
      const i = info as Info<'connection:lost'>;
      const text = () =>
        i.reason === 'released'
          ? `released by ${i.bootstrap}: it stopped serving this member (released)`
          : `lost ${i.bootstrap}: silent for ${i.silentMs.toFixed(0)} ms (${i.reason})`;
      return { ...report(diagnosticsChannels.connectionLost, event, name, i, undefined), level: 'warn', text };
    }
    case 'reenroll:attempt': {
      const i = info as Info<'reenroll:attempt'>;
      const text = () => `re-enrollment attempt ${i.attempt} with ${i.bootstrap}`;
      return { ...report(diagnosticsChannels.reenroll, event, name, i, 'attempt'), level: 'debug', text };
    }
    case 'reenroll:failure': {
      const i = info as Info<'reenroll:failure'>;
      const next = i.retryInMs === undefined ? '' : `; next in ${i.retryInMs.toFixed(0)} ms`;
      const { error, ...rest } = i;
      return {
        channel: diagnosticsChannels.reenroll,
        message: { ipcpName: name, outcome: 'failure', ...i },
        level: 'warn',
        // `err`: pino (and our CLI) print an error given so with its stack and code
        fields: { event, ipcpName: name, ...rest, err: error },
        text: () => `attempt ${i.attempt} with ${i.bootstrap} failed (${i.error.message})${next}`,
      };
    }
    case 'reenroll:success': {
      const i = info as Info<'reenroll:success'>;
      const text = () => `back with address ${i.address} via ${i.bootstrap} after ${i.recoveryMs.toFixed(0)} ms`;
      return { ...report(diagnosticsChannels.reenroll, event, name, i, 'success'), level: 'info', text };
    }
    case 'address:change': {
      const i = info as Info<'address:change'>;
      const text = () => `address changed from ${i.previous} to ${i.address} (assigned by ${i.bootstrap})`;
      return { ...report(diagnosticsChannels.addressChange, event, name, i, undefined), level: 'warn', text };
    }
    default: {
      const i = info as Info<'keepalive:rtt'>;
      const text = () => `keepalive answered in ${i.rttMs.toFixed(2)} ms`;
      return { ...report(diagnosticsChannels.keepalive, event, name, i, undefined), level: 'debug', text };
    }
  }
}) as unknown as Describe<EnrollmentEvents>;

/** The channel message `{ ipcpName, [outcome], ...info }` and the log fields `{ event, ipcpName, ...info }`. */
function report(
  channel: NonNullable<Report['channel']>,
  event: string,
  ipcpName: string | undefined,
  info: object,
  outcome: string | undefined,
): Pick<Report, 'channel' | 'message' | 'fields'> {
  const message = outcome === undefined ? { ipcpName, ...info } : { ipcpName, outcome, ...info };
  return { channel, message, fields: { event, ipcpName, ...info } };
}

/** One line describing a state, for logs. */
function describeState(state: EnrollmentState): string {
  switch (state.type) {
    case 'enrolling':
      return `enrolling with ${state.bootstrap} (attempt ${state.attempt})`;
    case 'enrolled':
      return `enrolled in ${state.difName} as address ${state.address} via ${state.bootstrap}`;
    case 'reenrolling':
      return `re-enrolling with ${state.bootstrap} (attempt ${state.attempt}, asking for address ${state.previousAddress ?? 'any'})`;
    default:
      return state.type;
  }
}
