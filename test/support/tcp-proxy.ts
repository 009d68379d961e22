/**
 * A TCP proxy on 127.0.0.1 that a test can cut and restore: what an enroller
 * cut off from etcd sees. Cut, it drops every connection and swallows new
 * ones (accepted, never forwarded, so the client's calls time out as they
 * would on a dead link); restored, it forwards again. Stalled, it holds
 * what the server sends (the client's requests still go through) until it
 * flows again: late answers, as from a slow server or a starved client.
 */
import { createServer, type Server, type Socket, connect } from 'node:net';

export class TcpProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  /** Each connection's server side and the client it pipes to. */
  readonly #answers = new Map<Socket, Socket>();
  #cut = false;
  #stalled = false;

  private constructor(server: Server) {
    this.#server = server;
  }

  /** Listens on 127.0.0.1 (a free port) and forwards to `target` (`host:port`). */
  static async start(target: string): Promise<TcpProxy> {
    const [host, port] = target.replace(/^https?:\/\//, '').split(':');
    let proxy: TcpProxy | undefined;
    const server = createServer((client) => {
      const self = proxy as TcpProxy;
      self.#sockets.add(client);
      client.on('close', () => self.#sockets.delete(client));
      client.on('error', () => undefined);
      if (self.#cut) return; // a black hole: accepted, never answered
      const upstream = connect(Number(port), host ?? '127.0.0.1');
      self.#sockets.add(upstream);
      upstream.on('close', () => {
        self.#sockets.delete(upstream);
        self.#answers.delete(upstream);
      });
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      client.pipe(upstream);
      self.#answers.set(upstream, client);
      if (!self.#stalled) upstream.pipe(client);
    });
    proxy = new TcpProxy(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  /** `http://127.0.0.1:<port>`, for an etcd client. */
  get url(): string {
    const address = this.#server.address();
    return `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
  }

  /** Cuts the link: every connection dropped, new ones left hanging. */
  cut(): void {
    this.#cut = true;
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
  }

  /** Holds what the server sends, on every connection (new ones too), until {@link flow}. */
  stall(): void {
    this.#stalled = true;
    for (const [upstream, client] of this.#answers) upstream.unpipe(client);
  }

  /** Delivers what was held, and forwards again. */
  flow(): void {
    this.#stalled = false;
    for (const [upstream, client] of this.#answers) upstream.pipe(client);
  }

  /** Restores the link: the connections left hanging are dropped, so clients dial again and get through. */
  restore(): void {
    this.#cut = false;
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
