/**
 * One way out for everything a manager or an enroller reports: each event
 * goes to its listeners, to its `node:diagnostics_channel` channel, and to
 * the logger, in that order of cheapness. The owner says, per event, which
 * channel and which log line (its `describe` table); the fan-out is here once.
 *
 * @module
 */
import type { Channel } from 'node:diagnostics_channel';
import type { EventEmitter } from 'eventemitter3';
import { log, type Logger, type LogLevel, publish } from '../diagnostics.js';
import { safeEmit } from './events.js';

/** `NODE_DEBUG=rina-enrollment` turns it on (read once, when the process starts). */
const debug = process.getBuiltinModule('node:util').debuglog('rina-enrollment'); // node:util without its ES-module facade

/** The logger of a manager or enroller given none, when `NODE_DEBUG=rina-enrollment`: every line to stderr. */
const debugLogger: Logger = {
  debug: (fields, message) => debug('debug %s %o', message ?? '', fields),
  info: (fields, message) => debug('info %s %o', message ?? '', fields),
  warn: (fields, message) => debug('warn %s %o', message ?? '', fields),
  error: (fields, message) => debug('error %s %o', message ?? '', fields),
};

/** Where one event goes besides its listeners. */
export interface Report {
  /** The diagnostics channel it is published on, if any (only when subscribed). */
  readonly channel?: Channel;
  /** What is published (default: `fields`). */
  readonly message?: object;
  /** The log level, or undefined for no log line. */
  readonly level?: LogLevel;
  /** The structured fields, for the channel and the log line. */
  readonly fields: object;
  /** The log line's message: only called when a logger is set. */
  readonly text?: () => string;
}

/** Maps an event and its arguments (and the emitter, for its name) to its {@link Report}. */
export type Describe<Events extends EventEmitter.ValidEventTypes> = <E extends EventEmitter.EventNames<Events>>(
  event: E,
  args: EventEmitter.EventArgs<Events, E>,
  emitter: EventEmitter<Events>,
) => Report;

/** The fan-out of one emitter's events to listeners, diagnostics channels and a logger. */
export class Telemetry<Events extends EventEmitter.ValidEventTypes> {
  readonly #emitter: EventEmitter<Events>;
  readonly #describe: Describe<Events>;
  readonly #channels: readonly Channel[];
  /** The logger given, else the `NODE_DEBUG=rina-enrollment` one when that is set, else none. */
  readonly logger: Logger | undefined;

  /** `channels`: every channel `describe` may name (while none has a subscriber and there is no logger, nothing is described). */
  constructor(emitter: EventEmitter<Events>, logger: Logger | undefined, describe: Describe<Events>, channels: readonly Channel[]) {
    this.#emitter = emitter;
    this.logger = logger ?? (debug.enabled ? debugLogger : undefined);
    this.#describe = describe;
    this.#channels = channels;
  }

  /** Whether anyone besides the listeners would hear of an event. */
  #heard(): boolean {
    if (this.logger !== undefined) return true;
    for (const channel of this.#channels) if (channel.hasSubscribers) return true;
    return false;
  }

  /** Reports `event` (channel, log line) and emits it; a throwing listener becomes a process warning. */
  emit<E extends EventEmitter.EventNames<Events>>(event: E, ...args: EventEmitter.EventArgs<Events, E>): void {
    if (this.#heard()) {
      const report = this.#describe(event, args, this.#emitter);
      if (report.channel !== undefined) publish(report.channel, report.message ?? report.fields);
      if (report.level !== undefined && report.text !== undefined && this.logger !== undefined) {
        log(this.logger, report.level, report.fields, report.text());
      }
    }
    safeEmit(this.#emitter, event, ...args);
  }

  /** A log line that is not an event. */
  log(level: LogLevel, fields: object, text: string): void {
    log(this.logger, level, fields, text);
  }
}
