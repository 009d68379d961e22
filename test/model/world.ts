/**
 * A world for the convergence model: enrollers with separate pools, members
 * with random configs, a MemoryNetwork with faults, and a recorder that checks
 * the invariants on every event as it happens. Runs under fake timers.
 */
import {
  Enroller,
  type EnrollmentConfigInput,
  type EnrollmentManager,
  type EnrollmentState,
  MemoryAddressStore,
  MemoryNetwork,
  MemoryRib,
  type Shim,
  type ShimHandler,
  ShimError,
  EnrollmentManager as Manager,
} from '../../src/index.js';
import { seededRandom } from '../../src/util/random.js';
import { TICK_MS } from '../../src/util/ticker.js';

export interface EnrollerSpec {
  readonly name: string;
  readonly pool: { readonly first: number; readonly last: number };
  readonly leaseMs: number;
  readonly holdMs: number;
  /** Other enrollers it advertises to its members (EnrollmentInfo alternates). */
  readonly alternates: readonly string[];
}

export interface MemberSpec {
  readonly name: string;
  readonly config: EnrollmentConfigInput & {
    timeoutMs: number;
    heartbeatIntervalSecs: number;
    connectionTimeoutSecs: number;
    reenrollBackoffBaseMs: number;
    reenrollBackoffCapMs: number;
    bootstraps: string[];
  };
  /** The enroller of its first enrollment: one with room, up at the start. */
  readonly initial: string;
}

export interface WorldSpec {
  readonly enrollers: readonly EnrollerSpec[];
  readonly members: readonly MemberSpec[];
  /** An enroller with room that is up once the faults stop; every member lists it. */
  readonly anchor: string;
  /** Enrollers (besides the anchor) brought back up when the faults stop, if down. */
  readonly upAtEnd: readonly string[];
  readonly seed: number;
}

/**
 * The time within which a monitoring member is enrolled again once the faults
 * stop, in ms (docs/RECOVERY.md):
 *
 *   CT + 2 tick                 a stale enrollment is noticed (connection timeout, checked on the shared ticker)
 * + T                           the attempt in flight when the faults stopped ends
 * + max(cap, retransmitMs)      the good enroller's backoff (full jitter, at most the cap) runs out
 * + E * T                       at most one attempt at each other known enroller comes first
 * + 2 tick                      the final exchange (no faults: it takes no time) and the ticker's slack
 */
export function convergenceBoundMs(spec: MemberSpec, enrollers: number): number {
  const c = spec.config;
  const T = c.timeoutMs;
  return c.connectionTimeoutSecs * 1000 + 2 * TICK_MS + T + backoffCeilingMs(spec) + enrollers * T + 2 * TICK_MS;
}

/** The longest backoff a bootstrap of this member can get: max(cap, retransmitMs). */
function backoffCeilingMs(spec: MemberSpec): number {
  const c = spec.config;
  const retransmitMs = c.retransmitMs ?? Math.min(250, c.timeoutMs / 4, c.maxRetransmitMs ?? 2000);
  return Math.max(c.reenrollBackoffCapMs, retransmitMs);
}

/** How long a restarted member's application waits between two failed `enrol()` runs, in ms. */
export const RESTART_RETRY_MS = 100;
/** How long an enroller asks an enrolled name's old holder whether it is alive (PROBE_MS in the enroller). */
const NAME_PROBE_MS = 1000;

/**
 * The bound for a member restarted as a new process (a new shim address, no
 * address to ask for), whose application calls `enrol()` until it succeeds,
 * waiting {@link RESTART_RETRY_MS} between runs, then starts the monitor:
 *
 *   run                         the enrol() run in flight ends (maxRetries attempts of T, waits of
 *                               initialBackoffMs doubling between them, and one attempt more after
 *                               initialBackoffMs back at an enroller that accepted one and was slow)
 * + max(cap, retransmitMs)      the good enroller's backoff runs out
 * + NAME_PROBE                  the enroller asks the crashed incarnation, silent, before the name moves
 * + (ceil(E / maxRetries) + 1) * (run + RESTART_RETRY)
 *                               runs go through the other bootstraps in turn, each tried once
 * + 2 tick
 */
