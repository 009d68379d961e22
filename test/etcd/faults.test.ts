/** Faults of etcd under several enrollers: a stopped etcd, a killed leader. Each test runs an etcd of its own. */
import { Etcd3 } from 'etcd3';
import { afterEach, expect, it } from 'vitest';
import { Result } from '../../src/cdap/messages.js';
import { decodeCdapMessage, Enroller, EnrollmentManager, MemoryNetwork, MemoryRib, OpCode } from '../../src/index.js';
import { EtcdAddressStore } from '../../src/etcd/index.js';
import { describeEtcd, startEtcd } from '../support/etcd.js';
import { until } from '../support/helpers.js';

const undo: Array<() => unknown> = [];
afterEach(async () => {
  while (undo.length > 0) await undo.pop()?.();
});

async function setUp(hosts: string[], enrollerCount: number, leaseTtlSecs = 10, connectionTimeoutSecs = 2) {
  const net = new MemoryNetwork({ seed: 9 });
  undo.push(() => net.close());
  const enrollers: Enroller[] = [];
  const stores: EtcdAddressStore[] = [];
  for (let i = 0; i < enrollerCount; i++) {
    const store = new EtcdAddressStore({ hosts, difName: 'faults.DIF', callTimeoutMs: 500, leaseTtlSecs });
    stores.push(store);
    const enroller = new Enroller({
      shim: net.attach(`e${i}`),
      rib: new MemoryRib(),
      ipcpName: `e${i}`,
      difName: 'faults.DIF',
      addressPool: { first: 1, last: 65_535 },
      store,
      retransmitMs: 20,
    });
    await enroller.start();
    undo.push(() => enroller.stop());
    enrollers.push(enroller);
  }
  const names = enrollers.map((e) => e.ipcpName);
  const member = (name: string, i: number) => {
    const first = i % names.length;
    const mgr = new EnrollmentManager({
      shim: net.attach(name),
      rib: new MemoryRib(),
      ipcpName: name,
      config: {
        bootstraps: [...names.slice(first), ...names.slice(0, first)],
        retransmitMs: 20,
        maxRetransmitMs: 200,
        timeoutMs: 2000,
        maxRetries: 12,
        initialBackoffMs: 100,
        heartbeatIntervalSecs: 0.2,
        connectionTimeoutSecs,
      },
    });
    undo.push(() => mgr.close());
    return mgr;
  };
  return { net, enrollers, stores, member };
}

/** Every M_START_R result the enrollers sent, by member. */
function startReplies(net: MemoryNetwork) {
  const results = new Map<string, number[]>();
  net.tap((p) => {
    if (!p.from.startsWith('e')) return;
    try {
      const msg = decodeCdapMessage(p.pdu);
      if (msg.opCode === OpCode.M_START_R) results.set(p.to, [...(results.get(p.to) ?? []), msg.result ?? 0]);
    } catch {
      // not CDAP
    }
  });
  return results;
}

describeEtcd('etcd faults', () => {
  it('etcd stopped until every enroller fenced itself: new members are told "unavailable", known ones are refused once the lease lapses, then all enrol with their addresses, every key under a new lease', async () => {
    const etcd = await startEtcd();
    undo.push(() => etcd.close());
    // A 2 s lease does not outlive the outage: the enrollers must register and mark their members again. The members
    // wait longer for an answer (6 s) than the enrollers doubt (from the TTL after their last proof, etcd is asked for
    // one more TTL before the lease lapses), so that they hear the refusal.
    const { net, member, stores } = await setUp(etcd.endpoints, 2, 2, 6);
    const replies = startReplies(net);
    const early = Array.from({ length: 10 }, (_, i) => member(`early${i}`, i));
    await Promise.all(early.map((m) => m.enrol()));
    const addresses = early.map((m) => m.address);
    const client = new Etcd3({ hosts: etcd.endpoints });
    undo.push(() => client.close());
    const leasedKeys = async () => (await client.getAll().prefix('/rina/faults.DIF/').exec()).kvs.filter((kv) => kv.lease !== '0');
    const oldLeases = new Set((await leasedKeys()).map((kv) => kv.lease));
    expect(oldLeases.size).toBe(2); // one per enroller
    const losses: string[] = [];
    for (const m of early) {
      m.on('connection:lost', (i) => losses.push(i.reason));
      m.startConnectionMonitoring();
    }
    await etcd.members[0]?.stop();
    const late = Array.from({ length: 10 }, (_, i) => member(`late${i}`, i));
    const enrolled = Promise.all(late.map((m) => m.enrol()));
    enrolled.catch(() => undefined); // awaited below; a failed test must not leave it unhandled
    await until(() => late.every((m) => replies.get(m.ipcpName ?? '')?.includes(Result.UNAVAILABLE)), 4000, 'unavailable answers');
    // Fencing: within the 2 s lease TTL the enrollers stop vouching for the members they served (keepalives held),
    // and one doubt later refuse them. etcd stays down until every early member has seen that.
    await until(() => losses.length >= early.length, 10_000, 'every early member refused');
    await etcd.members[0]?.start();
    await enrolled;
    expect(new Set(losses)).toEqual(new Set(['keepalive-refused']));
    // Once etcd was back the members enrolled again, with the addresses etcd still bound to them.
    await until(() => early.every((m) => m.isConnectionHealthy()), 10_000, 'the early members back');
    expect(early.map((m) => m.address)).toEqual(addresses);
    const all = [...early, ...late];
    expect(new Set(all.map((m) => m.address)).size).toBe(20);
    for (const m of late) expect(replies.get(m.ipcpName ?? '')?.at(-1)).toBe(Result.OK);
    // Both enrollers took a new lease, registered again and marked every member they serve (bound again through
    // etcd): no key is left under a lease of before the outage, which etcd lets expire.
    for (const store of stores) expect(store.stats().leaseRenewals).toBeGreaterThanOrEqual(1);
    const keys = await leasedKeys();
    const names = (prefix: string) =>
      keys
        .map((kv) => kv.key.toString())
        .filter((k) => k.startsWith(prefix))
        .map((k) => k.slice(prefix.length))
        .sort();
    expect(names('/rina/faults.DIF/enrollers/')).toEqual(['e0', 'e1']);
    expect(names('/rina/faults.DIF/members/').map((k) => k.split('/')[0])).toEqual(all.map((m) => m.ipcpName).sort());
    const newLeases = new Set(keys.map((kv) => kv.lease));
    expect(newLeases.size).toBe(2);
    for (const lease of newLeases) expect(oldLeases.has(lease)).toBe(false);
  }, 30_000);

  it('the leader of a three-member etcd cluster killed during enrollments: enrollment goes on after the election, no duplicate', async () => {
    const etcd = await startEtcd({ size: 3 });
    undo.push(() => etcd.close());
    const { member, enrollers } = await setUp(etcd.endpoints, 3);
    const managers = Array.from({ length: 150 }, (_, i) => member(`m${i}`, i));
    const done = Promise.all(managers.map((m) => m.enrol()));
    done.catch(() => undefined); // awaited below
    await until(() => enrollers.reduce((n, e) => n + e.members().length, 0) >= 30, 10_000, '30 members enrolled');
    const leader = await etcd.leader();
    await leader.kill();
    await done;
    await etcd.leader(); // a new one was elected
    expect(new Set(managers.map((m) => m.address)).size).toBe(150);
  }, 30_000);
});
