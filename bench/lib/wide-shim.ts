/**
 * A what-if, not the library: a minimal IPv4 Shim over node:dgram whose socket
 * asks the kernel for a larger receive buffer (`recvBufferSize`), which the
 * library's UdpShim has no option for. Used only in a row labelled as such,
 * to show how much of the throughput shortfall is datagrams dropped by a
 * full receive buffer rather than the enroller's own speed.
 */
import { createSocket, type Socket } from 'node:dgram';
import type { Shim } from '../../src/index.js';

export class WideBufferShim implements Shim {
  readonly localAddress: string;
  readonly #socket: Socket;
  readonly #handlers = new Set<(pdu: Uint8Array, from: string) => void>();
  /** The receive buffer the kernel granted (Linux reports twice the request, for its bookkeeping). */
  readonly recvBufferBytes: number;

  private constructor(socket: Socket) {
    this.#socket = socket;
    const a = socket.address();
    this.localAddress = `${a.address}:${a.port}`;
    this.recvBufferBytes = socket.getRecvBufferSize();
    socket.on('message', (msg, rinfo) => {
      const pdu = new Uint8Array(msg.buffer, msg.byteOffset, msg.length);
      const from = `${rinfo.address}:${rinfo.port}`;
      for (const h of this.#handlers) {
        try {
          h(pdu, from);
        } catch {
          // as UdpShim: a handler's failure is its own
        }
      }
    });
    socket.on('error', () => undefined);
  }

  static async bind(port: number, recvBufferSize: number): Promise<WideBufferShim> {
    const socket = createSocket({ type: 'udp4', recvBufferSize });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, '127.0.0.1', () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new WideBufferShim(socket);
  }

  send(to: string, pdu: Uint8Array): Promise<void> {
    const i = to.lastIndexOf(':');
    return new Promise((resolve, reject) => {
      this.#socket.send(pdu, Number(to.slice(i + 1)), to.slice(0, i), (err) => (err ? reject(err) : resolve()));
    });
  }

  onReceive(handler: (pdu: Uint8Array, from: string) => void): () => void {
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      try {
        this.#socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }
}