export function restartBoundMs(spec: MemberSpec, enrollers: number): number {
  const c = spec.config;
  const retries = c.maxRetries ?? 3;
  // (and one attempt more, after initialBackoffMs, back at an enroller that accepted one and was slow: once a run)
  const run = (retries + 1) * c.timeoutMs + (c.initialBackoffMs ?? 1000) * 2 ** (retries - 1);
  return run + backoffCeilingMs(spec) + NAME_PROBE_MS + (Math.ceil(enrollers / retries) + 1) * (run + RESTART_RETRY_MS) + 2 * TICK_MS;
}

/** A shim whose node can leave the network and come back, keeping its owner (the manager) unaware. */
class PluggableShim implements Shim {
  readonly localAddress: string;
  #inner: Shim | undefined;
  #off: (() => void) | undefined;
  readonly #handlers = new Set<ShimHandler>();

  constructor(
    readonly net: MemoryNetwork,
    address: string,
  ) {
    this.localAddress = address;
    this.plug();
  }

  get attached(): boolean {
    return this.#inner !== undefined;
  }

  plug(): void {
    if (this.#inner !== undefined) return;
    this.#inner = this.net.attach(this.localAddress);
    this.#off = this.#inner.onReceive((pdu, from) => {
      for (const h of this.#handlers) h(pdu, from);
    });
  }

