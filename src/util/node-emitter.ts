/**
 * eventemitter3's emitter with the five methods of Node's `EventEmitter` it
 * lacks, so that the usual Node idioms take a manager or an enroller as
 * they are: `await events.once(mgr, 'enrolled')`,
 * `for await (const [state] of events.on(mgr, 'state:change'))`.
 *
 * @module
 */
import { EventEmitter } from 'eventemitter3';

/** What eventemitter3 keeps per event: one listener, or several in order. */
type Stored = { readonly fn: unknown } | ReadonlyArray<{ readonly fn: unknown }>;

/**
 * An eventemitter3 `EventEmitter` that Node's `events.once()` and
 * `events.on()` accept (type and behaviour).
 */
export class NodeCompatibleEmitter<Events extends EventEmitter.ValidEventTypes> extends EventEmitter<Events> {
  #maxListeners = 0;

  /** Recorded for {@link getMaxListeners}; eventemitter3 sets no limit and warns of no leak. */
  setMaxListeners(n: number): this {
    this.#maxListeners = n;
    return this;
  }

  /** What {@link setMaxListeners} recorded; 0 (unlimited) by default. */
  getMaxListeners(): number {
    return this.#maxListeners;
  }

  /** The listeners of `event`, as `listeners(event)` gives them. */
  rawListeners<T extends EventEmitter.EventNames<Events>>(event: T): Array<EventEmitter.EventListener<Events, T>> {
    return this.listeners(event);
  }

  /** Adds `fn` before every other listener of `event`. */
  prependListener<T extends EventEmitter.EventNames<Events>>(event: T, fn: EventEmitter.EventListener<Events, T>, context?: unknown): this {
    this.on(event, fn, context);
    this.#moveLastFirst(event);
    return this;
  }

  /** Adds a one-time `fn` before every other listener of `event`. */
  prependOnceListener<T extends EventEmitter.EventNames<Events>>(
    event: T,
    fn: EventEmitter.EventListener<Events, T>,
    context?: unknown,
  ): this {
    this.once(event, fn, context);
    this.#moveLastFirst(event);
    return this;
  }

  /** Puts the listener just added first (eventemitter3 appends, and keeps one listener unwrapped). */
  #moveLastFirst(event: EventEmitter.EventNames<Events>): void {
    const events = (this as unknown as { _events: Record<string | symbol, Stored | undefined> })._events;
    const key = typeof event === 'string' && EventEmitter.prefixed ? `${EventEmitter.prefixed}${event}` : event;
    const stored = events[key];
    if (!Array.isArray(stored) || stored.length < 2) return;
    events[key] = [stored[stored.length - 1], ...stored.slice(0, -1)];
  }
}
