/**
 * The far end of the UDP scenarios, in its own process (so on its own core):
 * an Enroller on a UdpShim (with the address store a scenario asks for), or a
 * bare node:dgram echo server as the floor; and the etcd floor, timed here
 * when the enroller's store is on etcd.
 * Driven by the parent over the IPC channel; it measures its own CPU time, so
 * figures "per core" are the enroller's alone, not the load generator's.
 */
import './lib/plain-node.js'; // first: plain node's stack traces, as users get them
import { createSocket } from 'node:dgram';
import type { Etcd3 } from 'etcd3';
import type { AddressStore, Enroller as EnrollerT, EnrollerOptions, FileAddressStore as Store, Shim } from '../src/index.js';
import { Enroller, FileAddressStore, MemoryAddressStore, MemoryRib, UdpShim } from './lib/lib.js';
import type { ChildReply, ChildRequest, ChildStats } from './lib/child-protocol.js';
import { countingStore, type StoreCalls } from './lib/counting-store.js';
import { loadEtcdStore } from './lib/etcd.js';
import { traceEnroller } from './scale/trace.js';

let enroller: EnrollerT | undefined;
let udp: Shim | undefined;
let recvBufferBytes: number | undefined;
let store: Store | undefined;
/** With a `store` spec: the store the enroller uses, and its calls as counted by the pass-through. */
let specStore: AddressStore | undefined;
let storeCalls: StoreCalls | undefined;
let storeAtMark: Record<string, number> | undefined;
let echo: ReturnType<typeof createSocket> | undefined;
/** The etcd floor's own client (not the store's), and its requests so far (fresh keys for each). */
let floorClient: Etcd3 | undefined;
let floorOps = 0;

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
    rss: process.memoryUsage.rss(),
    recvBufferBytes,
    enroller: enrollerStats(),
    store: storeAtMark === undefined ? undefined : minus(storeCounters(), storeAtMark),
    storeTotal: storeAtMark === undefined ? undefined : storeCounters(),
  };
}

/** The store's counters now: calls made to it, its own stats() (EtcdAddressStore), its file writes (FileAddressStore). */
function storeCounters(): Record<string, number> {
  const own = specStore as unknown as { stats?: () => Record<string, number>; writes?: number } | undefined;
  return {
    bind: storeCalls?.bind ?? 0,
    release: storeCalls?.release ?? 0,
    leave: storeCalls?.leave ?? 0,
    ...(typeof own?.stats === 'function' ? own.stats() : {}),
    ...(typeof own?.writes === 'number' ? { writes: own.writes } : {}),
  };
}

function minus(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(a).map(([k, v]) => [k, v - (b[k] ?? 0)]));
}

async function makeStore(spec: NonNullable<Extract<ChildRequest, { type: 'enroller' }>['store']>): Promise<AddressStore> {
  switch (spec.kind) {
    case 'memory':
      return new MemoryAddressStore();
    case 'file':
      return new FileAddressStore(spec.path);
    case 'etcd':
      return new (await loadEtcdStore()).EtcdAddressStore({
        hosts: spec.hosts,
        prefix: spec.prefix,
        ...(spec.leaseTtlSecs === undefined ? {} : { leaseTtlSecs: spec.leaseTtlSecs }),
        ...(spec.txnTargetMs === undefined ? {} : { txnTargetMs: spec.txnTargetMs }),
      });
  }
}

/** The Enroller's own counters, when it has them (not every version does). */
function enrollerStats(): Record<string, number> | undefined {
  const e = enroller as unknown as { stats?: () => Record<string, number> } | undefined;
  return typeof e?.stats === 'function' ? { ...e.stats() } : undefined;
}

