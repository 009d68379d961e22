/**
 * Fencing by lease: an enroller cut off from etcd while its members still
 * reach it stops vouching for them within its lease TTL, so the other
 * enrollers' holds and releases can never leave two members on one address.
 */
import { afterEach, expect, it } from 'vitest';
import { EtcdAddressStore } from '../../src/etcd/index.js';
import { Enroller, type EnrollmentConfigInput, EnrollmentManager, MemoryNetwork, MemoryRib } from '../../src/index.js';
import { describeEtcd, etcdEndpoint, uniquePrefix } from '../support/etcd.js';
import { until } from '../support/helpers.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { built } from '../support/cli-paths.js';

const undo: Array<() => unknown> = [];
afterEach(async () => {
  while (undo.length > 0) await undo.pop()?.();
});

const TTL_SECS = 2;

async function enroller(net: MemoryNetwork, name: string, prefix: string, hosts: string, logs: string[], leaseMs = 3000) {
  // Each call's budget, under the TTL (the fence is the lease's, not a call's); at 500 ms a loaded machine's first
  // call, waiting for gRPC's name resolution, missed it ("DEADLINE_EXCEEDED ... waiting for name resolution").
  const store = new EtcdAddressStore({ hosts, prefix, leaseTtlSecs: TTL_SECS, callTimeoutMs: 1500 });
  const logger = {
    debug: () => undefined,
    info: (_f: object, m?: string) => logs.push(`${name}: ${m}`),
    warn: (_f: object, m?: string) => logs.push(`${name}: ${m}`),
    error: () => undefined,
  };
  const e = new Enroller({
    shim: net.attach(name),
    rib: new MemoryRib(),
    ipcpName: name,
    difName: 'fence.DIF',
    addressPool: { first: 1, last: 12 },
    store,
    holdMs: 200,
    leaseMs,
    logger,
  });
  await e.start();
  undo.push(() => e.stop());
  return { enroller: e, store };
}

function member(net: MemoryNetwork, name: string, bootstraps: string[], config: EnrollmentConfigInput = {}) {
  const mgr = new EnrollmentManager({
    shim: net.attach(name),
    rib: new MemoryRib(),
    ipcpName: name,
    config: {
      bootstraps,
      heartbeatIntervalSecs: 0.25,
      connectionTimeoutSecs: 1,
      timeoutMs: 500,
      reenrollBackoffBaseMs: 50,
      reenrollBackoffCapMs: 200,
      ...config,
    },
  });
  undo.push(() => mgr.close());
  return mgr;
}

describeEtcd('fencing by lease', () => {
  it('an enroller cut off from etcd while its members reach it refuses them within its TTL; no address is ever held twice', async () => {
    const prefix = uniquePrefix('fence');
    const proxy = await TcpProxy.start(etcdEndpoint());
    undo.push(() => proxy.close());
    const net = new MemoryNetwork({ seed: 71 });
    const logs: string[] = [];
    const { enroller: e1 } = await enroller(net, 'e1', prefix, proxy.url, logs);
    await enroller(net, 'e2', prefix, etcdEndpoint(), logs);
    // Five members at e1 (their first bootstrap), e2 known for failover.
    const members = Array.from({ length: 5 }, (_, i) => member(net, `m${i}`, ['e1', 'e2']));
    for (const m of members) {
      await m.enrol();
      m.startConnectionMonitoring();
    }
    expect(members.every((m) => m.bootstrapAddress === 'e1')).toBe(true);
    const overlaps: string[] = [];
    const all: EnrollmentManager[] = [...members];
    const sample = setInterval(() => {
      const seen = new Map<number, string>();
      for (const m of all) {
        if (m.state.type !== 'enrolled') continue;
        const other = seen.get(m.state.address);
        if (other !== undefined) overlaps.push(`${other} and ${m.ipcpName} on ${m.state.address}`);
        seen.set(m.state.address, m.ipcpName ?? '');
      }
    }, 10);
    undo.push(() => clearInterval(sample));

    const cutAt = performance.now();
    proxy.cut();
    // Within its TTL (plus a keepalive), e1 refuses its members, which move to e2 with their addresses.
    await until(() => members.every((m) => m.state.type === 'enrolled' && m.bootstrapAddress === 'e2'), 10_000, 'members moved to e2');
    const movedAfter = performance.now() - cutAt;
    expect(movedAfter).toBeLessThan(TTL_SECS * 1000 + 2000);
    // (unanswered while e1 asks etcd whether its lease lives, they may have left by their timeout before it fenced)
    await until(() => logs.some((l) => l.startsWith('e1: lost its lease')), 5000, 'e1 fenced');
    // Newcomers at e2 fill the rest of the pool: none gets an address a member holds.
    const newcomers = Array.from({ length: 7 }, (_, i) => member(net, `n${i}`, ['e2']));
    all.push(...newcomers);
    for (const n of newcomers) await n.enrol();
    // e1 back: it revalidates what it still lists (nothing proven stays), and never answers a stale member.
    proxy.restore();
    await until(() => logs.some((l) => l.startsWith('e1: the shared store is back')), 10_000, 'e1 back');
    await new Promise((resolve) => setTimeout(resolve, 500));
    clearInterval(sample);
    expect(overlaps).toEqual([]);
    const addresses = all.map((m) => m.address);
    expect(new Set(addresses).size).toBe(all.length);
    // What e1 still lists (members that left it by their timeout while it asked etcd, confirmed when it came back,
    // until its lease on them ends) is only what etcd binds: each with its own current address.
    const current = new Map(all.map((m) => [m.ipcpName, m.address]));
    for (const listed of e1.members()) expect(listed.address).toBe(current.get(listed.name));
  }, 30_000);
});

