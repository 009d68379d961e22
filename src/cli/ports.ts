/**
 * @module
 */
import { createSocket } from 'node:dgram';

/** A range of UDP ports, both ends included. */
export interface PortBand {
  readonly from: number;
  readonly to: number;
}

/**
 * Below the kernel's ephemeral range (32768 and up on Linux), so that no socket bound to port 0 can take a port chosen here between
 * now and its use, or while an enroller restarts on it.
 */
const DEMO_BAND: PortBand = { from: 20_000, to: 29_999 };

/**
 * A UDP port on 127.0.0.1 that was free a moment ago, chosen at random in `band` (by default 20000-29999), never one of `taken`.
 * Two processes that choose in the same band at the same time can still choose the same port: give them disjoint bands.
 */
export async function freeUdpPort(band: PortBand = DEMO_BAND, taken: ReadonlySet<number> = new Set()): Promise<number> {
  const size = band.to - band.from + 1;
  for (let tries = 0; tries < 50; tries++) {
    const port = band.from + Math.floor(Math.random() * size);
    if (taken.has(port)) continue;
    const socket = createSocket('udp4');
    const ok = await new Promise<boolean>((resolve) => {
      socket.once('error', () => resolve(false));
      socket.bind(port, '127.0.0.1', () => resolve(true));
    });
    await new Promise<void>((resolve) => socket.close(() => resolve()));
    if (ok) return port;
  }
  throw new Error(`no free UDP port found in ${band.from}-${band.to}`);
}
