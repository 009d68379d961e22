/** Many members over UDP, each on its own socket (the enroller tells members apart by shim address). */
import type { EnrollmentConfigInput, EnrollmentManager as Manager, Shim, UdpShim as Udp } from '../../src/index.js';
import { EnrollmentManager, MemoryRib, UdpShim } from './lib.js';
import { fdLimit, openFds } from './env.js';

/** The most datagrams every {@link WatchedShim} of this process together sent within one millisecond. */
export const sendBursts = {
  ms: -1,
  count: 0,
  largest: 0,
  /** Starts a new measurement. */
  reset(): void {
    this.ms = -1;
    this.count = 0;
    this.largest = 0;
  },
  /** Counts one datagram sent now. */
  add(): void {
    const ms = Math.floor(performance.now());
    if (ms !== this.ms) {
      this.ms = ms;
      this.count = 0;
    }
    this.count++;
    if (this.count > this.largest) this.largest = this.count;
  },
};

/** A Shim that counts and timestamps traffic: the benchmark's own view, independent of the library's bookkeeping. */
export class WatchedShim implements Shim {
  /** `performance.now()` of the last datagram received. */
  lastReceivedAt = 0;
  /** `performance.now()` of the last datagram sent, and its size. */
  lastSentAt = 0;
  lastSentBytes = 0;
  sent = 0;
  received = 0;
  constructor(readonly inner: Udp) {}
  get localAddress(): string {
    return this.inner.localAddress;
  }
  send(to: string, pdu: Uint8Array): Promise<void> {
    this.sent++;
    this.lastSentAt = performance.now();
    this.lastSentBytes = pdu.length;
    sendBursts.add();
    return this.inner.send(to, pdu);
  }
  onReceive(handler: (pdu: Uint8Array, from: string) => void): () => void {
    return this.inner.onReceive((pdu, from) => {
      this.lastReceivedAt = performance.now();
      this.received++;
      handler(pdu, from);
    });
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** How many more UDP sockets this process may open, keeping `reserve` descriptors spare. */
export function socketsAvailable(reserve = 256): number {
  const limit = fdLimit();
  if (!Number.isFinite(limit)) return Number.POSITIVE_INFINITY;
  return Math.max(0, limit - openFds() - reserve);
}

/** Binds up to `n` UDP shims on 127.0.0.1: as many as the open-files limit allows. */
export async function makeShims(n: number): Promise<WatchedShim[]> {
  const count = Math.min(n, socketsAvailable());
  const shims: WatchedShim[] = [];
  for (let i = 0; i < count; i += 500) {
    const batch = await Promise.all(Array.from({ length: Math.min(500, count - i) }, () => UdpShim.bind('127.0.0.1:0')));
    for (const s of batch) shims.push(new WatchedShim(s));
  }
  return shims;
}

/** One manager per shim, named `${prefix}-${i}`, joining demo.DIF. */
export function makeManagers(shims: readonly Shim[], config: EnrollmentConfigInput, prefix = 'm', from = 0): Manager[] {
  return shims.map(
    (shim, i) => new EnrollmentManager({ shim, rib: new MemoryRib(), ipcpName: `${prefix}-${from + i}`, difName: 'demo.DIF', config }),
  );
}

/**
 * Enrols every manager, `batch` at a time. This is set-up, not measurement:
 * small batches keep the enroller's socket from overflowing, so enrolled
 * members' keepalives are not lost among the newcomers' datagrams. Throws if
 * any fails.
 */
export async function enrolAll(managers: readonly Manager[], bootstrap: string, batch = 100): Promise<void> {
  for (let i = 0; i < managers.length; i += batch) {
    await Promise.all(managers.slice(i, i + batch).map((m) => m.enrolWithBootstrap(bootstrap)));
  }
}

/** Closes managers (each sends M_RELEASE, a datagram an absent enroller never gets), then their sockets. */
export async function closeAll(managers: readonly Manager[], shims: readonly Shim[]): Promise<void> {
  await Promise.all(managers.map((m) => m.close()));
  await Promise.all(shims.map((s) => s.close()));
}
