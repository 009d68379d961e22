/**
 * An in-memory datagram network for tests and embedded use, with fault
 * injection (loss, delay, jitter, duplication, partitions) that is
 * reproducible under a seed.
 *
 * @module
 */
import * as z from 'zod/mini';
import { integer, lazySchema, nonNegative as milliseconds, parseWith } from '../util/schema.js';
import { ShimError } from '../errors.js';
import { listenerThrew } from '../util/events.js';
import { seededRandom } from '../util/random.js';
import { checkSend, receiveHandler, type Shim, type ShimHandler } from './shim.js';

const probability = () =>
  z.number({ error: 'must be a finite number' }).check(z.gte(0, { error: 'must be in 0..1' }), z.lte(1, { error: 'must be in 0..1' }));

const faultsSchema = lazySchema(() =>
  z.strictObject({
    /** Probability that a datagram is lost. @default 0 */
    drop: z.optional(probability()),
    /** Fixed delay of every datagram, in milliseconds. @default 0 */
    delayMs: z.optional(milliseconds()),
    /** Extra random delay in [0, jitterMs) per datagram; reorders datagrams. @default 0 */
    jitterMs: z.optional(milliseconds()),
    /** Probability that a datagram is delivered twice. @default 0 */
    duplicate: z.optional(probability()),
  }),
);

const optionsSchema = lazySchema(() =>
  z.extend(faultsSchema(), {
    /** Seed of the fault generator: the same seed gives the same faults. @default random */
    seed: z.optional(z.number({ error: 'must be a finite number' }).check(integer)),
    /** Largest datagram accepted, in bytes; larger sends reject with ShimError. @default 65507 */
    maxPduBytes: z.optional(z.number({ error: 'must be a finite number' }).check(integer, z.positive({ error: 'must be > 0' }))),
  }),
);

/**
 * Faults injected into every datagram; probabilities in 0..1, times in milliseconds.
 * @interface
 */
export type MemoryNetworkFaults = z.input<ReturnType<typeof faultsSchema>>;
/**
 * Options of {@link MemoryNetwork}: the initial faults, a seed and the datagram size limit.
 * @interface
 */
export type MemoryNetworkOptions = z.input<ReturnType<typeof optionsSchema>>;

/** What became of one datagram handed to the network, as seen by {@link MemoryNetwork.tap}. */
export interface MemoryPacket {
  /** The sender's shim address. */
  readonly from: string;
  /** The destination shim address. */
  readonly to: string;
  /** A copy of the datagram's bytes. */
  readonly pdu: Uint8Array;
  /** `sent`: on its way (maybe twice); `lost`: dropped by the loss fault; `partitioned`: cut by a partition. */
  readonly fate: 'sent' | 'lost' | 'partitioned';
}

/** Counters of a {@link MemoryNetwork}. */
export interface MemoryNetworkStats {
  /** Datagrams put on their way (neither lost nor partitioned); a duplicated one counts once. */
  sent: number;
  /** Datagrams handed to an attached node, duplicates included. */
  delivered: number;
  /** Datagrams dropped by the `drop` fault. */
  lost: number;
  /** Datagrams cut by a partition. */
  partitioned: number;
  /** Extra copies made by the `duplicate` fault. */
  duplicated: number;
  /** Datagrams to an address nobody is attached to (or left before delivery). */
  undeliverable: number;
  /** Exceptions thrown by receive handlers (caught, so one node cannot break the network). */
  handlerErrors: number;
}

const pairKey = (a: string, b: string): string => (a < b ? `${a}\u0000${b}` : `${b}\u0000${a}`);

/**
 * A datagram network in memory. `attach(address)` gives a {@link Shim}.
 * Delivery is always asynchronous; without delay it happens on a microtask.
 */
