/**
 * The N-1 transport: unreliable datagrams between shim addresses. One PDU per
 * datagram; datagrams may be lost, duplicated, delayed or reordered.
 *
 * @module
 */
import { ShimError } from '../errors.js';

/** Called for each PDU received, with the sender's shim address. */
export type ShimHandler = (pdu: Uint8Array, from: string) => void;

/**
 * A datagram transport. This is all the library needs of one: a mock in a
 * test is a few lines.
 */
export interface Shim {
  /** This endpoint's own address, as peers send to it. */
  readonly localAddress: string;
  /**
   * Sends one PDU to the shim address `to`. Resolves once the datagram is
   * handed to the network (not when it arrives); rejects with `ShimError` when
   * it cannot be sent.
   */
  send(to: string, pdu: Uint8Array): Promise<void>;
  /**
   * Registers a handler for received PDUs; returns the function that
   * unregisters it. The library's shims refuse a handler that is not a
   * function, or any handler once closed, with `ShimError`.
   */
  onReceive(handler: ShimHandler): () => void;
  /** Releases the transport; further sends reject. */
  close(): Promise<void>;
  /**
   * Optional: the bytes of received datagrams the transport can queue before
   * it drops some (`UdpShim`: the socket's receive buffer). An enroller
   * warns at start when it is under {@link SMALL_RECV_BUFFER_BYTES}.
   */
  readonly recvBufferSize?: number;
  /**
   * Optional: an address this shim can send to that reaches its own receive
   * handler through the host alone, never a network (`UdpShim`: its socket's
   * own address). An enroller measures its receive queue's delay with
   * datagrams to it while enrollments are in progress (docs/PROTOCOL.md §8);
   * a shim without one is not probed.
   */
  readonly selfAddress?: string;
}

/** Under this receive buffer (1 MiB) an enroller warns at start: a burst of a few thousand members overflows it. */
export const SMALL_RECV_BUFFER_BYTES = 1024 * 1024;

/**
 * `handler`, checked as a receive handler: a shim that took anything else
 * would throw at the next datagram, inside its socket's event, where nothing
 * catches it.
 */
export function receiveHandler(handler: unknown, shim: string): ShimHandler {
  if (typeof handler !== 'function') {
    throw new ShimError(`${shim}: onReceive needs a function (pdu, from) => void, got ${handler === null ? 'null' : typeof handler}`);
  }
  return handler as ShimHandler;
}

/**
 * Throws the ShimError of a send no shim can make: a destination that is not
 * a non-empty string, or a PDU that is not a Uint8Array. The in-memory shims
 * (MemoryNetwork's, the testing kit's mock) refuse what `UdpShim` refuses, so
 * that a bad send fails in a unit test as it would on a real network.
 */
export function checkSend(to: unknown, pdu: unknown): void {
  if (typeof to !== 'string' || to === '') {
    throw new ShimError('destination must be a non-empty shim address', { destination: typeof to === 'string' ? to : undefined });
  }
  if (!(pdu instanceof Uint8Array)) throw new ShimError('a PDU must be a Uint8Array');
}
