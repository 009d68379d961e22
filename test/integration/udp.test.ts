/** Enrollment over real UDP sockets on 127.0.0.1, through a fault-injecting proxy and a killed enroller. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EnrollmentManager, type EnrollmentConfigInput, MemoryRib, UdpShim } from '../../src/index.js';
import { type CliProcess, freePort, runCli } from '../support/cli.js';
import { cleanup, udpEnroller, until } from '../support/helpers.js';
import { UdpProxy } from '../support/udp-proxy.js';

const undo: Array<() => unknown> = [];
afterEach(async () => {
  while (undo.length > 0) await undo.pop()?.();
  await cleanup();
});

async function udpMember(name: string, bootstrap: string, config: EnrollmentConfigInput) {
  const shim = await UdpShim.bind('127.0.0.1:0');
  const mgr = new EnrollmentManager({
    shim,
    rib: new MemoryRib(),
    ipcpName: name,
    difName: 'demo.DIF',
    config: { bootstraps: [bootstrap], ...config },
  });
  undo.push(
    () => shim.close(),
    () => mgr.close(),
  );
  return mgr;
}

const fast: EnrollmentConfigInput = { retransmitMs: 20, maxRetransmitMs: 80, timeoutMs: 3000 };

describe('over UDP on 127.0.0.1', () => {
  it('a member enrols over IPv6 ([::1]); the enroller lists it at its IPv6 address', async () => {
    const { shim, enroller } = await udpEnroller({ addressPool: { first: 7, last: 7 } }, '[::1]:0');
    const memberShim = await UdpShim.bind('[::1]:0');
    const mgr = new EnrollmentManager({ shim: memberShim, rib: new MemoryRib(), ipcpName: 'v6', difName: 'demo.DIF', config: fast });
    undo.push(
      () => memberShim.close(),
      () => mgr.close(),
    );
    await expect(mgr.enrolWithBootstrap(shim.localAddress)).resolves.toBe('demo.DIF');
    expect(mgr.address).toBe(7);
    expect(mgr.bootstrapAddress).toMatch(/^\[::1\]:\d+$/);
    // the enroller completes on the member's M_STOP_R, just after the member resolved
    await until(() => enroller.members().length === 1, 1000);
    expect(enroller.members()).toEqual([expect.objectContaining({ name: 'v6', address: 7, shimAddress: memberShim.localAddress })]);
  });

  it('10 members enrol through a proxy losing 30% of datagrams (and duplicating and reordering some)', async () => {
    const { shim } = await udpEnroller();
    const proxy = await UdpProxy.start(shim.localAddress, { drop: 0.3, duplicate: 0.1, reorder: 0.1 }, 30);
    undo.push(() => proxy.close());
    const members = await Promise.all(Array.from({ length: 10 }, (_, i) => udpMember(`m${i}`, proxy.address, fast)));
    await Promise.all(members.map((m) => m.enrol()));
    expect(new Set(members.map((m) => m.address)).size).toBe(10);
    expect(proxy.dropped).toBeGreaterThan(0);
  });

  it('blackhole: the loss is detected on time; after healing the member is back with its address', async () => {
    const { shim } = await udpEnroller();
    const proxy = await UdpProxy.start(shim.localAddress);
    undo.push(() => proxy.close());
    const mgr = await udpMember('m', proxy.address, {
      ...fast,
      heartbeatIntervalSecs: 0.05,
      connectionTimeoutSecs: 0.2,
      reenrollBackoffBaseMs: 50,
      reenrollBackoffCapMs: 200,
    });
    await mgr.enrol();
    const address = mgr.address;
    mgr.startConnectionMonitoring();
    await new Promise((r) => setTimeout(r, 100));
    let lostAt = 0;
    mgr.once('connection:lost', () => (lostAt = performance.now()));
    proxy.setFaults({ blackhole: true });
    const cut = performance.now();
    await until(() => lostAt > 0, 1000, 'loss detection');
    const last = mgr.lastHeartbeat ?? 0;
    expect(lostAt - last).toBeGreaterThanOrEqual(200);
    expect(lostAt - cut).toBeLessThan(200 + 300); // loose: a busy machine lags
    proxy.setFaults({ blackhole: false });
    await until(() => mgr.state.type === 'enrolled', 3000, 'recovery');
    expect(mgr.address).toBe(address);
  });

  it('the enroller killed with SIGKILL and restarted from its file: every member back with the same address', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rina-kill-'));
    undo.push(() => rmSync(dir, { recursive: true, force: true }));
    const port = await freePort();
    const args = [
      'bootstrap',
      '--listen',
      `127.0.0.1:${port}`,
      '--dif',
      'demo.DIF',
      '--pool',
      '1002-1999',
      '--state',
      join(dir, 'state.json'),
    ];
    let boot: CliProcess = runCli(args);
    undo.push(() => boot.child.kill('SIGKILL'));
    await boot.waitFor(/serving demo\.DIF/);
    const config = {
      ...fast,
      heartbeatIntervalSecs: 0.1,
      connectionTimeoutSecs: 0.4,
      reenrollBackoffBaseMs: 100,
      reenrollBackoffCapMs: 400,
    };
    const members = await Promise.all(Array.from({ length: 5 }, (_, i) => udpMember(`m${i}`, `127.0.0.1:${port}`, config)));
    await Promise.all(members.map((m) => m.enrol()));
    const before = members.map((m) => m.address);
    for (const m of members) m.startConnectionMonitoring();

    boot.child.kill('SIGKILL');
    expect(await boot.exited).toBe('SIGKILL');
    await until(() => members.every((m) => m.state.type !== 'enrolled'), 2000, 'every member noticing');
    boot = runCli(args);
    await boot.waitFor(/serving demo\.DIF/);
    // A newcomer right after the restart must not get an address handed out before:
    // the restarted enroller knows them from its file.
    const newcomer = await udpMember('newcomer', `127.0.0.1:${port}`, fast);
    await newcomer.enrol();
    expect(before).not.toContain(newcomer.address);
    await until(() => members.every((m) => m.state.type === 'enrolled'), 5000, 'every member back');
    expect(members.map((m) => m.address)).toEqual(before);
  });
});
