/**
 * A flood over UDP on 127.0.0.1: while 100 real members enrol, the enroller
 * receives 100,000 random datagrams and 10,000 bogus M_CONNECTs. Every real
 * member enrols, the enroller keeps running, and its heap grows by less than
 * the bound stated below. Bounded in count; it stops by itself.
 */
import { createSocket, type Socket } from 'node:dgram';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, expect, it } from 'vitest';
import { Enroller, EnrollmentManager, encodeCdapMessage, MemoryRib, OpCode, parseUdpAddress, UdpShim } from '../../src/index.js';

const HEAP_BOUND_BYTES = 64 * 1024 * 1024;
const undo: Array<() => unknown> = [];
afterEach(async () => {
  while (undo.length > 0) await undo.pop()?.();
});

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const heap = () => {
  gc();
  return process.memoryUsage().heapUsed;
};

async function socket(): Promise<Socket> {
  const s = createSocket('udp4');
  s.on('error', () => undefined);
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  undo.push(() => new Promise<void>((r) => s.close(() => r())));
  return s;
}

it('100 members enrol through 100,000 random datagrams and 10,000 bogus CONNECTs', async () => {
  const shim = await UdpShim.bind('127.0.0.1:0');
  const enroller = new Enroller({
    shim,
    rib: new MemoryRib(),
    ipcpName: 'bootstrap',
    difName: 'demo.DIF',
    addressPool: { first: 1, last: 5000 },
  });
  await enroller.start();
  undo.push(
    () => shim.close(),
    () => enroller.stop(),
  );
  const target = parseUdpAddress(shim.localAddress);
  const before = heap();

  const members: EnrollmentManager[] = [];
  for (let i = 0; i < 100; i++) {
    const s = await UdpShim.bind('127.0.0.1:0');
    const mgr = new EnrollmentManager({
      shim: s,
      rib: new MemoryRib(),
      ipcpName: `m${i}`,
      difName: 'demo.DIF',
      config: { retransmitMs: 50, maxRetransmitMs: 200, timeoutMs: 5000, bootstraps: [shim.localAddress] },
    });
    undo.push(
      () => s.close(),
      () => mgr.close(),
    );
    members.push(mgr);
  }

  // The flood: 20 sockets, 5,000 random datagrams and 500 bogus CONNECTs each, in bursts.
  const flooders = await Promise.all(Array.from({ length: 20 }, () => socket()));
  let seed = 7;
  const random = () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  // Paced so that the kernel's receive buffer does not simply drop the flood:
  // 25 datagrams per turn of the event loop, the enroller reads between turns.
  let junkSent = 0;
  let bogusSent = 0;
  const flood = (async () => {
    for (let turn = 0; junkSent < 100_000 || bogusSent < 10_000; turn++) {
      for (let i = 0; i < 25; i++) {
        const f = (turn * 25 + i) % flooders.length;
        const s = flooders[f];
        if (s === undefined) continue;
        if (bogusSent < 10_000 && (junkSent >= 100_000 || (turn * 25 + i) % 11 === 0)) {
          const bogus = encodeCdapMessage({
            opCode: OpCode.M_CONNECT,
            absSyntax: 73,
            version: 1n,
            invokeId: (bogusSent % 1000) + 1,
            srcApName: `bogus-${bogusSent}`,
            destApName: 'demo.DIF',
          });
          s.send(bogus, target.port, target.host);
          bogusSent++;
        } else if (junkSent < 100_000) {
          const junk = new Uint8Array(1 + Math.floor(random() * 200)).map(() => Math.floor(random() * 256));
          s.send(junk, target.port, target.host);
          junkSent++;
        }
      }
      await new Promise((r) => setImmediate(r));
    }
  })();

  const enrolled = Promise.all(members.map((m) => m.enrol()));
  await Promise.all([flood, enrolled]);

  expect(new Set(members.map((m) => m.address)).size).toBe(100);
  expect(enroller.running).toBe(true);
  const stats = enroller.stats();
  expect(junkSent + bogusSent).toBe(110_000);
  expect(stats.received).toBeGreaterThan(55_000); // most of the flood did reach the enroller (the kernel may drop some)
  // One enrollment in progress per shim address: 20 flooders and 100 members at most (the bound itself is tried
  // with spoofed addresses in spoofed-connect-flood.test.ts).
  expect(stats.pending).toBeLessThanOrEqual(flooders.length + members.length);
  expect(stats.trackedPeers).toBeLessThanOrEqual(10_000);
  const grown = heap() - before;
  console.log(
    `flood: enroller received ${stats.received} PDUs (${stats.rateLimited} rate-limited, ${stats.malformed} malformed, ` +
      `${stats.rejected} refused), ${stats.members} members, heap grew ${(grown / 1024 / 1024).toFixed(1)} MiB (bound 64 MiB)`,
  );
  expect(grown).toBeLessThan(HEAP_BOUND_BYTES);
}, 30_000);
