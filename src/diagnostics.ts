/**
 * Diagnostics, as the ecosystem does it: named `node:diagnostics_channel`
 * channels that cost nothing without subscribers (like undici's), and an
 * optional pino-compatible logger, silent by default.
 *
 * | channel | message |
 * |---|---|
 * | `rina-enrollment:enrollment:start` | `{ ipcpName, bootstrap, attempt, kind }`: an attempt starts (`kind` is `enrolling` or `reenrolling`) |
 * | `rina-enrollment:enrollment:success` | `{ ipcpName, bootstrap, address, difName, attempts }` |
 * | `rina-enrollment:enrollment:failure` | `{ ipcpName, bootstrap, error }`: a whole enrollment failed |
 * | `rina-enrollment:connection:lost` | `{ ipcpName, bootstrap, silentMs, reason }` |
 * | `rina-enrollment:reenroll` | `{ ipcpName, bootstrap, outcome, attempt, ... }`: `outcome` is `attempt`, `failure` or `success` |
 * | `rina-enrollment:address:change` | `{ ipcpName, previous, address, bootstrap }`: the member was assigned another address than it held |
 * | `rina-enrollment:keepalive` | `{ ipcpName, bootstrap, rttMs }`: a keepalive was answered |
 * | `rina-enrollment:enroller` | `{ enroller, event, ... }`: an enroller admitted, released, lost or refused a member |
 *
 * @module
 */
import { channel } from 'node:diagnostics_channel';

/** The channels the library publishes on. Subscribe with `diagnostics_channel.subscribe(name, fn)`. */
export const diagnosticsChannels = {
  /** `rina-enrollment:enrollment:start`: an enrollment attempt starts. */
  enrollmentStart: channel('rina-enrollment:enrollment:start'),
  /** `rina-enrollment:enrollment:success`: an enrollment or re-enrollment completed. */
  enrollmentSuccess: channel('rina-enrollment:enrollment:success'),
  /** `rina-enrollment:enrollment:failure`: a whole enrollment failed. */
  enrollmentFailure: channel('rina-enrollment:enrollment:failure'),
  /** `rina-enrollment:connection:lost`: the member counts its bootstrap as lost. */
  connectionLost: channel('rina-enrollment:connection:lost'),
  /** `rina-enrollment:reenroll`: a re-enrollment attempt started, failed or succeeded. */
  reenroll: channel('rina-enrollment:reenroll'),
  /** `rina-enrollment:address:change`: the member was assigned another address than it held, and must renumber. */
  addressChange: channel('rina-enrollment:address:change'),
  /** `rina-enrollment:keepalive`: a keepalive was answered. */
  keepalive: channel('rina-enrollment:keepalive'),
  /** `rina-enrollment:enroller`: an enroller admitted, released, lost or refused a member. */
  enroller: channel('rina-enrollment:enroller'),
} as const;

/** What the library needs of a logger: pino's (and most loggers') four methods, object first. */
export interface Logger {
  /** Logs `fields` and an optional `message` at debug level. */
  debug(fields: object, message?: string): void;
  /** Logs `fields` and an optional `message` at info level. */
  info(fields: object, message?: string): void;
  /** Logs `fields` and an optional `message` at warn level. */
  warn(fields: object, message?: string): void;
  /** Logs `fields` and an optional `message` at error level. */
  error(fields: object, message?: string): void;
}

/** Log level of a message. */
export type LogLevel = keyof Logger;

/** Publishes on `ch` if anyone listens. */
export function publish(ch: (typeof diagnosticsChannels)[keyof typeof diagnosticsChannels], message: object): void {
  if (ch.hasSubscribers) ch.publish(message);
}

/** Calls the logger, never letting a logger's failure into the library's control flow. */
export function log(logger: Logger | undefined, level: LogLevel, fields: object, message: string): void {
  if (logger === undefined) return;
  try {
    logger[level](fields, message);
  } catch {
    // a broken logger is the application's problem, not the enrollment's
  }
}
