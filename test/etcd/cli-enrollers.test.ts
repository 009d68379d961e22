/** Enroller processes (the CLI with --etcd) sharing one etcd; one of them killed with SIGKILL while members enrol. */
import { Etcd3 } from 'etcd3';
import { afterEach, expect, it } from 'vitest';
import { EnrollmentManager, MemoryRib, UdpShim } from '../../src/index.js';
import { type CliProcess, freePort, runCli } from '../support/cli.js';
import { describeEtcd, etcdEndpoint, uniquePrefix } from '../support/etcd.js';
import { until } from '../support/helpers.js';

const undo: Array<() => unknown> = [];
afterEach(async () => {
  while (undo.length > 0) await undo.pop()?.();
});

describeEtcd('rina-enroll bootstrap --etcd', () => {
  it('refuses --etcd with --state, and a URL that is not one, exit 2', async () => {
    const both = runCli(['bootstrap', '--listen', '127.0.0.1:0', '--dif', 'd', '--pool', '1-9', '--etcd', etcdEndpoint(), '--state', 'x']);
    expect(await both.exited).toBe(2);
    expect(both.stderr.join('\n')).toMatch(/--state and --etcd/);
    const bad = runCli(['bootstrap', '--listen', '127.0.0.1:0', '--dif', 'd', '--pool', '1-9', '--etcd', 'nowhere']);
    expect(await bad.exited).toBe(2);
    expect(bad.stderr.join('\n')).toMatch(/--etcd must be an etcd client URL/);
    const wildcard = runCli(['bootstrap', '--listen', '0.0.0.0:0', '--dif', 'd', '--pool', '1-9', '--etcd', etcdEndpoint()]);
    expect(await wildcard.exited).toBe(2);
    expect(wildcard.stderr.join('\n')).toMatch(/needs --advertise/);
    const path = runCli(['bootstrap', '--listen', '127.0.0.1:0', '--dif', 'd', '--pool', '1-9', '--etcd', `${etcdEndpoint()}/v3`]);
    expect(await path.exited).toBe(2);
    const lone = runCli(['bootstrap', '--listen', '127.0.0.1:0', '--dif', 'd', '--pool', '1-9', '--advertise', '127.0.0.1:7000']);
    expect(await lone.exited).toBe(2);
    expect(lone.stderr.join('\n')).toMatch(/--advertise needs --etcd/);
  });

  it('three enroller processes, one killed with SIGKILL while members enrol: its members fail over with their addresses, none held twice', async () => {
    const prefix = uniquePrefix('cli');
    const ports = [await freePort(), await freePort(), await freePort()];
    const addresses = ports.map((p) => `127.0.0.1:${p}`);
    const procs: CliProcess[] = ports.map((port, i) =>
      runCli([
        'bootstrap',
        '--listen',
        `127.0.0.1:${port}`,
        '--dif',
        'ha.DIF',
        '--pool',
        '1-65535',
        '--name',
        `e${i}`,
        '--etcd',
        etcdEndpoint(),
        '--etcd-prefix',
        prefix,
      ]),
    );
    for (const p of procs) undo.push(() => p.child.kill('SIGKILL'));
    const started = await Promise.all(procs.map((p) => p.waitFor(/serving ha\.DIF/, 10_000)));
    expect(started[2]).toMatch(/address space shared \(0 bindings; other enrollers live: /);

    const members = await Promise.all(
      Array.from({ length: 30 }, async (_, i) => {
        const shim = await UdpShim.bind('127.0.0.1:0');
        const first = i % 3;
        const mgr = new EnrollmentManager({
          shim,
          rib: new MemoryRib(),
          ipcpName: `m${i}`,
          difName: 'ha.DIF',
          config: {
            bootstraps: [...addresses.slice(first), ...addresses.slice(0, first)],
            retransmitMs: 20,
            maxRetransmitMs: 200,
            timeoutMs: 1000,
            maxRetries: 10,
            initialBackoffMs: 50,
            heartbeatIntervalSecs: 0.1,
            connectionTimeoutSecs: 0.5,
            reenrollBackoffBaseMs: 50,
            reenrollBackoffCapMs: 300,
          },
        });
        undo.push(
          () => shim.close(),
          () => mgr.close(),
        );
        return mgr;
      }),
    );
    const enrolled = members.map((m) =>
      m.enrol().then(() => {
        m.startConnectionMonitoring();
        return m.address;
      }),
    );
    // Kill e0 once some of its members are in: the rest of them are mid-enrollment.
    await until(() => members.filter((m, i) => i % 3 === 0 && m.state.type === 'enrolled').length >= 3, 10_000, 'e0 serving');
    procs[0]?.child.kill('SIGKILL');
    expect(await procs[0]?.exited).toBe('SIGKILL');
    const first = await Promise.all(enrolled);
    await until(() => members.every((m) => m.state.type === 'enrolled' && m.bootstrapAddress !== addresses[0]), 10_000, 'all on e1/e2');
    // Nobody's address changed by failing over, and no two members share one.
    expect(members.map((m) => m.address)).toEqual(first);
    expect(new Set(first).size).toBe(30);
    const client = new Etcd3({ hosts: etcdEndpoint() });
    try {
      const names = await client.getAll().prefix(`${prefix}names/`).strings();
      const held = await client.getAll().prefix(`${prefix}addresses/`).strings();
      expect(Object.keys(names)).toHaveLength(30);
      expect(Object.keys(held)).toHaveLength(30);
      for (const m of members) expect(names[`${prefix}names/${m.ipcpName}`]).toBe(String(m.address));
      // e0's registration went with its lease's TTL? Not yet (10 s): but the live two are there.
      const enrollers = await client.getAll().prefix(`${prefix}enrollers/`).keys();
      expect(enrollers).toEqual(expect.arrayContaining([`${prefix}enrollers/e1`, `${prefix}enrollers/e2`]));
    } finally {
      client.close();
    }
  }, 30_000);
});
