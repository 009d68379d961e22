/**
 * How long a datagram waits in the enroller's own receive queue, measured by
 * sending one to itself.
 *
 * Under a burst of members (10,000 at once) the enroller's socket holds
 * thousands of datagrams, and a member's M_STOP_R can wait there longer than
 * M_STOP's retransmission interval: the enroller sent M_STOP again for
 * answers it had already received but not yet read. The round-trip samples
 * (`RoundTrips`) show that only once members' answers have come back through
 * the queue; the probe measures the queue itself, and the enroller waits that
 * much longer before it sends M_STOP again.
 *
 * Only on a shim with a `selfAddress` (`UdpShim`: its socket's own address,
 * reached through the host's loopback, never on the wire); a shim's
 * `localAddress` may be an address others reach it at (a relay, a NAT), and
 * no probe is sent there. While enrollments are in progress (more than
 * one: a lone enrollment has no queue to measure), one probe is in flight at
 * a time, the next sent {@link PROBE_GAP_MS} after the last came back, or
 * `maxMs` after it went if it never did (lost: a full queue drops it too). A
 * probe is 10 bytes that start with a 0 byte, which no CDAP PDU does
 * (protobuf has no field 0), then a 5-byte key drawn when the enroller is
 * made and the probe's 4-byte number: taken out before anything else reads
 * the datagram, never counted or answered. The delay is the last probe's
 * (0 until one came back); it is forgotten when probing stops.
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
  /** Sends `pdu` to the shim's `selfAddress` (a failure is a lost probe); undefined: the shim has none, nothing is probed. */
  readonly sendToSelf: ((pdu: Uint8Array) => Promise<void>) | undefined;
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
  #on = false;
  #timer: TimerHandle | undefined;

  constructor(host: QueueProbeHost) {
    this.#host = host;
    // (not the enroller's `random`: that one's sequence is its pool's, which tests may script)
    for (let i = 1; i < 6; i++) this.#pdu[i] = Math.floor(Math.random() * 256);
  }

  /** The receive queue's delay, in ms: the last probe's (0 until one came back, and while not watched). */
  get delayMs(): number {
    return this.#measuredMs;
  }

  /** Probes while `on` (enrollments in progress); off, forgets what it measured. */
  watch(on: boolean): void {
    if (on === this.#on || this.#host.sendToSelf === undefined) return;
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
      this.#host.sendToSelf?.(this.#pdu.slice()).catch(() => undefined);
    } catch {
      // a shim that throws instead of rejecting: the probe is lost
    }
  }
}
