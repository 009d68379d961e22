/**
 * A {@link Shim} over UDP (`node:dgram`): one CDAP message per datagram.
 *
 * @module
 */
import type { Socket, SocketOptions } from 'node:dgram';
import * as z from 'zod/mini';
import { dgram } from '../util/builtins.js';
import { integer, parseWith, type Same } from '../util/schema.js';
import { ShimError } from '../errors.js';
import { receiveHandler, type Shim, type ShimHandler } from './shim.js';
import { formatUdpAddress, parseUdpAddress } from './udp-address.js';

/** The receive buffer a {@link UdpShim} asks for unless told otherwise: 4 MiB. */
export const DEFAULT_RECV_BUFFER_BYTES = 4 * 1024 * 1024;

/** A socket buffer size: the kernel takes an int (dgram throws after binding for a larger one). */
const bufferBytes = () =>
  z
    .number({ error: 'must be a finite number' })
    .check(integer, z.positive({ error: 'must be > 0' }), z.lte(2 ** 31 - 1, { error: 'must be <= 2147483647' }));

/**
 * Options of {@link UdpShim.bind}. (An interface written out, not the type
 * inferred from its schema, so that the published typings carry each
 * option's documentation; `Agrees` below keeps the two the same.)
 */
export interface UdpShimOptions {
  /**
   * Largest PDU sent or accepted, in bytes; larger sends reject with
   * `ShimError`, larger datagrams received are dropped. Well under UDP's
   * 65,507 so that a datagram is not fragmented into oblivion.
   * @default 8192
   */
  readonly maxPduBytes?: number | undefined;
  /**
   * Size of the socket's receive buffer in bytes, asked of the kernel, which
   * caps it (at net.core.rmem_max on Linux, about 208 KiB unless raised;
   * `recvBufferSize` says what it gave). An enroller serving thousands of
   * members needs a large one: datagrams that do not fit are dropped, and
   * each drop costs a member a retransmission. The kernel only reserves
   * what is queued, so asking much costs an idle member nothing.
   * @default 4 MiB ({@link DEFAULT_RECV_BUFFER_BYTES})
   */
  readonly recvBufferSize?: number | undefined;
  /**
   * Size of the socket's send buffer in bytes (the kernel may cap it).
   * @default the kernel's default
   */
  readonly sendBufferSize?: number | undefined;
}

/** The schema of {@link UdpShimOptions} (each option's rules; its documentation is the interface's). */
const optionsSchema = z.strictObject({
  maxPduBytes: z.optional(
    z
      .number({ error: 'must be a finite number' })
      .check(integer, z.gte(1, { error: 'must be >= 1' }), z.lte(65_507, { error: 'must be <= 65507, the largest UDP payload' })),
  ),
  recvBufferSize: z.optional(bufferBytes()),
  sendBufferSize: z.optional(bufferBytes()),
});

// The interface and the schema take the same options: a compile error otherwise.
true satisfies Same<UdpShimOptions, z.input<typeof optionsSchema>>;

/** Counters of a {@link UdpShim}. */
export interface UdpShimStats {
  /** Datagrams the socket reported as sent. */
  sent: number;
  /** Datagrams received and handed to the handlers (oversize ones not counted). */
  received: number;
  /** Datagrams received over `maxPduBytes`, dropped unread. */
  oversizeDropped: number;
  /** Sends the socket reported as failed. */
  sendErrors: number;
  /** Exceptions thrown by receive handlers (caught). */
  handlerErrors: number;
}

/**
 * The socket's name lookup: the shim sends to and binds at IP literals only
 * (`parseUdpAddress` refuses anything else), so there is nothing to resolve.
 * `node:dgram` otherwise hands every datagram's destination to `dns.lookup`,
 * which answers an IP literal on the next tick: a closure and a tick per send.
 */
function ipLiteral(address: string, family: number, callback: (err: null, address: string, family: number) => void): void {
  callback(null, address, family);
}

/** The destination host the last {@link UdpShim} parsed (see `#destination`). */
let lastHost = '';