async function startEnroller(req: Extract<ChildRequest, { type: 'enroller' }>): Promise<string> {
  const inner = await UdpShim.bind(`127.0.0.1:${req.port ?? 0}`);
  recvBufferBytes = inner.recvBufferSize;
  udp = inner;
  // A pass-through shim that counts datagrams and samples the enrollments in
  // progress after every PDU: sessions open and close synchronously inside the
  // handler, so this sees the exact peak.
  const shim: Shim = {
    localAddress: inner.localAddress,
    selfAddress: inner.selfAddress, // the enroller probes its receive queue through it, as on the bare UdpShim
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
  let chosen: AddressStore | undefined;
  if (req.store !== undefined) {
    specStore = await makeStore(req.store);
    const counted = countingStore(specStore);
    storeCalls = counted.calls;
    chosen = counted.store;
  } else {
    store = req.statePath === undefined ? undefined : new FileAddressStore(req.statePath);
    chosen = store;
  }
  const options: EnrollerOptions = {
    shim,
    rib: new MemoryRib(),
    ipcpName: req.ipcpName ?? 'bootstrap',
    difName: 'demo.DIF',
    addressPool: { first: 1002, last: 1_000_000 },
    ...(chosen === undefined ? {} : { store: chosen }),
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
  if (specStore !== undefined) {
    storeAtMark = storeCounters();
    const traced = enroller;
    traceEnroller(options.ipcpName, storeCounters, () => ({
      members: traced.members().length,
      pending: traced.pendingEnrollments,
      received,
      sent,
      keepalives: traced.stats().keepalives,
      busy: traced.stats().busy,
    }));
  }
  return inner.localAddress;
}

/** See the `settle` request. */
async function settle(members: number | undefined, timeoutMs: number): Promise<boolean> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    const quiet = (storeCalls?.inFlight ?? 0) === 0 && (members === undefined || (enroller?.members().length ?? 0) <= members);
    if (quiet) return true;
    if (performance.now() > until) return false;
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** See the `etcd-floor` request. */
async function etcdFloor(req: Extract<ChildRequest, { type: 'etcd-floor' }>): Promise<{ samples: number[]; keys: number }> {
  floorClient ??= new (await import('etcd3')).Etcd3({ hosts: req.hosts });
  const client = floorClient;
  const key = Buffer.from(req.key);
  const end = Buffer.from(req.key);
  end[end.length - 1] = (end[end.length - 1] ?? 0) + 1;
  const samples: number[] = [];
  let keys = 0;
  for (let i = 0; i < req.samples; i++) {
    const n = ++floorOps;
    const t0 = performance.now();
    if (req.op === 'txn') {
      await client.kv.txn({ compare: [], success: [{ request_put: { key, value: Buffer.from(String(n)) } }], failure: [] });
    } else if (req.op === 'bind') {
      const name = Buffer.from(`${req.key}names/f${n}`);
      const address = Buffer.from(`${req.key}addresses/${n}`);
      await client.kv.txn({
        compare: [
          { key: name, target: 'Create', result: 'Equal', create_revision: 0 },
          { key: address, target: 'Create', result: 'Equal', create_revision: 0 },
        ],
        success: [
          { request_put: { key: name, value: Buffer.from(String(n)) } },
          { request_put: { key: address, value: Buffer.from(`f${n}`) } },
          { request_put: { key: Buffer.from(`${req.key}members/f${n}/floor`), value: Buffer.alloc(0) } },
        ],
        failure: [{ request_range: { key: name } }, { request_range: { key: address } }],
      });
    } else {
      keys = (await client.kv.range({ key, range_end: end })).kvs.length;
    }
    samples.push(performance.now() - t0);
  }
  return { samples, keys };
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
      if (specStore !== undefined) storeAtMark = storeCounters();
      return { id: req.id };
    case 'settle':
      return { id: req.id, settled: await settle(req.members, req.timeoutMs ?? 2000) };
    case 'etcd-floor':
      return { id: req.id, ...(await etcdFloor(req)) };
    case 'stats':
      return { id: req.id, stats: stats() };
    case 'members':
      return { id: req.id, members: (enroller?.members() ?? []).map((m) => ({ name: m.name, address: m.address })) };
    case 'stop':
      await enroller?.stop();
      await udp?.close();
      echo?.close();
      floorClient?.close();
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