  unplug(): void {
    if (this.#inner === undefined) return;
    this.#off?.();
    this.net.detach(this.localAddress);
    this.#inner = undefined;
  }

  async send(to: string, pdu: Uint8Array): Promise<void> {
    if (this.#inner === undefined) throw new ShimError(`shim "${this.localAddress}" is detached from the network`);
    await this.#inner.send(to, pdu);
  }

  onReceive(handler: ShimHandler): () => void {
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  async close(): Promise<void> {
    this.unplug();
  }
}

type Status = 'up' | 'stopped' | 'killed';

interface EnrollerNode {
  readonly spec: EnrollerSpec;
  readonly store: MemoryAddressStore;
  enroller: Enroller;
  status: Status;
}

interface MemberNode {
  readonly spec: MemberSpec;
  /** Incarnation: 0 for the first process, +1 per restart after a crash. */
  readonly incarnation: number;
  /** Crashed and not restarted yet. */
  crashed: boolean;
  readonly shim: PluggableShim;
  readonly mgr: EnrollmentManager;
  readonly rib: MemoryRib;
  /** Outages open: connection:lost minus reenroll:success. */
  open: number;
  losses: number;
  recoveries: number;
  addressChanges: number;
  /** address:change events the state changes call for (the address held before, another one now). */
  expectedAddressChanges: number;
  /** The address of its last enrollment, and of the one before. */
  address: number | undefined;
  previousAddress: number | undefined;
  /** performance.now() of the last 'enrolled'. */
  enrolledAt: number;
}

/** Allowed state changes of a member that enrolled once and then monitors (see EnrollmentState). */
const ALLOWED: Record<EnrollmentState['type'], ReadonlyArray<EnrollmentState['type']>> = {
  idle: ['enrolling', 'closed'],
  enrolling: ['enrolling', 'enrolled', 'idle', 'closed'],
  enrolled: ['reenrolling', 'closed'],
  reenrolling: ['reenrolling', 'enrolled', 'closed'],
  closed: [],
};

const describe = (s: EnrollmentState): string => JSON.stringify(s, (_k, v) => (typeof v === 'bigint' ? String(v) : v));

export class World {
  readonly net: MemoryNetwork;
  readonly enrollers = new Map<string, EnrollerNode>();
  readonly members = new Map<string, MemberNode>();
  /** Invariant violations, as they happened. */
  readonly violations: string[] = [];
  /** Refusals because a pool was exhausted (the tiny pool's fault happened). */
  exhaustedRefusals = 0;
  readonly log: string[] = [];
  readonly #cuts = new Set<string>();
  /** Incarnations that crashed: closed, kept only to check that they left no timer. */
  readonly #dead: EnrollmentManager[] = [];
  /** The restarted members' application loops: their retry timers, to clear at close. */
  readonly #retryTimers = new Set<ReturnType<typeof setTimeout>>();

  constructor(readonly spec: WorldSpec) {
    this.net = new MemoryNetwork({ seed: spec.seed });
    for (const e of spec.enrollers) {
      const store = new MemoryAddressStore();
      this.enrollers.set(e.name, { spec: e, store, enroller: this.#makeEnroller(e, store, this.net.attach(e.name)), status: 'up' });
    }
    for (const m of spec.members) this.members.set(m.name, this.#makeMember(m, 0));
  }

  #makeMember(m: MemberSpec, incarnation: number): MemberNode {
    // A restarted process binds a new port: a new shim address, the same IPCP name.
    const shim = new PluggableShim(this.net, incarnation === 0 ? m.name : `${m.name}~${incarnation}`);
    const rib = new MemoryRib();
    const random = seededRandom(this.spec.seed ^ hash(`${m.name}~${incarnation}`));
    const mgr = new Manager({ shim, rib, ipcpName: m.name, config: m.config, random });
    const node: MemberNode = {
      spec: m,
      incarnation,
      crashed: false,
      shim,
      mgr,
      rib,
      open: 0,
      losses: 0,
      recoveries: 0,
      addressChanges: 0,
      expectedAddressChanges: 0,
      address: undefined,
      previousAddress: undefined,
      enrolledAt: Number.NaN,
    };
    this.#watch(node);
    return node;
  }

  #makeEnroller(e: EnrollerSpec, store: MemoryAddressStore, shim: Shim): Enroller {
    const enroller = new Enroller({
      shim,
      rib: new MemoryRib(),
      store,
      ipcpName: e.name,
      difName: 'model.DIF',
      addressPool: e.pool,
      leaseMs: e.leaseMs,
      holdMs: e.holdMs,
      alternates: [...e.alternates],
    });
    enroller.on('member:enrolled', (m) => {
      this.log.push(`${this.#t()} ${e.name}: +${m.name}=${m.address}`);
      this.#check();
    });
    enroller.on('enrollment:rejected', (r) => {
      if (/exhausted/.test(r.reason)) this.exhaustedRefusals++;
    });
    return enroller;
  }

  #t(): string {
    return `t=${performance.now().toFixed(0)}`;
  }

  #violate(what: string): void {
    this.violations.push(`${this.#t()} ${what}`);
  }

  /** Checks every event of a member as it fires. */
  #watch(node: MemberNode): void {
    const { mgr, spec } = node;
    mgr.on('state:change', (state, previous) => {
      this.log.push(`${this.#t()} ${spec.name}: ${describe(state)}`);
      if (!ALLOWED[previous.type].includes(state.type)) {
        this.#violate(`${spec.name}: state ${previous.type} -> ${state.type} is not a documented transition`);
      }
      if (describe(state) === describe(previous)) this.#violate(`${spec.name}: state:change to the same state ${describe(state)}`);
      if (state.type === 'enrolled') {
        node.previousAddress = node.address;
        node.address = state.address;
        if (node.previousAddress !== undefined && node.previousAddress !== state.address) node.expectedAddressChanges++;
      }
      this.#check();
    });
    mgr.on('address:change', (info) => {
      node.addressChanges++;
      const s = mgr.state;
      if (
        info.previous !== node.previousAddress ||
        info.address !== node.address ||
        s.type !== 'enrolled' ||
        info.bootstrap !== s.bootstrap
      ) {
        this.#violate(
          `${spec.name}: address:change ${JSON.stringify(info)} does not match the enrollments (${node.previousAddress} -> ${node.address})`,
        );
      }
    });
    mgr.on('enrolled', () => {
      node.enrolledAt = performance.now();
    });
    mgr.on('connection:lost', (info) => {
      this.log.push(`${this.#t()} ${spec.name}: lost ${info.bootstrap} (${info.reason})`);
      node.losses++;
      node.open++;
      if (node.open !== 1) this.#violate(`${spec.name}: a second connection:lost (${info.reason}) in one outage`);
    });
    mgr.on('reenroll:success', (info) => {
      node.recoveries++;
      node.open--;
      if (node.open !== 0) this.#violate(`${spec.name}: reenroll:success without an outage open (at ${info.bootstrap})`);
      if (info.address !== node.address || info.previousAddress !== node.previousAddress) {
        this.#violate(
          `${spec.name}: reenroll:success says ${info.previousAddress} -> ${info.address}, the enrollments ${node.previousAddress} -> ${node.address}`,
        );
      }
    });
  }

  /** Every member enrols with its initial enroller (no faults yet) and starts monitoring. */
  async start(advance: (ms: number) => Promise<void>): Promise<void> {
    for (const node of this.enrollers.values()) await node.enroller.start();
    const enrolling = [...this.members.values()].map(async (m) => {
      await m.mgr.enrolWithBootstrap(m.spec.initial);
      m.mgr.startConnectionMonitoring();
    });
    const all = Promise.all(enrolling);
    let done = false;
    void all.then(
      () => {
        done = true;
      },
      () => {
        done = true;
      },
    );
    for (let i = 0; i < 100 && !done; i++) await advance(10);
    await all;
  }

  // ---- faults ----------------------------------------------------------------

  /** Cuts the link between a member (its current process) and an enroller. */
  cut(member: string, enroller: string): void {
    const a = this.#at(member);
    this.#cuts.add(`${a}|${enroller}`);
    this.net.partition(a, enroller);
  }

  mend(member: string, enroller: string): void {
    this.#mend(this.#at(member), enroller);
  }

  #mend(a: string, b: string): void {
    this.#cuts.delete(`${a}|${b}`);
    this.net.heal(a, b);
  }

  isolate(member: string): void {
    for (const e of this.enrollers.keys()) this.cut(member, e);
  }

  /** The shim address of a member's current process. */
  #at(member: string): string {
    return this.members.get(member)?.shim.localAddress ?? member;
  }

  /** The member's process dies: its node leaves the network, nothing is said. */
  async crash(member: string): Promise<void> {
    const node = this.members.get(member);
    if (node === undefined || node.crashed) return;
    this.log.push(`${this.#t()} ${member}: crash`);
    node.crashed = true;
    node.shim.unplug();
    await node.mgr.close(); // its M_RELEASE cannot leave: the node is gone
    this.#dead.push(node.mgr);
  }

  /** A crashed member starts again as a new process: `enrol()` until it works, then the monitor. */
  restart(member: string): void {
    const old = this.members.get(member);
    if (old === undefined || !old.crashed) return;
    const node = this.#makeMember(old.spec, old.incarnation + 1);
    this.members.set(member, node);
    this.log.push(`${this.#t()} ${member}: restarts at ${node.shim.localAddress}`);
    const attempt = (): void => {
      if (node.mgr.state.type === 'closed') return;
      node.mgr.enrol().then(
        () => {
          if (node.mgr.state.type !== 'closed') node.mgr.startConnectionMonitoring();
        },
        () => {
          if (node.mgr.state.type === 'closed') return;
          const timer = setTimeout(() => {
            this.#retryTimers.delete(timer);
            attempt();
          }, RESTART_RETRY_MS);
          this.#retryTimers.add(timer);
        },
      );
    };
    attempt();
  }

  unplug(member: string): void {
    this.members.get(member)?.shim.unplug();
  }

  plug(member: string): void {
    const node = this.members.get(member);
    if (node !== undefined && !node.crashed) node.shim.plug();
  }

  async stopEnroller(name: string): Promise<void> {
    const node = this.enrollers.get(name);
    if (node === undefined || node.status !== 'up') return;
    node.status = 'stopped';
    this.log.push(`${this.#t()} ${name}: stop (graceful)`);
    await node.enroller.stop();
  }

  async killEnroller(name: string): Promise<void> {
    const node = this.enrollers.get(name);
    if (node === undefined || node.status === 'killed') return;
    this.log.push(`${this.#t()} ${name}: kill`);
    this.net.detach(name); // up or stopped, its node leaves the network
    node.status = 'killed';
    await node.enroller.stop(); // the process is gone: its shim went first, nothing is sent
  }

  /** A stopped enroller starts again; a killed one restarts as a new process from its store. */
  async startEnroller(name: string): Promise<void> {
    const node = this.enrollers.get(name);
    if (node === undefined || node.status === 'up') return;
    this.log.push(`${this.#t()} ${name}: ${node.status === 'killed' ? 'restart from its store' : 'start again'}`);
    if (node.status === 'killed') node.enroller = this.#makeEnroller(node.spec, node.store, this.net.attach(name));
    node.status = 'up';
    await node.enroller.start();
  }

  /** The faults stop: links mended, loss off, members back on the network, the anchor (and upAtEnd) up. */
  async heal(): Promise<void> {
    for (const key of [...this.#cuts]) {
      const [a, b] = key.split('|') as [string, string];
      this.#mend(a, b);
    }
    this.net.setFaults({ drop: 0, duplicate: 0, delayMs: 0, jitterMs: 0 });
    for (const [name, node] of this.members) {
      if (node.crashed) this.restart(name);
      else this.plug(name);
    }
    for (const name of [this.spec.anchor, ...this.spec.upAtEnd]) await this.startEnroller(name);
    this.log.push(`${this.#t()} faults stop`);
  }

  // ---- checks ------------------------------------------------------------------

  /** What is wrong with a member now, or undefined when it is enrolled at an up enroller that lists it. */
  unconverged(name: string): string | undefined {
    const node = this.members.get(name);
    if (node === undefined) return `no member ${name}`;
    const state = node.mgr.state;
    if (state.type !== 'enrolled') return `${name} is ${describe(state)}`;
    const at = this.enrollers.get(state.bootstrap);
    if (at?.status !== 'up') return `${name} is enrolled at ${state.bootstrap}, which is ${at?.status ?? 'unknown'}`;
    const record = at.enroller.members().find((m) => m.name === name);
    if (record?.address !== state.address) {
      return `${name} holds ${state.address} from ${state.bootstrap}, whose table says ${record?.address ?? 'nothing'}`;
    }
    if (node.rib.read('/mgmt/address')?.value.int64val !== BigInt(state.address)) return `${name}: /mgmt/address is not ${state.address}`;
    if (!node.mgr.isConnectionHealthy()) return `${name} does not see its connection as healthy`;
    return undefined;
  }

  /** Records every conflict there is now (run on every state change, enrollment and step). */
  #check(): void {
    for (const conflict of this.conflicts()) this.#violate(conflict);
  }

  /**
   * Addresses held twice now: by two members' views, by two names of one
   * enroller's table (or one outside its pool), or by a member whose view
   * says it holds an address that an up enroller's table gives another name.
   */
  conflicts(): string[] {
    const found: string[] = [];
    const views = new Map<number, string>();
    for (const node of this.members.values()) {
      const s = node.mgr.state;
      if (s.type !== 'enrolled') continue;
      const other = views.get(s.address);
      if (other !== undefined) found.push(`address ${s.address} held by ${other} and ${node.spec.name}`);
      views.set(s.address, node.spec.name);
    }
    for (const e of this.enrollers.values()) {
      if (e.status !== 'up') continue;
      const table = new Map<number, string>();
      for (const m of e.enroller.members()) {
        if (m.address < e.spec.pool.first || m.address > e.spec.pool.last)
          found.push(`${e.spec.name} lists ${m.name} with ${m.address}, outside its pool`);
        const other = table.get(m.address);
        if (other !== undefined) found.push(`${e.spec.name} lists address ${m.address} for ${other} and ${m.name}`);
        table.set(m.address, m.name);
        const holder = views.get(m.address);
        if (holder !== undefined && holder !== m.name) found.push(`${holder} holds ${m.address}, which ${e.spec.name} lists for ${m.name}`);
      }
    }
    return found;
  }

  /** Closes every member and stops every enroller and the network. */
  async close(): Promise<void> {
    for (const m of this.members.values()) await m.mgr.close();
    for (const timer of this.#retryTimers) clearTimeout(timer);
    this.#retryTimers.clear();
    for (const e of this.enrollers.values()) await e.enroller.stop();
    this.net.close();
  }
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h | 0;
}
