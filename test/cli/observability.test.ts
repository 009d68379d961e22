/** `rina-enroll --metrics-listen`: /metrics (Prometheus text), /healthz, /members, and `rina-enroll members --from`. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { cliRunner, freePort } from '../support/cli.js';
import { describeEtcd, startEtcd } from '../support/etcd.js';
import { freeTcpPort } from '../../src/cli/etcd-server.js';

const { cli, killAll } = cliRunner();
afterEach(killAll);
const dir = mkdtempSync(join(tmpdir(), 'rina-cli-obs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The samples of a Prometheus text exposition: `name{labels}` → value; every line checked against the format. */
function parseExposition(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (-?[0-9.e+]+|NaN|[+-]Inf)$/.exec(line);
    if (match === null) throw new Error(`not Prometheus text format: ${JSON.stringify(line)}`);
    samples.set(match[1] as string, Number(match[2]));
  }
  return samples;
}

const get = async (url: string) => {
  const response = await fetch(url);
  return { status: response.status, type: response.headers.get('content-type') ?? '', body: await response.text() };
};

describe('rina-enroll --metrics-listen', () => {
  it('an enroller and a member serve /metrics, /healthz and /members; refusals are counted by result; members --from lists them', async () => {
    const port = await freePort();
    const [ep, mp] = [await freeTcpPort(), await freeTcpPort()];
    const names = join(dir, 'names.txt');
    writeFileSync(names, 'm1\n');
    const boot = cli([
      'bootstrap',
      '--listen',
      `127.0.0.1:${port}`,
      '--dif',
      'demo.DIF',
      '--pool',
      '1002-1999',
      '--allowed-names',
      names,
      '--metrics-listen',
      `127.0.0.1:${ep}`,
    ]);
    await boot.waitFor(/metrics on http:\/\/127\.0\.0\.1:\d+\/metrics/);
    const m1 = cli([
      'member',
      '--name',
      'm1',
      '--bootstrap',
      `127.0.0.1:${port}`,
      '--heartbeat-interval',
      '0.2',
      '--connection-timeout',
      '2',
      '--metrics-listen',
      `127.0.0.1:${mp}`,
    ]);
    await m1.waitFor(/enrolled in demo\.DIF as address 1002/);
    const m2 = cli(['member', '--name', 'm2', '--bootstrap', `127.0.0.1:${port}`, '--retries', '1']);
    expect(await m2.exited).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 500)); // a few keepalives

    const scrape = await get(`http://127.0.0.1:${ep}/metrics`);
    expect(scrape.status).toBe(200);
    expect(scrape.type).toMatch(/^text\/plain; version=0\.0\.4/);
    const e = parseExposition(scrape.body);
    expect(e.get('rina_enroller_up')).toBe(1);
    expect(e.get('rina_enroller_members')).toBe(1);
    expect(e.get('rina_enroller_enrollments_total')).toBe(1);
    expect(e.get('rina_enroller_refusals_total{result="-6"}')).toBe(1);
    expect(e.get('rina_enroller_pool_addresses{state="bound"}')).toBe(1);
    expect(e.get('rina_enroller_pool_addresses{state="free"}')).toBe(997);
    expect(e.get('rina_enroller_keepalives_total{answer="ok"}')).toBeGreaterThan(0);
    expect(e.get('rina_enroller_pdus_total{outcome="received"}')).toBeGreaterThan(4);
    expect(e.get('rina_enroller_pdus_total{outcome="malformed"}')).toBe(0);
    expect(e.has('process_cpu_user_seconds_total')).toBe(true);

    expect(await get(`http://127.0.0.1:${ep}/healthz`)).toMatchObject({ status: 200, body: '{"status":"ok"}\n' });
    const listed = JSON.parse((await get(`http://127.0.0.1:${ep}/members`)).body) as Array<Record<string, unknown>>;
    expect(listed).toEqual([expect.objectContaining({ name: 'm1', address: 1002 })]);
    expect(await get(`http://127.0.0.1:${ep}/nope`)).toMatchObject({ status: 404 });

    const m = parseExposition((await get(`http://127.0.0.1:${mp}/metrics`)).body);
    expect(m.get('rina_member_enrolled')).toBe(1);
    expect(m.get('rina_member_address')).toBe(1002);
    expect(m.get('rina_member_events_total{event="enrollment"}')).toBe(1);
    expect(m.get('rina_member_keepalive_rtt_seconds')).toBeGreaterThan(0);
    expect(m.get('rina_member_detection_seconds_count')).toBe(0);
    expect(await get(`http://127.0.0.1:${mp}/healthz`)).toMatchObject({ status: 200 });

    const table = cli(['members', '--from', `http://127.0.0.1:${ep}`]);
    expect(await table.exited).toBe(0);
    expect(table.lines[0]).toMatch(/^NAME\s+ADDRESS\s+SHIM ADDRESS\s+ENROLLED\s+LAST SEEN$/);
    expect(table.lines[1]).toMatch(/^m1\s+1002\s+127\.0\.0\.1:\d+\s+\d{4}-/);
    expect(table.lines.at(-1)).toBe('1 member');
    const asJson = cli(['members', '--from', `http://127.0.0.1:${ep}`, '--json']);
    expect(await asJson.exited).toBe(0);
    // the same list (lastSeen moves with every keepalive)
    expect(JSON.parse(asJson.lines[0] as string)).toEqual([{ ...listed[0], lastSeen: expect.any(String) }]);
    const nowhere = cli(['members', '--from', `http://127.0.0.1:${await freeTcpPort()}`]);
    expect(await nowhere.exited).toBe(1);
    expect(nowhere.stderr[0]).toMatch(/cannot reach http:\/\/127\.0\.0\.1:\d+\/members: ECONNREFUSED/);
  });
});

