/**
 * How long the enroller's exchanges take to come back, its own receive
 * queue included: how long to wait before sending M_STOP again.
 *
 * Under a burst, a member's M_STOP_R can wait in the enroller's socket
 * behind thousands of datagrams. Without an estimate, the enroller sent
 * M_STOP again every `retransmitMs` while the M_STOP_R sat in its own queue:
 * at 10,000 members at once, 1,000 to 16,000 M_STOPs more than enrollments
 * (bench scenario 2), each answered by an M_STOP_R received and decoded for
 * nothing.
 *
 * The estimate is RFC 6298's smoothed round-trip time and variation, from
 * the time between the reply burst (M_START_R, the M_CREATEs, M_STOP) and
 * the member's M_STOP_R, measured only when nothing of that exchange went
 * twice (Karn's rule: the answer could be to either copy). Not from
 * M_CONNECT_R to M_START: the first M_START the enroller receives may be the
 * member's own retransmission, and the time would then hold the member's
 * retransmission interval. The window, `srtt + 4 * rttvar` (at most
 * `maxMs`), is how long the enroller waits before it sends M_STOP again:
 * an M_STOP_R may be waiting in its own receive queue meanwhile. Copies of a
 * member's requests are answered at once whatever it is: the member drives
 * its own retransmissions. Idle (no enrollment in progress), it is
 * forgotten: whatever queued is over.
 *
 * @module
 */

/** Weight of a new sample in the smoothed round-trip time (RFC 6298's alpha). */
const ALPHA = 1 / 8;
/** Weight of a new deviation in the variation (RFC 6298's beta). */
const BETA = 1 / 4;

/** The enroller's round-trip estimate (see the module's comment). */
export class RoundTrips {
  /** The longest window, in ms. */
  readonly #maxMs: number;
  #srtt: number | undefined;
  #rttvar = 0;

  /** `maxMs`: the longest the window gets (the enroller's longest M_STOP interval). */
  constructor(maxMs: number) {
    this.#maxMs = maxMs;
  }

  /** A round trip of `ms` was measured. */
  sample(ms: number): void {
    if (!(ms >= 0)) return; // a clock that went back, or NaN
    if (this.#srtt === undefined) {
      this.#srtt = ms;
      this.#rttvar = ms / 2;
      return;
    }
    this.#rttvar += (Math.abs(this.#srtt - ms) - this.#rttvar) * BETA;
    this.#srtt += (ms - this.#srtt) * ALPHA;
  }

  /** How long after sending something to wait before sending it again, in ms: 0 before any sample. */
  get windowMs(): number {
    return this.#srtt === undefined ? 0 : Math.min(this.#maxMs, this.#srtt + 4 * this.#rttvar);
  }

  /** Forgets every sample. */
  reset(): void {
    this.#srtt = undefined;
    this.#rttvar = 0;
  }
}