/** A datagram shim on a bound UDP socket. `localAddress` is the bound address, e.g. `127.0.0.1:40123`. */
export class UdpShim implements Shim {
  readonly localAddress: string;
  /** The socket's own address, as `localAddress`: a datagram sent there comes back through the host's loopback. */
  get selfAddress(): string {
    return this.localAddress;
  }
  /** The largest PDU this shim sends or accepts. */
  readonly maxPduBytes: number;
  readonly #socket: Socket;
  readonly #family: 4 | 6;
  /**
   * The receive handlers: the one handler itself while there is one (a member's shim has one, and an
   * array would cost it ~56 B), else an array replaced (never changed) on subscribe and unsubscribe, so
   * that a handler that unsubscribes during a delivery does not disturb it.
   */
  #handlers: ShimHandler | readonly ShimHandler[] | undefined;
  /**
   * The last destination, parsed: a member sends to one enroller, and an
   * enroller sends its replies to one member in a row, so this saves most
   * parses at the cost of two fields (a cache of many would cost every
   * member's shim its heap).
   */
  #lastTo: string | undefined;
  /** The receive buffer's size, read by close() for {@link recvBufferSize} (0 if the socket could not say). */
  #recvBufferSize = 0;
  #lastHost = '';
  #lastPort = 0;
  readonly #stats: UdpShimStats = { sent: 0, received: 0, oversizeDropped: 0, sendErrors: 0, handlerErrors: 0 };
  #closed = false;
  #closing: Promise<void> | undefined;
  /** The last asynchronous socket error, for diagnosis (a UDP socket reports e.g. ICMP errors this way). */
  lastError: Error | undefined;

  private constructor(socket: Socket, family: 4 | 6, maxPduBytes: number) {
    this.#socket = socket;
    this.#family = family;
    this.maxPduBytes = maxPduBytes;
    const bound = socket.address();
    this.localAddress = formatUdpAddress(bound.address, bound.port, family);
    socket.on('message', (msg, rinfo) => this.#onMessage(msg, rinfo.address, rinfo.port));
    // Without a listener an 'error' event would crash the process.
    socket.on('error', (err) => {
      this.lastError = err;
    });
  }

  /**
   * Binds a UDP socket at `address` (`127.0.0.1:0` picks a free port;
   * `[::1]:7000` for IPv6). Rejects with {@link ShimError} for a malformed
   * address or a failed bind (e.g. the port is taken).
   */
  static async bind(address: string, options: UdpShimOptions = {}): Promise<UdpShim> {
    const endpoint = parseUdpAddress(address, { allowPortZero: true });
    const o = parseWith(optionsSchema, options);
    const socket = dgram().createSocket({
      type: endpoint.family === 6 ? 'udp6' : 'udp4',
      ipv6Only: endpoint.family === 6,
      recvBufferSize: o.recvBufferSize ?? DEFAULT_RECV_BUFFER_BYTES,
      ...(o.sendBufferSize === undefined ? {} : { sendBufferSize: o.sendBufferSize }),
      // dgram calls it as (address, family, callback), not as dns.lookup's options form its type names
      lookup: ipLiteral as unknown as SocketOptions['lookup'],
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        socket.close();
        reject(new ShimError(`cannot bind UDP ${endpoint.address}: ${err.message}`, { cause: err }));
      };
      socket.once('error', onError);
      try {
        // With a lookup that answers at once, dgram binds in this call, and sets the buffer sizes, which may throw.
        socket.bind(endpoint.port, endpoint.host, () => {
          socket.off('error', onError);
          resolve();
        });
      } catch (err) {
        socket.off('error', onError);
        onError(err as Error);
      }
    });
    return new UdpShim(socket, endpoint.family, o.maxPduBytes ?? 8192);
  }

  /** The receive buffer's size in bytes, as the kernel set it (Linux reports twice what it grants, for its bookkeeping). */
  get recvBufferSize(): number {
    // once closed, the socket can no longer say: the size close() read
    return this.#closed ? this.#recvBufferSize : this.#socket.getRecvBufferSize();
  }

