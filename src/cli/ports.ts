/**
 * @module
 */
import { createSocket } from 'node:dgram';

/**
 * A UDP port on 127.0.0.1 that was free a moment ago, chosen below the
 * kernel's ephemeral range (32768 and up on Linux), so that no socket bound to
 * port 0 can take it between now and its use, or while an enroller restarts
 * on it.
 */
export async function freeUdpPort(): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    const socket = createSocket('udp4');
    const ok = await new Promise<boolean>((resolve) => {
      socket.once('error', () => resolve(false));
      socket.bind(port, '127.0.0.1', () => resolve(true));
    });
    await new Promise<void>((resolve) => socket.close(() => resolve()));
    if (ok) return port;
  }
  throw new Error('no free UDP port found in 20000-29999');
}