export class MemoryNetwork {
  readonly #nodes = new Map<string, MemoryShim>();
  readonly #partitions = new Set<string>();
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  readonly #taps = new Set<(packet: MemoryPacket) => void>();
  readonly #random: () => number;
  readonly #maxPduBytes: number;
  #faults: { drop: number; delayMs: number; jitterMs: number; duplicate: number };
  readonly #stats: MemoryNetworkStats = {
    sent: 0,
    delivered: 0,
    lost: 0,
    partitioned: 0,
    duplicated: 0,
    undeliverable: 0,
    handlerErrors: 0,
  };

  constructor(options: MemoryNetworkOptions = {}) {
    const o = parseWith(optionsSchema(), options);
    this.#random = seededRandom(o.seed ?? Math.floor(Math.random() * 2 ** 32));
    this.#maxPduBytes = o.maxPduBytes ?? 65_507;
    this.#faults = { drop: o.drop ?? 0, delayMs: o.delayMs ?? 0, jitterMs: o.jitterMs ?? 0, duplicate: o.duplicate ?? 0 };
  }

  /** Attaches a node and returns its shim. Throws {@link ShimError} if the address is taken or empty. */
  attach(address: string): Shim {
    if (typeof address !== 'string' || address === '') throw new ShimError('a shim address must be a non-empty string');
    if (this.#nodes.has(address)) throw new ShimError(`shim address "${address}" is already attached`);
    const shim: MemoryShim = new MemoryShim(address, this.#maxPduBytes, {
      transmit: (to, pdu) => this.#transmit(address, to, pdu),
      release: () => {
        // Frees the address unless another node has it by now.
        if (this.#nodes.get(address) === shim) this.#nodes.delete(address);
      },
    });
    this.#nodes.set(address, shim);
    return shim;
  }

  /** Makes a node vanish: its shim is closed and datagrams to it are lost. The address may be attached again. */
  detach(address: string): void {
    const node = this.#nodes.get(address);
    if (node === undefined) return;
    this.#nodes.delete(address);
    node.markClosed();
  }

  /** Changes the faults at run time; fields left out keep their value. */
  setFaults(faults: MemoryNetworkFaults): void {
    const f = parseWith(faultsSchema(), faults);
    this.#faults = {
      drop: f.drop ?? this.#faults.drop,
      delayMs: f.delayMs ?? this.#faults.delayMs,
      jitterMs: f.jitterMs ?? this.#faults.jitterMs,
      duplicate: f.duplicate ?? this.#faults.duplicate,
    };
  }

  /** Cuts both directions between two shim addresses until {@link heal}. */
  partition(a: string, b: string): void {
    this.#partitions.add(pairKey(a, b));
  }

  /** Restores both directions between two shim addresses. */
  heal(a: string, b: string): void {
    this.#partitions.delete(pairKey(a, b));
  }

  /**
   * Observes every datagram handed to the network; returns the function that
   * stops observing. A listener that is not a function is a `ShimError`; one
   * that throws changes nothing of the datagram's fate (its error becomes a
   * process warning, code `RINA_ENROLLMENT_LISTENER`).
   */
  tap(listener: (packet: MemoryPacket) => void): () => void {
    if (typeof listener !== 'function')
      throw new ShimError(`MemoryNetwork.tap needs a function (packet) => void, got ${listener === null ? 'null' : typeof listener}`);
    this.#taps.add(listener);
    return () => this.#taps.delete(listener);
  }

  /** A copy of the network's counters. */
  stats(): MemoryNetworkStats {
    return { ...this.#stats };
  }

  /** Addresses attached now. */
  addresses(): string[] {
    return [...this.#nodes.keys()];
  }

  /** Detaches every node and drops every datagram in flight. */
  close(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    for (const address of [...this.#nodes.keys()]) this.detach(address);
  }

  #transmit(from: string, to: string, pdu: Uint8Array): void {
    const copy = pdu.slice();
    let fate: MemoryPacket['fate'] = 'sent';
    if (this.#partitions.has(pairKey(from, to))) fate = 'partitioned';
    else if (this.#faults.drop > 0 && this.#random() < this.#faults.drop) fate = 'lost';
    for (const listener of this.#taps) {
      try {
        listener({ from, to, pdu: copy, fate });
      } catch (err) {
        listenerThrew('a MemoryNetwork tap', err);
      }
    }
    if (fate === 'partitioned') {
      this.#stats.partitioned++;
      return;
    }
    if (fate === 'lost') {
      this.#stats.lost++;
      return;
    }
    this.#stats.sent++;
    this.#schedule(from, to, copy);
    if (this.#faults.duplicate > 0 && this.#random() < this.#faults.duplicate) {
      this.#stats.duplicated++;
      this.#schedule(from, to, copy);
    }
  }

  #schedule(from: string, to: string, pdu: Uint8Array): void {
    const { delayMs, jitterMs } = this.#faults;
    const delay = delayMs + (jitterMs > 0 ? this.#random() * jitterMs : 0);
    if (delay <= 0) {
      queueMicrotask(() => this.#deliver(from, to, pdu));
      return;
    }
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.#deliver(from, to, pdu);
    }, delay);
    timer.unref?.();
    this.#timers.add(timer);
  }

  #deliver(from: string, to: string, pdu: Uint8Array): void {
    const node = this.#nodes.get(to);
    if (node === undefined) {
      this.#stats.undeliverable++;
      return;
    }
    this.#stats.delivered++;
    this.#stats.handlerErrors += node.dispatch(pdu, from);
  }
}

/** What a shim may ask of its network: nothing that would let it forge a sender. */
interface Port {
  transmit(to: string, pdu: Uint8Array): void;
  release(): void;
}

class MemoryShim implements Shim {
  readonly localAddress: string;
  readonly #port: Port;
  readonly #maxPduBytes: number;
  readonly #handlers = new Set<ShimHandler>();
  #closed = false;

  constructor(address: string, maxPduBytes: number, port: Port) {
    this.localAddress = address;
    this.#port = port;
    this.#maxPduBytes = maxPduBytes;
  }

  async send(to: string, pdu: Uint8Array): Promise<void> {
    if (this.#closed) throw new ShimError(`shim "${this.localAddress}" is closed`);
    checkSend(to, pdu);
    if (pdu.length > this.#maxPduBytes) {
      throw new ShimError(`PDU of ${pdu.length} bytes exceeds the maximum of ${this.#maxPduBytes}`);
    }
    this.#port.transmit(to, pdu);
  }

  onReceive(handler: ShimHandler): () => void {
    receiveHandler(handler, 'MemoryNetwork shim');
    if (this.#closed) throw new ShimError(`MemoryNetwork shim ${this.localAddress} is closed: nothing can be received on it`);
    const wrapped: ShimHandler = (pdu, from) => handler(pdu, from);
    this.#handlers.add(wrapped);
    return () => {
      this.#handlers.delete(wrapped);
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#port.release();
    this.markClosed();
  }

  /** @internal */
  markClosed(): void {
    this.#closed = true;
    this.#handlers.clear();
  }

  /** @internal Runs every handler; returns how many threw. */
  dispatch(pdu: Uint8Array, from: string): number {
    let errors = 0;
    for (const handler of [...this.#handlers]) {
      try {
        handler(pdu, from);
      } catch {
        errors++;
      }
    }
    return errors;
  }
}