describe("a member's /healthz", () => {
  /** /healthz polled every 50 ms until `status`, for at most `ms`. */
  async function healthUntil(url: string, status: number, ms = 5000) {
    const end = Date.now() + ms;
    for (;;) {
      const answer = await get(url);
      if (answer.status === status || Date.now() > end) return answer;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  // Found by an audit (2026-12-06): only a member's 200 was tested.
  it('answers 503 with the reason while not enrolled, and while its enroller is silent; 200 once it is back', async () => {
    const mp = await freeTcpPort();
    const nobody = await freePort();
    const lonely = cli(['member', '--name', 'm0', '--bootstrap', `127.0.0.1:${nobody}`, '--metrics-listen', `127.0.0.1:${mp}`]);
    await lonely.waitFor(/metrics on http:\/\/127\.0\.0\.1:\d+\/metrics/);
    const down = await get(`http://127.0.0.1:${mp}/healthz`);
    expect(down.status).toBe(503);
    expect(JSON.parse(down.body)).toEqual({ status: 'unavailable', reason: 'not enrolled (enrolling)' });
    lonely.child.kill('SIGKILL');

    const port = await freePort();
    const boot = cli(['bootstrap', '--listen', `127.0.0.1:${port}`, '--dif', 'demo.DIF', '--pool', '1002-1999']);
    await boot.waitFor(/serving demo\.DIF/);
    const mp2 = await freeTcpPort();
    const timers = ['--heartbeat-interval', '0.1', '--connection-timeout', '0.4'];
    const m1 = cli(['member', '--name', 'm1', '--bootstrap', `127.0.0.1:${port}`, ...timers, '--metrics-listen', `127.0.0.1:${mp2}`]);
    await m1.waitFor(/enrolled in demo\.DIF as address 1002/);
    const url = `http://127.0.0.1:${mp2}/healthz`;
    expect(await healthUntil(url, 200)).toMatchObject({ status: 200 });
    boot.child.kill('SIGSTOP'); // the enroller silent, not gone
    try {
      const silent = await healthUntil(url, 503);
      expect(silent.status).toBe(503);
      expect(JSON.parse(silent.body).reason).toMatch(/^(enrolled, but the enroller is silent|not enrolled \(reenrolling\))$/);
    } finally {
      boot.child.kill('SIGCONT');
    }
    expect(await healthUntil(url, 200)).toMatchObject({ status: 200 });
  });
});

describeEtcd('rina-enroll --metrics-listen with etcd', () => {
  it('/healthz answers 503 with the reason while the enroller cannot reach etcd past its lease TTL, and 200 again once etcd is back', async () => {
    const etcd = await startEtcd();
    try {
      const ep = await freeTcpPort();
      const boot = cli([
        'bootstrap',
        '--listen',
        '127.0.0.1:0',
        '--advertise',
        '127.0.0.1:7',
        '--dif',
        'demo.DIF',
        '--pool',
        '1002-1999',
        '--etcd',
        etcd.endpoints[0] as string,
        '--etcd-lease-ttl',
        '2',
        '--metrics-listen',
        `127.0.0.1:${ep}`,
      ]);
      await boot.waitFor(/metrics on/, 10_000);
      expect((await get(`http://127.0.0.1:${ep}/healthz`)).status).toBe(200);
      const node = etcd.members[0];
      await node?.kill();
      const deadline = Date.now() + 10_000;
      let health = await get(`http://127.0.0.1:${ep}/healthz`);
      while (health.status === 200 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        health = await get(`http://127.0.0.1:${ep}/healthz`);
      }
      expect(health.status).toBe(503);
      expect(JSON.parse(health.body)).toEqual({ status: 'unavailable', reason: expect.stringMatching(/cannot prove bindings current/) });
      expect(parseExposition((await get(`http://127.0.0.1:${ep}/metrics`)).body).get('rina_enroller_up')).toBe(0);
      await node?.start();
      const back = Date.now() + 15_000;
      while (health.status !== 200 && Date.now() < back) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        health = await get(`http://127.0.0.1:${ep}/healthz`);
      }
      expect(health.status).toBe(200);
    } finally {
      await etcd.close();
    }
  }, 40_000);
});
