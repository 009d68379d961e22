/**
 * How long the enroller's exchanges take to come back, its own receive
 * queue included: what tells a retransmission from a copy already on its
 * way.
 *
 * Under a burst, a member's answer can wait in the enroller's socket behind
 * thousands of datagrams. Without an estimate, the enroller sent M_STOP again
 * every `retransmitMs` while the M_STOP_R sat in its own queue, and answered
 * again each copy of an M_CONNECT or M_START the member had sent before its
 * first answer could reach it: at 10,000 members at once, 3,800 to 14,600
 * M_STOPs and 7,100 M_CONNECTs more than enrollments (bench scenario 2), each
 * received, decoded and answered for nothing.
 *
 * The estimate is RFC 6298's smoothed round-trip time and variation, from
 * the time between an answer and the member's next step (M_CONNECT_R to its
 * M_START, the reply burst to its M_STOP_R), each only from an exchange with
 * nothing sent twice (Karn's rule: the next step could answer either copy).
 * Its window, `srtt + 4 * rttvar`, is how long after sending something the
 * enroller waits before sending it again: a copy of a request that comes
 * sooner was sent before the answer could arrive, and is not answered again
 * (the member's own retransmission will ask again, should the answer be
 * lost). Idle (no enrollment in progress), it is forgotten: queueing is over.
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