  /** A copy of the counters. */
  stats(): UdpShimStats {
    return { ...this.#stats };
  }

  send(to: string, pdu: Uint8Array): Promise<void> {
    // Not an async function: a datagram sent costs one promise, the one returned.
    try {
      this.#check(to, pdu);
    } catch (err) {
      return Promise.reject(err);
    }
    const host = this.#lastHost;
    const port = this.#lastPort;
    return new Promise<void>((resolve, reject) => {
      try {
        this.#socket.send(pdu, port, host, (err) => {
          if (err) {
            this.#stats.sendErrors++;
            reject(this.#sendFailed(err, host, port));
          } else {
            this.#stats.sent++;
            resolve();
          }
        });
      } catch (err) {
        // e.g. ERR_SOCKET_DGRAM_NOT_RUNNING when closed meanwhile
        reject(this.#sendFailed(err as Error, host, port));
      }
    });
  }

  /** Throws the ShimError of a send that cannot go: the shim closed, a bad destination or PDU; else makes `to` the last destination. */
  #check(to: string, pdu: Uint8Array): void {
    if (this.#closed) throw new ShimError(`UDP shim ${this.localAddress} is closed`);
    if (to !== this.#lastTo || this.#lastTo === undefined) this.#destination(to); // (a first `to` of undefined is parsed too)
    if (!(pdu instanceof Uint8Array)) throw new ShimError('a PDU must be a Uint8Array');
    if (pdu.length > this.maxPduBytes) {
      throw new ShimError(`PDU of ${pdu.length} bytes exceeds the maximum of ${this.maxPduBytes}`);
    }
  }

  #sendFailed(err: Error, host: string, port: number): ShimError {
    return new ShimError(`UDP send to ${formatUdpAddress(host, port, this.#family)} failed: ${err.message}`, { cause: err });
  }

  /** Parses a new destination (a ShimError if it is malformed or of the other IP version) and makes it the last one. */
  #destination(to: string): void {
    let endpoint: ReturnType<typeof parseUdpAddress>;
    try {
      endpoint = parseUdpAddress(to);
    } catch (err) {
      throw new ShimError((err as Error).message, { cause: err, destination: to });
    }
    if (endpoint.family !== this.#family) {
      throw new ShimError(`cannot send to ${endpoint.address} from IPv${this.#family} shim ${this.localAddress}`, { destination: to });
    }
    this.#lastTo = to;
    // The host as the last shim of the process that parsed it kept it: ten thousand members' shims sending to one
    // enroller keep one string, not one each.
    if (endpoint.host !== lastHost) lastHost = endpoint.host;
    this.#lastHost = lastHost;
    this.#lastPort = endpoint.port;
  }

  onReceive(handler: ShimHandler): () => void {
    receiveHandler(handler, 'UdpShim');
    if (this.#closing !== undefined) throw new ShimError(`UDP shim ${this.localAddress} is closed: nothing can be received on it`);
    const now = this.#handlers;
    this.#handlers = now === undefined ? handler : typeof now === 'function' ? [now, handler] : now.concat(handler);
    let subscribed = true;
    return () => {
      // One registration each: the same handler registered twice stays once.
      if (!subscribed) return;
      subscribed = false;
      const now = this.#handlers;
      if (now === handler) this.#handlers = undefined;
      else if (typeof now === 'object') {
        const i = now.lastIndexOf(handler);
        const rest = i < 0 ? now : now.slice(0, i).concat(now.slice(i + 1));
        this.#handlers = rest.length === 1 ? rest[0] : rest;
      }
    };
  }

  /** Closes the socket. Idempotent; resolves once it is released. */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    try {
      this.#recvBufferSize = this.#socket.getRecvBufferSize();
    } catch {
      // (a socket that failed: nothing to say)
    }
    this.#closed = true;
    this.#handlers = undefined;
    this.#closing = new Promise<void>((resolve) => {
      try {
        this.#socket.close(() => resolve());
      } catch {
        resolve(); // already closed
      }
    });
    return this.#closing;
  }

  #onMessage(msg: Buffer, host: string, port: number): void {
    if (this.#closed) return;
    if (msg.length > this.maxPduBytes) {
      this.#stats.oversizeDropped++;
      return;
    }
    this.#stats.received++;
    const pdu = new Uint8Array(msg.buffer, msg.byteOffset, msg.length);
    const from = formatUdpAddress(host, port, this.#family);
    const handlers = this.#handlers;
    if (typeof handlers === 'function') this.#deliver(handlers, pdu, from);
    else if (handlers !== undefined) for (const handler of handlers) this.#deliver(handler, pdu, from);
  }

  #deliver(handler: ShimHandler, pdu: Uint8Array, from: string): void {
    try {
      handler(pdu, from);
    } catch {
      this.#stats.handlerErrors++;
    }
  }
}
