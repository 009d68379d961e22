/** Several enrollers sharing one address space through a real etcd, with members on the in-memory network. */
import { spawn } from 'node:child_process';
import { Etcd3 } from 'etcd3';
import { afterEach, expect, it } from 'vitest';
import { EtcdAddressStore } from '../../src/etcd/index.js';
import { Enroller, EnrollmentManager, type EnrollmentConfigInput, MemoryNetwork, MemoryRib } from '../../src/index.js';
import { describeEtcd, etcdEndpoint, uniquePrefix } from '../support/etcd.js';
import { until } from '../support/helpers.js';
import { built } from '../support/cli-paths.js';

const CHILD = built(new URL('../support/etcd-store-child.ts', import.meta.url));
const undo: Array<() => unknown> = [];
afterEach(async () => {
  while (undo.length > 0) await undo.pop()?.();
});

/** Starts `count` enrollers `e0`, `e1`, ... on `net`, each with its own EtcdAddressStore on `prefix`. */
async function enrollers(net: MemoryNetwork, prefix: string, count: number, extra: { holdMs?: number; leaseMs?: number } = {}) {
  const list: Array<{ enroller: Enroller; store: EtcdAddressStore; name: string }> = [];
  for (let i = 0; i < count; i++) {
    const name = `e${i}`;
    const store = new EtcdAddressStore({ hosts: etcdEndpoint(), prefix });
    const enroller = new Enroller({
      shim: net.attach(name),
      rib: new MemoryRib(),
      ipcpName: name,
      difName: 'ha.DIF',
      addressPool: { first: 1, last: 65_535 },
      store,
      retransmitMs: 20,
      ...extra,
    });
    await enroller.start();
    undo.push(() => enroller.stop());
    list.push({ enroller, store, name });
  }
  return list;
}

function member(net: MemoryNetwork, name: string, bootstraps: string[], config: EnrollmentConfigInput = {}) {
  const mgr = new EnrollmentManager({
    shim: net.attach(name),
    rib: new MemoryRib(),
    ipcpName: name,
    config: { bootstraps, retransmitMs: 20, maxRetransmitMs: 200, timeoutMs: 3000, initialBackoffMs: 50, ...config },
  });
  undo.push(() => mgr.close());
  return mgr;
}

/** Every binding in etcd under `prefix`: names/ and addresses/ as two maps. */
async function table(prefix: string) {
  const client = new Etcd3({ hosts: etcdEndpoint() });
  try {
    const names = await client.getAll().prefix(`${prefix}names/`).strings();
    const addresses = await client.getAll().prefix(`${prefix}addresses/`).strings();
    const strip = (o: Record<string, string>, p: string) =>
      new Map(Object.entries(o).map(([k, v]) => [decodeURIComponent(k.slice(p.length)), v]));
    return { names: strip(names, `${prefix}names/`), addresses: strip(addresses, `${prefix}addresses/`) };
  } finally {
    client.close();
  }
}

/** Checks that etcd's two indexes agree: each name one address, each address one name. */
function expectConsistent(t: Awaited<ReturnType<typeof table>>) {
  for (const [name, address] of t.names) expect(t.addresses.get(address)).toBe(name);
  expect(t.addresses.size).toBe(t.names.size);
}

