/**
 * A member host of the scale scenario: thousands of `EnrollmentManager`s in
 * one process, each on its own UDP socket (the enroller tells members apart
 * by shim address), as many as the open-files limit allows. Driven by the
 * scenario over the IPC channel (bench/scale/protocol.ts).
 */
import '../lib/plain-node.js'; // first: plain node's stack traces, as users get them
import type { EnrollmentManager as Manager, EnrollmentState, UdpShim as Udp } from '../../src/index.js';
import { sleep } from '../lib/env.js';
import { EnrollmentManager, MemoryRib, UdpShim } from '../lib/lib.js';
import { socketsAvailable } from '../lib/members.js';
import type { HostProgress, HostReply, HostRequest } from './protocol.js';

const FIRST_ENROL_PAUSE_MS = 1000;

interface Slot {
  manager: Manager;
  shim: Udp;
  joined: boolean;
}

const slots: Slot[] = [];
/** The members of the last `make`, which the next `go` starts. */
let made: Slot[] = [];
let enrollments = 0;
let joined = 0;
let lastJoinedAt: number | undefined;
const failures: Record<string, number> = {};
const losses: Record<string, number> = {};
/** Since the last `watch`: member -> the address it held with a watched bootstrap. */
let watched = new Map<Slot, number>();
let watchedFrom = new Set<string>();
let lastBackAt: number | undefined;
let closing = false;

const bump = (table: Record<string, number>, key: string): void => {
  table[key] = (table[key] ?? 0) + 1;
};

/**
 * Member n's enrollers in order: `all[n mod N]` first, the others in an order
 * drawn from n (a seeded shuffle), so that the members of a lost enroller
 * spread over the others instead of all moving to its neighbour.
 */
function preference(all: readonly string[], n: number): string[] {
  const first = n % all.length;
  const rest = all.filter((_, j) => j !== first);
  let seed = (n * 2654435761) >>> 0;
  for (let i = rest.length - 1; i > 0; i--) {
    seed = (Math.imul(seed ^ (seed >>> 15), 2246822507) + 0x9e3779b9) >>> 0;
    const j = seed % (i + 1);
    [rest[i], rest[j]] = [rest[j] as string, rest[i] as string];
  }
  return [all[first] as string, ...rest];
}

async function make(req: Extract<HostRequest, { type: 'make' }>): Promise<number> {
  const count = Math.min(req.count, socketsAvailable(128));
  made = [];
  for (let i = 0; i < count; i += 500) {
    const batch = await Promise.all(Array.from({ length: Math.min(500, count - i) }, () => UdpShim.bind(`${req.ip}:0`)));
    for (const [k, shim] of batch.entries()) {
      const n = req.from + i + k;
      const bootstraps = preference(req.bootstraps, n);
      const manager = new EnrollmentManager({
        shim,
        rib: new MemoryRib(),
        ipcpName: `${req.prefix}${n}`,
        difName: 'demo.DIF', // the bench child's enroller's DIF
        config: { ...req.config, bootstraps },
      });
      const slot: Slot = { manager, shim, joined: false };
      manager.on('enrolled', () => onEnrolled(slot));
      manager.on('connection:lost', (info) => bump(losses, info.reason));
      made.push(slot);
      slots.push(slot);
    }
  }
  return count;
}

function onEnrolled(slot: Slot): void {
  enrollments++;
  const now = Date.now();
  if (!slot.joined) {
    slot.joined = true;
    joined++;
    lastJoinedAt = now;
  }
  const state = slot.manager.state;
  if (watched.has(slot) && state.type === 'enrolled' && !watchedFrom.has(state.bootstrap)) lastBackAt = now;
}

/** As an IPCP daemon: enrol until it works, then keep the monitor running. */
async function runMember(slot: Slot, delayMs: number): Promise<void> {
  await sleep(delayMs);
  while (!closing) {
    try {
      await slot.manager.enrol();
      slot.manager.startConnectionMonitoring();
      return;
    } catch (err) {
      if (closing) return;
      bump(failures, String((err as { code?: unknown }).code ?? (err as Error).name));
      await sleep(FIRST_ENROL_PAUSE_MS);
    }
  }
}

function go(spreadMs: number): void {
  const list = made;
  made = [];
  for (const [i, slot] of list.entries()) void runMember(slot, (i / Math.max(1, list.length)) * spreadMs);
}

function watch(bootstraps: string[]): void {
  watchedFrom = new Set(bootstraps);
  watched = new Map();
  lastBackAt = undefined;
  for (const slot of slots) {
    const s = slot.manager.state;
    if (s.type === 'enrolled' && watchedFrom.has(s.bootstrap)) watched.set(slot, s.address);
  }
}

function progress(): HostProgress {
  const byBootstrap: Record<string, number> = {};
  let enrolled = 0;
  for (const slot of slots) {
    const s: EnrollmentState = slot.manager.state;
    if (s.type !== 'enrolled') continue;
    enrolled++;
    bump(byBootstrap, s.bootstrap);
  }
  let home = 0;
  let moved = 0;
  for (const [slot, address] of watched) {
    const s = slot.manager.state;
    if (s.type !== 'enrolled' || watchedFrom.has(s.bootstrap)) continue;
    if (s.address === address) home++;
    else moved++;
  }
  const cpu = process.cpuUsage();
  return {
    members: slots.length,
    enrolled,
    enrollments,
    joined,
    lastJoinedAt,
    failures: { ...failures },
    losses: { ...losses },
    byBootstrap,
    watch: { total: watched.size, home, moved, lastBackAt },
    cpuMs: (cpu.user + cpu.system) / 1000,
    rss: process.memoryUsage().rss,
  };
}

function view(): Array<[string, number | null, string | null]> {
  return slots.map((slot) => {
    const s = slot.manager.state;
    const name = slot.manager.ipcpName ?? '';
    return s.type === 'enrolled' ? [name, s.address, s.bootstrap] : [name, null, null];
  });
}

async function close(): Promise<void> {
  closing = true;
  await Promise.all(slots.map((s) => s.manager.close()));
  await Promise.all(slots.map((s) => s.shim.close()));
}

async function handle(req: HostRequest): Promise<HostReply> {
  switch (req.type) {
    case 'make':
      return { id: req.id, bound: await make(req) };
    case 'go':
      go(req.spreadMs);
      return { id: req.id };
    case 'watch':
      watch(req.bootstraps);
      return { id: req.id };
    case 'progress':
      return { id: req.id, progress: progress() };
    case 'view':
      return { id: req.id, view: view() };
    case 'close':
      await close();
      setImmediate(() => process.exit(0));
      return { id: req.id };
  }
}

process.on('message', (req: HostRequest) => {
  handle(req).then(
    (reply) => process.send?.(reply),
    (err: unknown) => process.send?.({ id: req.id, error: String((err as Error)?.stack ?? err) }),
  );
});
process.on('disconnect', () => process.exit(0));
process.send?.({ id: 0, ready: true } satisfies HostReply);
