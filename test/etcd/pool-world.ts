/** A scripted world (written by a review, 2026-12-06) (MiniEtcd + ScriptedEtcd, fake timers) for an enroller sharing etcd with a simulated e2. */
import type { IKeyValue, ITxnRequest } from 'etcd3';
import { vi } from 'vitest';
import { EtcdAddressStore } from '../../src/etcd/index.js';
import { KEEPALIVE_OBJECT } from '../../src/cdap/messages.js';
import { decodeEnrollmentInfo, Enroller, MemoryNetwork, MemoryRib, OpCode } from '../../src/index.js';
import { connectMsg, RawPeer, settle, startMsg, stopReply } from '../support/helpers.js';
import { MiniEtcd } from '../support/mini-etcd.js';
import { ScriptedEtcd } from '../support/scripted-etcd.js';

export const PREFIX = '/rina/demo.DIF/';
export const FIRST = 1;
export const LAST = 3;

interface Pending {
  request: ITxnRequest;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export class World {
  readonly etcd = new ScriptedEtcd();
  readonly sim = new MiniEtcd();
  readonly pending: Pending[] = [];
  readonly events: Array<{ type: 'put' | 'delete'; kv: IKeyValue; rev: number }> = [];
  auto = true;
  readonly store: EtcdAddressStore;
  readonly net = new MemoryNetwork({ seed: 1 });
  readonly e1: Enroller;
  readonly peers = new Map<string, RawPeer>();
  readonly invoke = new Map<string, number>();
  log: string[] = [];
  e1Leases = new Set<string>();

  /** `leaseTtlSecs`: e1's etcd lease (3600: never in doubt unless the world says so; 2 for worlds that doubt it). */
  constructor(opts: { holdMs?: number; leaseMs?: number; leaseTtlSecs?: number } = {}) {
    const kv = this.etcd.client.kv as unknown as Record<string, unknown>;
    kv.range = async () => ({ kvs: this.sim.all(), more: false, header: { revision: String(this.sim.revision) } });
    kv.txn = (request: ITxnRequest) =>
      new Promise((resolve, reject) => {
        this.pending.push({ request, resolve, reject });
        if (this.auto) queueMicrotask(() => this.flush());
      });
    const lc = this.etcd.client.leaseClient as unknown as Record<string, unknown>;
    lc.leaseRevoke = async (req: { ID: string }) => {
      this.expireLease(String(req.ID));
      return {};
    };
    this.store = new EtcdAddressStore({
      client: this.etcd.client,
      prefix: PREFIX,
      leaseTtlSecs: opts.leaseTtlSecs ?? 3600,
      callTimeoutMs: 500,
    });
    let seed = 7;
    this.e1 = new Enroller({
      shim: this.net.attach('e1'),
      rib: new MemoryRib(),
      ipcpName: 'e1',
      difName: 'demo.DIF',
      addressPool: { first: FIRST, last: LAST },
      store: this.store,
      holdMs: opts.holdMs ?? 1000,
      leaseMs: opts.leaseMs ?? 5000,
      pendingTimeoutMs: 3000,
      random: () => {
        seed = (seed * 1103515245 + 12345) % 2147483648;
        return seed / 2147483648;
      },
    });
  }

  /** Applies a txn at the sim, queueing the watch events it makes. */
  apply(request: ITxnRequest): Promise<unknown> {
    const before = new Map([...this.sim.kv].map(([k, v]) => [k, v.mod]));
    const res = this.sim.txn(request);
    this.diff(before);
    return res;
  }

  diff(before: Map<string, number>): void {
    const rev = this.sim.revision;
    for (const [k, v] of this.sim.kv) {
      if (before.get(k) !== v.mod) this.events.push({ type: 'put', kv: this.sim.kvOf(k) as IKeyValue, rev: v.mod });
    }
    for (const k of before.keys()) {
      if (!this.sim.kv.has(k))
        this.events.push({
          type: 'delete',
          kv: { key: Buffer.from(k), value: Buffer.alloc(0), mod_revision: String(rev), create_revision: '0' } as unknown as IKeyValue,
          rev,
        });
    }
  }

  /** Resolves pending txn i: 'ok' applied and answered, 'lost' applied and failed, 'fail' not applied. */
  answer(i: number, mode: 'ok' | 'lost' | 'fail'): void {
    const p = this.pending.splice(i, 1)[0];
    if (p === undefined) return;
    this.log.push(`txn ${describe(p.request)} -> ${mode}`);
    if (mode === 'fail') {
      p.reject(new Error('etcd is out of reach'));
      return;
    }
    const res = this.apply(p.request);
    if (mode === 'ok') void res.then(p.resolve, p.reject);
    else void res.then(() => p.reject(new Error('deadline exceeded')));
  }

  flush(): void {
    while (this.pending.length > 0) this.answer(0, 'ok');
  }

  /** Delivers the next n watch events on the current watcher. */
  deliver(n = Number.POSITIVE_INFINITY): void {
    const w = this.etcd.watches.at(-1);
    for (let i = 0; i < n && this.events.length > 0; i++) {
      const e = this.events.shift();
      if (e === undefined || w === undefined) continue;
      if (e.rev < Number(w.from)) continue;
      w.watcher.emit(e.type, e.kv);
    }
  }

  /** Another enroller's write (a transaction of its own), with its watch events. */
  write(puts: Array<[string, string, string?]>, deletes: string[] = []): void {
    const before = new Map([...this.sim.kv].map(([k, v]) => [k, v.mod]));
    this.sim.write(puts, deletes);
    this.diff(before);
  }

  expireLease(id: string): void {
    const keys = [...this.sim.kv].filter(([, v]) => v.lease === id).map(([k]) => k);
    if (keys.length > 0) this.write([], keys);
  }

  nameAt(address: number): string | undefined {
    return this.sim.kv.get(`${PREFIX}addresses/${address}`)?.value.toString();
  }
  addressOfName(name: string): number | undefined {
    const v = this.sim.kv.get(`${PREFIX}names/${name}`)?.value.toString();
    return v === undefined ? undefined : Number(v);
  }
  names(): string[] {
    return [...this.sim.kv.keys()].filter((k) => k.startsWith(`${PREFIX}names/`)).map((k) => k.slice(`${PREFIX}names/`.length));
  }
  marksOf(name: string): string[] {
    return [...this.sim.kv.keys()]
      .filter((k) => k.startsWith(`${PREFIX}members/${name}/`))
      .map((k) => k.slice(`${PREFIX}members/${name}/`.length));
  }
  freeAddresses(): number[] {
    const out: number[] = [];
    for (let a = FIRST; a <= LAST; a++) if (this.nameAt(a) === undefined) out.push(a);
    return out;
  }

  // --- e2 ---
  e2Bind(name: string, address: number): boolean {
    if (this.nameAt(address) !== undefined) return false;
    const old = this.addressOfName(name);
    const deletes = old === undefined ? [] : [`${PREFIX}addresses/${old}`];
    this.write(
      [
        [`${PREFIX}names/${name}`, String(address)],
        [`${PREFIX}addresses/${address}`, name],
        [`${PREFIX}members/${name}/e2`, '', 'lease-e2'],
      ],
      deletes,
    );
    this.log.push(`e2 binds ${name} to ${address}${old !== undefined ? ` (from ${old})` : ''}`);
    return true;
  }
  e2Leave(name: string): void {
    if (!this.sim.kv.has(`${PREFIX}members/${name}/e2`)) return;
    this.write([], [`${PREFIX}members/${name}/e2`]);
    this.log.push(`e2 leaves ${name}`);
  }
  /** e2 releases `name` (as its hold ending would: only with no mark but its own). */
  e2Release(name: string): boolean {
    const a = this.addressOfName(name);
    if (a === undefined) return false;
    if (this.marksOf(name).some((m) => m !== 'e2')) return false;
    this.write([], [`${PREFIX}names/${name}`, `${PREFIX}addresses/${a}`, `${PREFIX}members/${name}/e2`]);
    this.log.push(`e2 releases ${name} (at ${a})`);
    return true;
  }

  // --- e1 lease ---
  /** etcd answers e1's next keepalive (or question) at once, alive, unless an answer is already scripted for it. */
  keepalive(): void {
    const l = this.etcd.leases.at(-1);
    if (l !== undefined && l.keepaliveOnceAnswers.length === 0) l.keepaliveOnceAnswers.push('alive');
  }
  lapse(): void {
    const l = this.etcd.leases.at(-1);
    if (l === undefined) return;
    this.log.push(`e1 lease ${l.id} lapses`);
    this.expireLease(l.id);
    l.emit('lost', new Error('lease expired'));
  }

  // --- members ---
  peer(name: string): RawPeer {
    let p = this.peers.get(name);
    if (p === undefined) {
      p = new RawPeer(this.net.attach(`${name}-shim`));
      this.peers.set(name, p);
    }
    return p;
  }
  next(name: string): number {
    const n = (this.invoke.get(name) ?? 0) + 1;
    this.invoke.set(name, n);
    return n;
  }
  async connect(name: string): Promise<void> {
    this.log.push(`${name} M_CONNECT`);
    await this.peer(name).send('e1', connectMsg(this.next(name), name, 'e1'));
  }
  async start(name: string, requested = 0): Promise<void> {
    this.log.push(`${name} M_START(${requested})`);
    await this.peer(name).send('e1', startMsg(this.next(name), requested));
  }
  async stopR(name: string): Promise<void> {
    const p = this.peer(name);
    if (p.ofType(OpCode.M_STOP).length === 0) return;
    this.log.push(`${name} M_STOP_R`);
    await p.send('e1', stopReply(p));
  }
  async keepaliveOf(name: string): Promise<void> {
    this.log.push(`${name} keepalive`);
    await this.peer(name).send('e1', { opCode: OpCode.M_READ, invokeId: this.next(name), ...KEEPALIVE_OBJECT });
  }
  lastStartReply(name: string): { result: number | undefined; reason: string | undefined; address: number | undefined } | undefined {
    const r = this.peer(name).ofType(OpCode.M_START_R).at(-1);
    if (r === undefined) return undefined;
    const address = r.result === 0 ? decodeEnrollmentInfo(r.objValue?.byteval ?? new Uint8Array()).address : undefined;
    return { result: r.result, reason: r.resultReason, address };
  }

  async tick(ms: number): Promise<void> {
    await vi.advanceTimersByTimeAsync(ms);
  }

  /** Everything answered, delivered and kept alive, for `ms` of time. */
  async heal(ms: number): Promise<void> {
    this.auto = true;
    for (let t = 0; t < ms; t += 100) {
      this.flush();
      await settle();
      this.deliver();
      this.keepalive();
      await this.tick(100);
      this.flush();
      await settle();
      this.deliver();
    }
  }

  /** Runs `p` while healing the world (a stop waits for binds in flight). */
  async during<T>(p: Promise<T>): Promise<T> {
    let done = false;
    let value: T | undefined;
    let error: unknown;
    p.then(
      (v) => {
        done = true;
        value = v;
      },
      (e) => {
        done = true;
        error = e ?? new Error('rejected');
      },
    );
    for (let i = 0; i < 200 && !done; i++) {
      this.flush();
      await settle();
      this.deliver();
      await this.tick(50);
    }
    if (!done) throw new Error('never settled');
    if (error !== undefined) throw error;
    return value as T;
  }
}

function describe(r: ITxnRequest): string {
  const parts: string[] = [];
  for (const o of r.success ?? []) {
    if (o.request_put) parts.push(`put ${o.request_put.key?.toString().replace(PREFIX, '')}=${o.request_put.value?.toString()}`);
    if (o.request_delete_range) parts.push(`del ${o.request_delete_range.key?.toString().replace(PREFIX, '')}`);
  }
  return `[${parts.join(', ')}]`;
}
