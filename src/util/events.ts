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
    process.emitWarning(`a listener of "${String(event)}" threw: ${(err as Error)?.message ?? String(err)}`, {
      code: 'RINA_ENROLLMENT_LISTENER',
    });
  }
}
