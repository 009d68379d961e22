/**
 * A fault-injecting UDP proxy for tests, on 127.0.0.1 only: members send to
 * the proxy, which forwards to the target from one upstream socket per
 * member (so the target still tells members apart) and carries the answers
 * back. Drop, delay, duplicate, reorder and blackhole are switchable at run
 * time and reproducible under a seed.
 */
import { createSocket, type Socket } from 'node:dgram';
import { parseUdpAddress } from '../../src/index.js';
import { seededRandom } from '../../src/util/random.js';

export interface ProxyFaults {
  /** Probability that a datagram is lost. */
  drop?: number;
  /** Delay of every datagram, ms. */
  delayMs?: number;
  /** Extra random delay in [0, jitterMs), ms. */
  jitterMs?: number;
  /** Probability that a datagram is delivered twice. */
  duplicate?: number;
  /** Probability that a datagram is held back and sent after the next one. */
  reorder?: number;
  /** Drop everything, both ways. */
  blackhole?: boolean;
}

interface Held {
  send: () => void;
}

export class UdpProxy {
  readonly address: string;
  readonly #front: Socket;
  readonly #target: { host: string; port: number };
  readonly #upstreams = new Map<string, Socket>();
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  readonly #random: () => number;
  #faults: Required<ProxyFaults> = { drop: 0, delayMs: 0, jitterMs: 0, duplicate: 0, reorder: 0, blackhole: false };
  /** One held-back datagram per direction, for reordering. */
  readonly #held = new Map<string, Held>();
  forwarded = 0;
  dropped = 0;

  private constructor(front: Socket, target: string, seed: number) {
    this.#front = front;
    const t = parseUdpAddress(target);
    this.#target = { host: t.host, port: t.port };
    this.#random = seededRandom(seed);
    const a = front.address();
    this.address = `${a.address}:${a.port}`;
    front.on('message', (msg, rinfo) => this.#fromMember(msg, `${rinfo.address}:${rinfo.port}`));
    front.on('error', () => undefined);
  }

  /** Starts a proxy on 127.0.0.1 in front of `target` (an IPv4 `host:port`). */
  static async start(target: string, faults: ProxyFaults = {}, seed = 1): Promise<UdpProxy> {
    const front = createSocket('udp4');
    await new Promise<void>((resolve) => front.bind(0, '127.0.0.1', resolve));
    const proxy = new UdpProxy(front, target, seed);
    proxy.setFaults(faults);
    return proxy;
  }

  setFaults(faults: ProxyFaults): void {
    this.#faults = { ...this.#faults, ...faults };
  }

  async close(): Promise<void> {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#held.clear();
    const sockets = [this.#front, ...this.#upstreams.values()];
    this.#upstreams.clear();
    await Promise.all(sockets.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }

  #fromMember(msg: Buffer, member: string): void {
    let up = this.#upstreams.get(member);
    if (up === undefined) {
      const socket = createSocket('udp4');
      socket.bind(0, '127.0.0.1');
      socket.on('error', () => undefined);
      const { host, port } = parseUdpAddress(member);
      socket.on('message', (reply) => this.#pass(`down:${member}`, () => this.#front.send(reply, port, host)));
      this.#upstreams.set(member, socket);
      up = socket;
    }
    const upstream = up;
    this.#pass(`up:${member}`, () => upstream.send(msg, this.#target.port, this.#target.host));
  }

  /** Applies the faults to one datagram travelling in `direction`. */
  #pass(direction: string, send: () => void): void {
    const f = this.#faults;
    if (f.blackhole || (f.drop > 0 && this.#random() < f.drop)) {
      this.dropped++;
      return;
    }
    const copies = f.duplicate > 0 && this.#random() < f.duplicate ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const deliver = (): void => {
        this.forwarded++;
        try {
          send();
        } catch {
          // closed meanwhile
        }
      };
      const held = this.#held.get(direction);
      if (held !== undefined) {
        // The held-back one goes after this one: reordered.
        this.#held.delete(direction);
        this.#later(deliver);
        this.#later(held.send);
        continue;
      }
      if (f.reorder > 0 && this.#random() < f.reorder) {
        this.#held.set(direction, { send: deliver });
        // never hold for long: release it if nothing follows
        this.#later(() => {
          if (this.#held.get(direction)?.send === deliver) {
            this.#held.delete(direction);
            deliver();
          }
        }, 50);
        continue;
      }
      this.#later(deliver);
    }
  }

  #later(fn: () => void, extra = 0): void {
    const f = this.#faults;
    const delay = f.delayMs + (f.jitterMs > 0 ? this.#random() * f.jitterMs : 0) + extra;
    if (delay <= 0) {
      fn();
      return;
    }
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, delay);
    this.#timers.add(t);
  }
}