describeEtcd('fencing by lease: revalidation', () => {
  it('back from a cut, an enroller binds again what it served: members whose binding is still theirs stay, without enrolling again', async () => {
    const prefix = uniquePrefix('refence');
    const proxy = await TcpProxy.start(etcdEndpoint());
    undo.push(() => proxy.close());
    const net = new MemoryNetwork({ seed: 72 });
    const logs: string[] = [];
    // (their enroller's lease on them long enough to outlast the cut, etcd's question and the renewal)
    const { enroller: e1 } = await enroller(net, 'e1', prefix, proxy.url, logs, 20_000);
    // Members that say nothing during the cut (a 30 s keepalive): nobody refuses them, nobody takes their addresses.
    const members = Array.from({ length: 3 }, (_, i) =>
      member(net, `q${i}`, ['e1'], { heartbeatIntervalSecs: 30, connectionTimeoutSecs: 90 }),
    );
    for (const m of members) await m.enrol();
    const before = members.map((m) => m.address);
    proxy.cut();
    await until(() => logs.some((l) => l.startsWith('e1: lost its lease')), 10_000, 'e1 fenced');
    proxy.restore();
    await until(() => logs.some((l) => l.startsWith('e1: the shared store is back')), 10_000, 'e1 back');
    expect(logs.find((l) => l.startsWith('e1: the shared store is back'))).toMatch(/3 members' bindings confirmed, 0 dropped/);
    expect(
      e1
        .members()
        .map((m) => m.name)
        .sort(),
    ).toEqual(['q0', 'q1', 'q2']);
    // and their addresses are theirs: enrolling again gives each the same one
    for (const m of members) await m.reEnroll();
    expect(members.map((m) => m.address)).toEqual(before);
  }, 30_000);
});

describeEtcd('fencing by lease: a paused enroller', () => {
  // Which runs first after SIGCONT, the fence timer or the queued datagrams, is the event loop's business: the
  // enroller also asks the store (canVouch) before each answer, so either order is safe. Without fencing this fails.
  it('paused past its lease TTL and resumed, an enroller refuses the keepalives that queued meanwhile: it never vouches late', async () => {
    const { spawn } = await import('node:child_process');
    const { UdpShim } = await import('../../src/index.js');
    const { Etcd3 } = await import('etcd3');
    const prefix = uniquePrefix('pause');
    const client = new Etcd3({ hosts: etcdEndpoint() });
    undo.push(() => client.close());
    // The member's mark under the enroller's lease: [key, lease id], and whether that lease lives at etcd now.
    const marks = async () => {
      const kvs = (await client.getAll().prefix(`${prefix}members/`).exec()).kvs;
      return kvs.map((kv) => [kv.key.toString(), kv.lease] as const);
    };
    const alive = async (lease: string) => Number((await client.leaseClient.leaseTimeToLive({ ID: lease })).TTL) > 0;
    const child = spawn(process.execPath, [built(new URL('../support/etcd-enroller-child.ts', import.meta.url)), etcdEndpoint(), prefix], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    undo.push(() => {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    });
    const port = await new Promise<string>((resolve, reject) => {
      child.stdout?.on('data', (chunk: Buffer) => {
        const m = /port (\d+)/.exec(chunk.toString());
        if (m?.[1] !== undefined) resolve(m[1]);
      });
      child.on('exit', () => reject(new Error('the enroller child exited')));
    });
    const bootstrap = `127.0.0.1:${port}`;
    const shim = await UdpShim.bind('127.0.0.1:0');
    undo.push(() => shim.close());
    // Keepalives every 100 ms; a connection timeout long enough that only a refusal can end the enrollment.
    const mgr = new EnrollmentManager({
      shim,
      rib: new MemoryRib(),
      ipcpName: 'p1',
      config: { heartbeatIntervalSecs: 0.1, connectionTimeoutSecs: 30, timeoutMs: 2000 },
    });
    undo.push(() => mgr.close());
    await mgr.enrolWithBootstrap(bootstrap);
    mgr.startConnectionMonitoring();
    const late: number[] = [];
    const reasons: string[] = [];
    let resumedAt = Number.POSITIVE_INFINITY;
    const lateSentAfterResume: number[] = []; // per answer after the resume: its send time minus resumedAt
    mgr.on('keepalive:rtt', ({ rttMs }) => {
      const now = performance.now();
      if (now >= resumedAt) {
        late.push(rttMs);
        lateSentAfterResume.push(now - rttMs - resumedAt);
      }
    });
    const before = await marks();
    expect(before).toHaveLength(1);
    mgr.on('connection:lost', ({ reason }) => reasons.push(reason));
    child.kill('SIGSTOP');
    await new Promise((resolve) => setTimeout(resolve, TTL_SECS * 1000 + 1000));
    resumedAt = performance.now();
    child.kill('SIGCONT');
    // Refused at a keepalive, or released (its M_STOP_R, still queued when it was paused, completes nothing now); or,
    // when every keepalive came while the enroller was still asking etcd or proving its bindings again under a new
    // lease (a confirm: the name still bound to this address), answered once that proof stands.
    await until(() => reasons.length > 0 || late.length >= 3, 5000, 'the member refused, or proven again');
    if (reasons.length > 0) expect(['keepalive-refused', 'released']).toContain(reasons[0]);
    // Not one keepalive sent during the pause was answered as enrolled after it (without fencing, those queued in
    // its first second would be: answered at once on resuming, more than a TTL after they were sent).
    expect(late.filter((rtt) => rtt > TTL_SECS * 1000)).toEqual([]);
    // Stronger: no keepalive sent during the pause (queued while the lease was lapsing or lapsed) is answered as
    // enrolled at all, whatever its RTT: those of the pause's last TTL would pass the RTT check above. (1 ms: roundMs.)
    expect(lateSentAfterResume.filter((d) => d < -1)).toEqual([]);
    if (reasons.length === 0) {
      // Answered again: only after its binding was proven again under a new, live lease (not under the lapsed one).
      const after = await marks();
      expect(after).toHaveLength(1);
      expect(after[0]?.[0]).toBe(before[0]?.[0]);
      expect(after[0]?.[1]).not.toBe(before[0]?.[1]);
      expect(await alive(after[0]?.[1] ?? '0')).toBe(true);
    }
  }, 30_000);
});

describeEtcd('fencing by lease: enrollments in progress', () => {
  it('an enrollment whose address was bound before a fence does not complete after it: its M_STOP_R is answered with M_RELEASE', async () => {
    const { RawPeer, connectMsg, startMsg } = await import('../support/helpers.js');
    const { OpCode, decodeEnrollmentInfo } = await import('../../src/index.js');
    const prefix = uniquePrefix('fence-pending');
    const proxy = await TcpProxy.start(etcdEndpoint());
    undo.push(() => proxy.close());
    const net = new MemoryNetwork({ seed: 73 });
    const logs: string[] = [];
    const { enroller: e1 } = await enroller(net, 'e1', prefix, proxy.url, logs);
    const x = new RawPeer(net.attach('x'));
    await x.send('e1', connectMsg(1, 'X', 'e1'));
    await until(() => x.ofType(OpCode.M_CONNECT_R).length === 1, 2000, 'M_CONNECT_R');
    await x.send('e1', startMsg(2));
    await until(() => x.ofType(OpCode.M_STOP).length >= 1, 2000, 'M_STOP');
    expect(x.ofType(OpCode.M_START_R)[0]?.result ?? 0).toBe(0);
    // X holds back its M_STOP_R (a lost datagram); e1 is cut from etcd, fenced, and comes back.
    proxy.cut();
    await until(() => logs.some((l) => l.startsWith('e1: lost its lease')), 10_000, 'e1 fenced');
    proxy.restore();
    await until(() => logs.some((l) => l.startsWith('e1: the shared store is back')), 10_000, 'e1 back');
    const stop = x.ofType(OpCode.M_STOP)[0];
    await x.send('e1', { opCode: OpCode.M_STOP_R, invokeId: stop?.invokeId ?? 0, result: 0 });
    await until(() => x.ofType(OpCode.M_RELEASE).length >= 1, 2000, 'M_RELEASE');
    expect(e1.members()).toEqual([]);
    // X was told its address (and could hold it, had the M_RELEASE been lost): it stays X's, held, and X gets it back.
    const told = decodeEnrollmentInfo(x.ofType(OpCode.M_START_R)[0]?.objValue?.byteval ?? new Uint8Array()).address;
    await x.send('e1', connectMsg(3, 'X', 'e1'));
    await until(() => x.ofType(OpCode.M_CONNECT_R).length === 2, 2000, 'M_CONNECT_R again');
    await x.send('e1', startMsg(4));
    await until(() => x.ofType(OpCode.M_START_R).length === 2, 5000, 'M_START_R again');
    const again = x.ofType(OpCode.M_START_R)[1];
    expect(again?.result ?? 0).toBe(0);
    expect(decodeEnrollmentInfo(again?.objValue?.byteval ?? new Uint8Array()).address).toBe(told);
  }, 30_000);
});

describeEtcd('fencing by lease: a suspended host', () => {
  it('the wall clock bounds the lease too: a host suspended past the TTL (the monotonic clock stood still) vouches for nobody until etcd says the lease lives', async () => {
    const { vi } = await import('vitest');
    const store = new EtcdAddressStore({ hosts: etcdEndpoint(), prefix: uniquePrefix('suspend'), leaseTtlSecs: TTL_SECS });
    const fenced: boolean[] = [];
    const ignore = () => undefined;
    await store.open(
      { name: 's', shimAddress: 's' },
      { bound: ignore, unbound: ignore, idle: ignore, enrollers: ignore, fenced: (f) => fenced.push(f) },
    );
    undo.push(() => store.close());
    await store.load();
    expect(store.canVouch()).toBe(true);
    const wall = Date.now();
    const spy = vi.spyOn(Date, 'now').mockReturnValue(wall + TTL_SECS * 1000 + 1); // woke up after the TTL
    try {
      expect(store.canVouch()).toBe(false);
      expect(store.doubting()).toBe(true);
    } finally {
      spy.mockRestore();
    }
    // etcd is asked; the lease did not expire there (only the test's clock jumped): proven again, never fenced
    await until(() => !store.doubting(), 5000, 'etcd answered');
    expect(store.canVouch()).toBe(true);
    expect(fenced).toEqual([]);
    expect(store.stats()).toMatchObject({ leaseDoubts: 1, leaseRenewals: 0 });
  });
});

describeEtcd('the lease kept alive', () => {
  it('by its own keepalives (one every third of the TTL, each a call of its own): proven past its first TTL, no doubt', async () => {
    const store = new EtcdAddressStore({ hosts: etcdEndpoint(), prefix: uniquePrefix('beats'), leaseTtlSecs: TTL_SECS });
    await store.open(
      { name: 'e', shimAddress: 'e-shim' },
      { bound: () => undefined, unbound: () => undefined, idle: () => undefined, enrollers: () => undefined },
    );
    undo.push(() => store.close());
    await new Promise((r) => setTimeout(r, TTL_SECS * 1000 + 300)); // past the proof of the grant alone
    expect(store.canVouch()).toBe(true);
    expect(store.stats()).toMatchObject({ leaseDoubts: 0, leaseLapses: 0 });
  });
});

describeEtcd('fencing by lease: late answers', () => {
  it("etcd's answers held past the TTL, its lease alive: the enroller asks etcd, stays unfenced, and no member is turned away", async () => {
    const prefix = uniquePrefix('late');
    const proxy = await TcpProxy.start(etcdEndpoint());
    undo.push(() => proxy.close());
    const net = new MemoryNetwork({ seed: 74 });
    const logs: string[] = [];
    const { enroller: e1, store } = await enroller(net, 'e1', prefix, proxy.url, logs);
    // keepalives every 250 ms; a timeout (3 s) longer than the answers are held
    const members = Array.from({ length: 3 }, (_, i) => member(net, `l${i}`, ['e1'], { connectionTimeoutSecs: 3 }));
    const losses: string[] = [];
    for (const m of members) {
      await m.enrol();
      m.startConnectionMonitoring();
      m.on('connection:lost', ({ reason }) => losses.push(`${m.ipcpName}: ${reason}`));
    }
    // etcd gets the lease's keepalives (so the lease lives) but its answers come TTL + 300 ms late:
    // the proof runs out, etcd is asked, and that answer too comes when the answers flow again.
    proxy.stall();
    await new Promise((resolve) => setTimeout(resolve, TTL_SECS * 1000 + 300));
    expect(store.stats().leaseDoubts).toBe(1);
    expect(e1.stats().keepalivesInDoubt).toBeGreaterThan(0);
    proxy.flow();
    await until(() => store.canVouch(), 3000, 'the lease proven again');
    await new Promise((resolve) => setTimeout(resolve, 500)); // keepalives answered again
    expect(logs.filter((l) => l.startsWith('e1: lost its lease'))).toEqual([]);
    expect(store.stats().leaseRenewals).toBe(0);
    expect(losses).toEqual([]);
    expect(members.map((m) => m.bootstrapAddress)).toEqual(['e1', 'e1', 'e1']);
    expect(e1.members()).toHaveLength(3);
  }, 30_000);
});
