/**
 * @module
 */
import type { EventEmitter } from 'eventemitter3';

/**
 * Emits on `emitter` without letting a throwing listener break the caller:
 * the listener's error becomes a process warning (code
 * `RINA_ENROLLMENT_LISTENER`). Listeners after the throwing one are skipped,
 * as with any EventEmitter.
 */
export function safeEmit<Events extends EventEmitter.ValidEventTypes, E extends EventEmitter.EventNames<Events>>(
  emitter: EventEmitter<Events>,
  event: E,
  ...args: EventEmitter.EventArgs<Events, E>
): void {
  try {
    emitter.emit(event, ...args);
  } catch (err) {
    listenerThrew(`a listener of "${String(event)}"`, err);
  }
}

/** `err`, thrown by a listener the library called (`what`), as a process warning with code `RINA_ENROLLMENT_LISTENER`. */
export function listenerThrew(what: string, err: unknown): void {
  process.emitWarning(`${what} threw: ${(err as Error)?.message ?? String(err)}`, { code: 'RINA_ENROLLMENT_LISTENER' });
}