describeEtcd('several enrollers on one etcd', () => {
  it('three enrollers and 300 members enrolling at once across them: 300 distinct addresses, every name bound once', async () => {
    const prefix = uniquePrefix('storm');
    const net = new MemoryNetwork({ seed: 3 });
    undo.push(() => net.close());
    const list = await enrollers(net, prefix, 3);
    const managers = Array.from({ length: 300 }, (_, i) => {
      const names = list.map((e) => e.name);
      const first = i % 3;
      return member(net, `m${i}`, [...names.slice(first), ...names.slice(0, first)]);
    });
    const addresses = await Promise.all(managers.map((m) => m.enrol().then(() => m.address)));
    expect(new Set(addresses).size).toBe(300);
    const t = await table(prefix);
    expect(t.names.size).toBe(300);
    expectConsistent(t);
    for (const m of managers) expect(t.names.get(m.ipcpName ?? '')).toBe(String(m.address));
    // Each enroller served its third; every enroller's pool saw every binding through the watch.
    for (const e of list) expect(e.enroller.members().length).toBe(100);
    const txns = list.reduce((n, e) => n + e.store.stats().transactions, 0);
    const reads = list.reduce((n, e) => n + e.store.stats().rangeReads, 0);
    expect(reads).toBe(3); // one table read per enroller, at start: none per enrollment
    expect(txns).toBeLessThan(300 + 3 * 3 + 300); // about one per enrollment, plus registrations and a few conflicts
  });

  it('a member that fails over keeps its address, and learns every live enroller from the first it reaches', async () => {
    const prefix = uniquePrefix('failover');
    const net = new MemoryNetwork({ seed: 4 });
    undo.push(() => net.close());
    const [e0, e1, e2] = await enrollers(net, prefix, 3);
    if (e0 === undefined || e1 === undefined || e2 === undefined) throw new Error('three enrollers');
    // It knows only e2, the last started: e2 read the live enrollers with the table at its start, while e0 learns of
    // the later ones through the watch, which may lag (a member reaching e0 first could learn only e0).
    const mgr = member(net, 'mover', ['e2'], { heartbeatIntervalSecs: 0.05, connectionTimeoutSecs: 0.2, reenrollBackoffBaseMs: 20 });
    await mgr.enrol();
    const address = mgr.address;
    expect(
      mgr
        .bootstraps()
        .map((b) => b.address)
        .sort(),
    ).toEqual(['e0', 'e1', 'e2']);
    mgr.startConnectionMonitoring();
    const recovered = new Promise<{ bootstrap: string; address: number }>((resolve) => mgr.once('enrolled', resolve));
    await e2.enroller.stop(); // e2 dies; its registration and marks go with its lease
    net.detach('e2');
    const again = await recovered;
    expect(again.bootstrap).not.toBe('e2');
    expect(again.address).toBe(address);
    const t = await table(prefix);
    expect(t.names.get('mover')).toBe(String(address));
    expectConsistent(t);
  });

  it('frees an address only after its member was silent on every enroller for the hold time', async () => {
    const prefix = uniquePrefix('hold');
    const net = new MemoryNetwork({ seed: 5 });
    undo.push(() => net.close());
    const [e0, e1] = await enrollers(net, prefix, 2, { leaseMs: 150, holdMs: 300 });
    if (e0 === undefined || e1 === undefined) throw new Error('two enrollers');
    const released: string[] = [];
    for (const e of [e0, e1]) e.enroller.on('address:released', (b) => released.push(`${e.name}:${b.name}`));
    const mgr = member(net, 'quiet', ['e0', 'e1'], { heartbeatIntervalSecs: 0.05, connectionTimeoutSecs: 1 });
    await mgr.enrol();
    const address = mgr.address;
    const enrolledAt = mgr.bootstrapAddress === 'e0' ? e0 : e1;
    let goneAt = 0;
    enrolledAt.enroller.on('member:gone', (m) => {
      if (m.name === 'quiet') goneAt = performance.now();
    });
    // It enrols again with the other enroller (as after a failover) and talks to it only: the first finds it
    // gone after its 150 ms lease, and its hold ends 300 ms later, but the other serves it.
    const other = enrolledAt === e0 ? e1 : e0;
    await mgr.enrolWithBootstrap(other.name);
    mgr.startConnectionMonitoring();
    expect(mgr.address).toBe(address);
    await until(() => goneAt > 0, 3000, `${enrolledAt.name} finding the member gone`);
    await new Promise((resolve) => setTimeout(resolve, 300 + 100)); // past the hold, measured from then
    expect(released).toEqual([]);
    expect((await table(prefix)).names.get('quiet')).toBe(String(address));
    await mgr.close(); // M_RELEASE to the other: now it is silent everywhere
    const silentAt = performance.now();
    await until(() => released.length > 0, 3000, 'the address released');
    // Not before the hold ran out (it started when M_RELEASE arrived, a little before close() resolved).
    expect(performance.now() - silentAt).toBeGreaterThanOrEqual(300 - 25);
    expect(released).toHaveLength(1); // one enroller deleted it; the other saw it go
    const t = await table(prefix);
    expect(t.names.has('quiet')).toBe(false);
    expect(t.addresses.has(String(address))).toBe(false);
  });

  it('a name whose last member left is released by one enroller: one release transaction, not one per enroller', async () => {
    const prefix = uniquePrefix('one-release');
    const net = new MemoryNetwork({ seed: 6 });
    undo.push(() => net.close());
    const list = await enrollers(net, prefix, 4, { holdMs: 200 });
    const managers = Array.from({ length: 12 }, (_, i) => member(net, `leaver${i}`, [`e${i % 4}`]));
    for (const m of managers) await m.enrol();
    const before = list.map((e) => e.store.stats().releases);
    for (const m of managers) await m.close(); // M_RELEASE: each is held 200 ms by every enroller, then freed
    // Freed once every enroller's pool saw the binding go (the delete reaches them all through the watch)
    await until(() => list.every((e) => e.enroller.stats().bound === 0), 8000, 'every address released');
    await new Promise((resolve) => setTimeout(resolve, 1500)); // what the other enrollers would still send, a turn later
    expect((await table(prefix)).names.size).toBe(0);
    const releases = list.reduce((n, e, i) => n + e.store.stats().releases - (before[i] ?? 0), 0);
    expect(releases).toBeGreaterThanOrEqual(12);
    expect(releases).toBeLessThanOrEqual(12 + 2); // (two enrollers may each think it their turn while their lists differ)
  });

  it('an enroller that dies in the middle of an enrollment leaks nothing past its lease TTL and the hold time', async () => {
    const prefix = uniquePrefix('midway');
    const net = new MemoryNetwork({ seed: 6 });
    undo.push(() => net.close());
    const [e0] = await enrollers(net, prefix, 1, { holdMs: 300 });
    if (e0 === undefined) throw new Error('one enroller');
    const released: Array<{ name: string; address: number }> = [];
    e0.enroller.on('address:released', (b) => released.push(b));
    // Another enroller process binds "orphan" (as before its M_START_R) and is killed before the member completes.
    const child = spawn(process.execPath, [CHILD, etcdEndpoint(), prefix, 'dying', 'orphan=4242'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    undo.push(() => child.kill('SIGKILL'));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
      child.once('exit', (code) => reject(new Error(`the child exited with ${code}`)));
    });
    child.kill('SIGKILL');
    const killedAt = performance.now();
    await until(() => released.length > 0, 8000, 'the orphan address released');
    expect(released).toEqual([{ name: 'orphan', address: 4242 }]);
    expect(performance.now() - killedAt).toBeGreaterThanOrEqual(300); // the lease TTL (2 s) plus the hold, at least the hold
    const t = await table(prefix);
    expect(t.names.has('orphan')).toBe(false);
    expect(t.addresses.has('4242')).toBe(false);
  });
});
