/**
 * The far end of the UDP scenarios, in its own process (so on its own core):
 * an Enroller on a UdpShim, or a bare node:dgram echo server as the floor.
 * Driven by the parent over the IPC channel; it measures its own CPU time, so
 * figures "per core" are the enroller's alone, not the load generator's.
 */
import { createSocket } from 'node:dgram';
import type { Enroller as EnrollerT, EnrollerOptions, FileAddressStore as Store, Shim } from '../src/index.js';
import { WideBufferShim } from './lib/wide-shim.js';
import { Enroller, FileAddressStore, MemoryRib, UdpShim } from './lib/lib.js';
import type { ChildReply, ChildRequest, ChildStats } from './lib/child-protocol.js';

let enroller: EnrollerT | undefined;
let udp: Shim | undefined;
let recvBufferBytes: number | undefined;
let store: Store | undefined;
let echo: ReturnType<typeof createSocket> | undefined;

// Counters since the last `mark`.
let markCpu = process.cpuUsage();
let markAt = performance.now();
let received = 0;
let sent = 0;
let maxPending = 0;
let enrolled = 0;
let target = Number.POSITIVE_INFINITY;
let targetCpuMs: number | undefined;
let targetWallMs: number | undefined;
let firstEnrolledWallMs: number | undefined;

const cpuSinceMark = (): number => {
  const d = process.cpuUsage(markCpu);
  return (d.user + d.system) / 1000;
};

function stats(): ChildStats {
  return {
    cpuMs: cpuSinceMark(),
    wallMs: performance.now() - markAt,
    received,
    sent,
    maxPending,
    pending: enroller?.pendingEnrollments ?? 0,
    members: enroller?.members().length ?? 0,
    enrolled,
    targetCpuMs,
    targetWallMs,
    firstEnrolledWallMs,
    storeWrites: store?.writes ?? 0,
    heapUsed: process.memoryUsage().heapUsed,
    recvBufferBytes,
    enroller: enrollerStats(),
  };
}

/** The Enroller's own counters, when it has them (not every version does). */
function enrollerStats(): Record<string, number> | undefined {
  const e = enroller as unknown as { stats?: () => Record<string, number> } | undefined;
  return typeof e?.stats === 'function' ? { ...e.stats() } : undefined;
}

async function startEnroller(req: Extract<ChildRequest, { type: 'enroller' }>): Promise<string> {
  let inner: Shim;
  if (req.recvBufferSize === undefined) {
    inner = await UdpShim.bind(`127.0.0.1:${req.port ?? 0}`);
  } else {
    const wide = await WideBufferShim.bind(req.port ?? 0, req.recvBufferSize);
    recvBufferBytes = wide.recvBufferBytes;
    inner = wide;
  }
  udp = inner;
  // A pass-through shim that counts datagrams and samples the enrollments in
  // progress after every PDU: sessions open and close synchronously inside the
  // handler, so this sees the exact peak.
  const shim: Shim = {
    localAddress: inner.localAddress,
    send: (to, pdu) => {
      sent++;
      return inner.send(to, pdu);
    },
    onReceive: (handler) =>
      inner.onReceive((pdu, from) => {
        received++;
        handler(pdu, from);
        const p = enroller?.pendingEnrollments ?? 0;
        if (p > maxPending) maxPending = p;
      }),
    close: () => inner.close(),
  };
  store = req.statePath === undefined ? undefined : new FileAddressStore(req.statePath);
  const options: EnrollerOptions = {
    shim,
    rib: new MemoryRib(),
    ipcpName: 'bootstrap',
    difName: 'demo.DIF',
    addressPool: { first: 1002, last: 1_000_000 },
    ...(store === undefined ? {} : { store }),
    ...(req.options as Partial<EnrollerOptions> | undefined),
  };
  enroller = new Enroller(options);
  enroller.on('member:enrolled', () => {
    enrolled++;
    if (enrolled === 1) firstEnrolledWallMs = performance.now() - markAt;
    if (enrolled === target) {
      targetCpuMs = cpuSinceMark();
      targetWallMs = performance.now() - markAt;
    }
  });
  await enroller.start();
  return inner.localAddress;
}

async function startEcho(): Promise<string> {
  const socket = createSocket('udp4');
  echo = socket;
  socket.on('message', (msg, rinfo) => {
    received++;
    socket.send(msg, rinfo.port, rinfo.address);
    sent++;
  });
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const a = socket.address();
  return `${a.address}:${a.port}`;
}

async function handle(req: ChildRequest): Promise<ChildReply> {
  switch (req.type) {
    case 'enroller':
      return { id: req.id, address: await startEnroller(req) };
    case 'echo':
      return { id: req.id, address: await startEcho() };
    case 'mark':
      markCpu = process.cpuUsage();
      markAt = performance.now();
      received = 0;
      sent = 0;
      maxPending = enroller?.pendingEnrollments ?? 0;
      enrolled = 0;
      target = req.target ?? Number.POSITIVE_INFINITY;
      targetCpuMs = undefined;
      targetWallMs = undefined;
      firstEnrolledWallMs = undefined;
      return { id: req.id };
    case 'stats':
      return { id: req.id, stats: stats() };
    case 'members':
      return { id: req.id, members: (enroller?.members() ?? []).map((m) => ({ name: m.name, address: m.address })) };
    case 'stop':
      await enroller?.stop();
      await udp?.close();
      echo?.close();
      setImmediate(() => process.exit(0));
      return { id: req.id };
  }
}

process.on('message', (req: ChildRequest) => {
  handle(req).then(
    (reply) => process.send?.(reply),
    (err: unknown) => process.send?.({ id: req.id, error: String((err as Error)?.stack ?? err) }),
  );
});
// The parent went away: so do we.
process.on('disconnect', () => process.exit(0));
process.send?.({ id: 0, ready: true });
