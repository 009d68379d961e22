/**
 * How long a datagram waits in the enroller's own receive queue, measured by
 * sending one to itself.
 *
 * A burst of members (10,000 at once) queues thousands of datagrams in the
 * enroller's socket. A copy of a request that arrives now was put in that
 * queue the queue's delay ago; if that is before the enroller answered the
 * first copy, the member sent it before the answer existed, and answering it
 * again is work for nothing. The round-trip samples (`RoundTrips`) tell the
 * same only once members' next steps have come back through the queue, which
 * at the start of a burst is after most copies were answered: the probe tells
 * it from the first milliseconds.
 *
 * While enrollments are in progress (more than one: a lone enrollment has no
 * queue to measure), one probe is in flight at a time, the next sent
 * {@link PROBE_GAP_MS} after the last came back. A probe is 10 bytes that
 * start with a 0 byte, which no CDAP PDU does (protobuf has no field 0), and
 * carry this enroller's random key and the probe's number: taken out before
 * anything else reads the datagram, never counted or answered. The delay is
 * the last probe's, or the age of the one in flight if that is longer (a
 * lower bound of the queue's delay now), but only once a probe has come back:
 * a shim that does not deliver datagrams to its own address (some custom
 * shim) never shows a delay. A probe in flight for `maxMs` counts as lost.
 *
 * @module
 */
import type { Clock, TimerHandle } from '../util/clock.js';

/** The least time between one probe's return and the next probe, in ms. */
export const PROBE_GAP_MS = 10;

/** Bytes of a probe: the 0 byte, 5 bytes of key, 4 of number. */
const PROBE_BYTES = 10;

/** What the probe needs: a send to the enroller's own shim address, and a clock. */
export interface QueueProbeHost {
  readonly clock: Clock;
  /** Sends `pdu` to the enroller's own shim address; a failure is a lost probe. */
  sendToSelf(pdu: Uint8Array): Promise<void>;
  /** How long a probe may be in flight before it counts as lost, in ms. */
  readonly maxMs: number;
}

/** The enroller's receive-queue probe (see the module's comment). */
export class QueueProbe {
  readonly #host: QueueProbeHost;
  readonly #pdu = new Uint8Array(PROBE_BYTES);
  #number = 0;
  /** When the probe in flight was sent; undefined while none is. */
  #sentAt: number | undefined;
  #measuredMs = 0;
  /** A probe came back once: the shim delivers them. */
  #delivered = false;
  #on = false;
  #timer: TimerHandle | undefined;

  constructor(host: QueueProbeHost) {
    this.#host = host;
    // (not the enroller's `random`: that one's sequence is its pool's, which tests may script)
    for (let i = 1; i < 6; i++) this.#pdu[i] = Math.floor(Math.random() * 256);
  }

  /** The receive queue's delay now, in ms (0 until a probe came back). */
  get delayMs(): number {
    if (!this.#on || !this.#delivered) return 0;
    const inFlight = this.#sentAt === undefined ? 0 : this.#host.clock.now() - this.#sentAt;
    return Math.min(this.#host.maxMs, Math.max(this.#measuredMs, inFlight));
  }

  /** Probes while `on` (enrollments in progress); off, forgets what it measured. */
  watch(on: boolean): void {
    if (on === this.#on) return;
    this.#on = on;
    if (on) {
      this.#send();
      return;
    }
    this.#host.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#sentAt = undefined;
    this.#measuredMs = 0;
  }

  /** Whether `pdu` is a probe of this enroller's (then measured, and to be read no further). */
  take(pdu: Uint8Array): boolean {
    if (pdu.length !== PROBE_BYTES || pdu[0] !== 0) return false;
    for (let i = 1; i < 6; i++) if (pdu[i] !== this.#pdu[i]) return false;
    const view = new DataView(pdu.buffer, pdu.byteOffset, pdu.byteLength);
    if (this.#sentAt !== undefined && view.getUint32(6) === this.#number) this.#back(this.#host.clock.now() - this.#sentAt);
    return true;
  }

  #back(ms: number): void {
    this.#measuredMs = ms;
    this.#delivered = true;
    this.#sentAt = undefined;
    this.#host.clock.clearTimeout(this.#timer);
    this.#timer = this.#host.clock.setTimeout(() => this.#send(), PROBE_GAP_MS);
  }

  #send(): void {
    this.#timer = undefined;
    if (!this.#on) return;
    this.#number = (this.#number + 1) >>> 0;
    new DataView(this.#pdu.buffer).setUint32(6, this.#number);
    const { clock, maxMs } = this.#host;
    this.#sentAt = clock.now();
    // Lost (dropped by a full queue, or the shim cannot send it): another one after `maxMs`.
    this.#timer = clock.setTimeout(() => this.#send(), maxMs);
    try {
      this.#host.sendToSelf(this.#pdu.slice()).catch(() => undefined);
    } catch {
      // a shim that throws instead of rejecting: the probe is lost
    }
  }
}
