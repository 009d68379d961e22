import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freeTcpPort } from '../../src/cli/etcd-server.js';
import { cliRunner, freePort, runCliInProcess } from '../support/cli.js';
import { dnsServer } from '../support/dns.js';
import { cleanup } from '../support/helpers.js';

const { cli, killAll } = cliRunner();
afterEach(async () => {
  await killAll();
  await cleanup();
});

describe('rina-enroll', () => {
  it('--help shows both commands and examples, exit 0', async () => {
    const p = cli(['--help']);
    expect(await p.exited).toBe(0);
    const out = p.lines.join('\n');
    expect(out).toMatch(/bootstrap \[options\]/);
    expect(out).toMatch(/member \[options\]/);
    expect(out).toMatch(/Examples:/);
    expect(out).toMatch(/rina-enroll member --name m1 --bootstrap 127\.0\.0\.1:7000/);
  });

  it.each([
    [['member', '--name', 'm1'], /required option '--bootstrap/],
    [['bootstrap', '--listen', 'localhost:7000', '--dif', 'd', '--pool', '1-9'], /invalid UDP shim address/],
    [['bootstrap', '--listen', '127.0.0.1:0', '--dif', 'd', '--pool', '9-1'], /first address must not exceed its last/],
    [['member', '--name', 'm', '--bootstrap', '127.0.0.1:7000', '--connection-timeout', 'soon'], /--connection-timeout must be a number/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [
      ['member', '--name', 'm', '--bootstrap', 'localhost:7000'],
      /"localhost:7000" is a host name: give an IP address and a port .* or .* srv:/,
    ],
    [['member', '--name', 'm', '--bootstrap', '127.0.0.1'], /argument '127\.0\.0\.1' is invalid/],
    [['member', '--name', 'm', '--bootstrap', '127.0.0.1:99999'], /port 1-65535/],
    [['member', '--name', 'm', '--bootstrap', '127.0.0.1:0'], /a bootstrap needs a port/],
    [
      ['bootstrap', '--listen', '127.0.0.1:0', '--dif', 'd', '--pool', '1-9', '--etcd', 'http://127.0.0.1:2379', '--etcd-lease-ttl', '1e7'],
      /--etcd-lease-ttl must be at most 2147483 seconds/,
    ],
    [['bootstrap', '--listen', '127.0.0.1:0', '--dif', 'd', '--pool', '1-9', '--lease', '3e9'], /--lease must be at most 2147483 seconds/],
    [
      ['bootstrap', '--listen', '127.0.0.1:0', '--dif', 'd', '--pool', '1-9', '--recv-buffer', '1e12'],
      /--recv-buffer must be a whole number of bytes/,
    ],
    [['bootstrap', '--listen', '127.0.0.1:0', '--dif', 'd', '--pool', '1-9', '--state', ''], /--state needs a file path/],
    [['bootstrap', '--listen', '127.0.0.1:0', '--dif', 'd', '--pool', '1-9', '--alternate', 'foo'], /"foo" is a host name/],
    [['member', '--name', 'm', '--bootstrap', '127.0.0.1:7000', '--bootstrap', '[::1]:7000'], /--bootstrap mixes IPv4 and IPv6/],
  ])('bad flags %j: one line on stderr, exit 2', async (args, message) => {
    const p = await runCliInProcess(args);
    expect(p.code).toBe(2);
    expect(p.stderr.filter((l) => l.trim() !== '')).toHaveLength(1);
    expect(p.stderr[0]).toMatch(message);
  });

  it('a bad flag ends the process itself with exit 2 and one line on stderr (the checks above run in this process)', async () => {
    const p = cli(['member', '--name', 'm', '--bootstrap', '127.0.0.1:0']);
    expect(await p.exited).toBe(2);
    expect(p.stderr.filter((l) => l.trim() !== '')).toEqual([
      `error: option '--bootstrap <host:port|srv:name>' argument '127.0.0.1:0' is invalid. a bootstrap needs a port, e.g. 127.0.0.1:7000, got "127.0.0.1:0"`,
    ]);
  });

  it('member --bootstrap srv:... --dns-server: finds the enroller through DNS SRV', async () => {
    const dns = await dnsServer();
    const port = await freePort();
    dns.zone.srv.set('_rina-enroll._udp.test.example', [{ priority: 0, weight: 1, port, name: 'e1.test.example' }]);
    dns.zone.a.set('e1.test.example', '127.0.0.1');
    const boot = cli(['bootstrap', '--listen', `127.0.0.1:${port}`, '--dif', 'demo.DIF', '--pool', '1002-1999']);
    await boot.waitFor(/serving demo\.DIF/);
    const args = ['member', '--name', 'm1', '--dif', 'demo.DIF', '--bootstrap', 'srv:_rina-enroll._udp.test.example'];
    const m = cli([...args, '--dns-server', dns.address]);
    await m.waitFor(/enrolled in demo\.DIF as address 1002 via 127\.0\.0\.1:\d+/);
    expect(dns.srvQueries()).toBe(1);
    const bad = cli(['member', '--name', 'm2', '--bootstrap', 'srv:no-service.example']);
    expect(await bad.exited).toBe(2);
    expect(bad.stderr.join('\n')).toMatch(/--bootstrap: /);
  });

  it('a bootstrap and a member over UDP: log lines, --json, graceful leave on SIGTERM and SIGINT', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rina-cli-'));
    try {
      const port = await freePort();
      const state = join(dir, 'state.json');
      const boot = cli(['bootstrap', '--listen', `127.0.0.1:${port}`, '--dif', 'demo.DIF', '--pool', '1002-1999', '--state', state]);
      await boot.waitFor(/serving demo\.DIF on 127\.0\.0\.1:\d+/);
      const m = cli(['member', '--name', 'm1', '--dif', 'demo.DIF', '--bootstrap', `127.0.0.1:${port}`, '--json']);
      await m.waitFor(/"type":"enrolled"/);
      const entries = m.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(entries.map((e) => e.type)).toEqual(['enrolling', 'enrolled']);
      expect(entries[1]).toMatchObject({ role: 'm1', event: 'state:change', address: 1002, difName: 'demo.DIF' });
      await boot.waitFor(/member m1 enrolled with address 1002/);
      m.child.kill('SIGTERM');
      expect(await m.exited).toBe(0);
      await boot.waitFor(/member m1 left/);
      boot.child.kill('SIGINT');
      expect(await boot.exited).toBe(0);
      expect(JSON.parse(readFileSync(state, 'utf8')).bindings).toEqual({ m1: 1002 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--version and -V print the package version, exit 0', async () => {
    const version = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version as string;
    for (const flag of ['--version', '-V']) {
      const p = cli([flag]);
      expect(await p.exited).toBe(0);
      expect(p.lines[0]).toBe(version);
    }
  });

  it('failures while running exit 1 with one line: a port in use, a --state another enroller holds (naming it), a --state it cannot write, etcd out of reach; none says "serving"', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rina-cli-'));
    try {
      const port = await freePort();
      const state = join(dir, 'state.json');
      const boot = cli(['bootstrap', '--listen', `127.0.0.1:${port}`, '--dif', 'demo.DIF', '--pool', '1002-1999', '--state', state]);
      await boot.waitFor(/serving demo\.DIF/);
      const cases: Array<[string[], RegExp]> = [
        [['--listen', `127.0.0.1:${port}`, '--state', join(dir, 'other.json')], /EADDRINUSE/],
        [['--listen', '127.0.0.1:0', '--state', state], new RegExp(`in use by another enroller \\(process ${boot.child.pid};`)],
        [['--listen', '127.0.0.1:0', '--state', join(dir, 'missing', 'state.json')], /is the directory there and writable/],
        [
          ['--listen', '127.0.0.1:0', '--etcd', `http://127.0.0.1:${await freeTcpPort()}`],
          /etcd: cannot register the enroller: .*ECONNREFUSED/,
        ],
      ];
      for (const [args, message] of cases) {
        const p = cli(['bootstrap', '--dif', 'demo.DIF', '--pool', '1002-1999', ...args]);
        expect(await p.exited).toBe(1);
        expect(p.stderr.filter((l) => l.trim() !== '')).toHaveLength(1);
        expect(p.stderr[0]).toMatch(message);
        expect(p.lines.join('\n')).not.toMatch(/serving/);
      }
      // the first one still serves, and gives its lock back when it stops
      boot.child.kill('SIGTERM');
      expect(await boot.exited).toBe(0);
      expect(readdirSync(dir).filter((f) => f.endsWith('.lock'))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('SIGHUP ends a member as SIGTERM does: it leaves (M_RELEASE) and exits 0', async () => {
    const port = await freePort();
    const boot = cli(['bootstrap', '--listen', `127.0.0.1:${port}`, '--dif', 'demo.DIF', '--pool', '1002-1999']);
    await boot.waitFor(/serving demo\.DIF/);
    const m = cli(['member', '--name', 'm1', '--bootstrap', `127.0.0.1:${port}`]);
    await boot.waitFor(/member m1 enrolled/);
    m.child.kill('SIGHUP');
    expect(await m.exited).toBe(0);
    await boot.waitFor(/member m1 left/);
  });

  it('every flag also comes from --config FILE or RINA_ENROLL_<FLAG>: flags override the file, the file overrides the environment', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rina-cli-'));
    try {
      const config = join(dir, 'enroller.json');
      writeFileSync(config, JSON.stringify({ listen: '127.0.0.1:0', pool: '1002-1010', dif: 'file.DIF', json: true }));
      const env = { RINA_ENROLL_DIF: 'env.DIF', RINA_ENROLL_POOL: '1-5', RINA_ENROLL_LISTEN: '127.0.0.1:0' };
      const served = async (args: string[]) => {
        const p = cli(['bootstrap', ...args], env);
        const line = await p.waitFor(/"event":"enroller:started"|serving /);
        p.child.kill('SIGTERM');
        await p.exited;
        return line;
      };
      expect(await served([])).toMatch(/serving env\.DIF on 127\.0\.0\.1:\d+, pool 1-5/);
      expect(await served(['--config', config])).toMatch(/"difName":"file\.DIF".*"pool":\{"first":1002,"last":1010\}/);
      expect(await served([`--config=${config}`, '--dif', 'flag.DIF'])).toMatch(/"difName":"flag\.DIF"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // Found by an audit (2026-12-06): only single-valued keys were tested from the file and the environment.
  it('a repeatable flag takes a comma-separated list from the environment and a JSON array from the file; the command line replaces it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rina-cli-'));
    try {
      const port = await freePort();
      const boot = cli(['bootstrap', '--listen', `127.0.0.1:${port}`, '--dif', 'demo.DIF', '--pool', '1002-1999']);
      await boot.waitFor(/serving demo\.DIF/);
      const dead = `127.0.0.1:${await freePort()}`;
      const alive = `127.0.0.1:${port}`;
      const quick = ['--timeout', '300', '--retries', '2'];
      const fromEnv = cli(['member', '--name', 'm1', ...quick], { RINA_ENROLL_BOOTSTRAP: `${dead},${alive}` });
      expect(await fromEnv.waitFor(/enrolled in demo\.DIF/)).toContain(`via ${alive}`);
      fromEnv.child.kill('SIGTERM');
      await fromEnv.exited;
      const config = join(dir, 'member.json');
      writeFileSync(config, JSON.stringify({ name: 'm2', bootstrap: [dead, alive] }));
      const fromFile = cli(['member', '--config', config, ...quick]);
      expect(await fromFile.waitFor(/enrolled in demo\.DIF/)).toContain(`via ${alive}`);
      fromFile.child.kill('SIGTERM');
      await fromFile.exited;
      const replaced = cli(['member', '--config', config, '--bootstrap', dead, '--timeout', '300', '--retries', '1']); // the list is not added to
      expect(await replaced.exited).toBe(1);
      expect(replaced.lines.join('\n')).not.toMatch(/enrolled in/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    [
      { RINA_ENROLL_LEASE: 'soon' },
      {},
      /^rina-enroll: error: environment variable RINA_ENROLL_LEASE: --lease must be a number, got "soon"$/,
    ],
    [{}, { pool: '9-1' }, /--config ".*" key "pool": the pool's first address must not exceed its last/],
    [{}, { poool: '1-9' }, /--config ".*": unknown key "poool" \(keys: listen, dif, pool, /],
    [{}, { listen: ['127.0.0.1:0', '127.0.0.1:1'] }, /key "listen": takes one value, not a list/],
    [{}, { 'max-pdu-bytes': 10 }, /^rina-enroll: error: --config ".*" key "max-pdu-bytes": must be >= 64$/],
    [{ RINA_ENROLL_MAX_MEMBERS: '0' }, {}, /^rina-enroll: error: environment variable RINA_ENROLL_MAX_MEMBERS: must be >= 1$/],
  ])('a bad value from the environment %j or the file %j names where it came from, exit 2', async (env, file, message) => {
    const dir = mkdtempSync(join(tmpdir(), 'rina-cli-'));
    try {
      const config = join(dir, 'c.json');
      writeFileSync(config, JSON.stringify({ listen: '127.0.0.1:0', dif: 'd', pool: '1-9', ...file }));
      const p = await runCliInProcess(['bootstrap', '--config', config], env);
      expect(p.code).toBe(2);
      expect(p.stderr.filter((l) => l.trim() !== '')).toHaveLength(1);
      expect(p.stderr[0]).toMatch(message);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--help and --version work whatever the environment holds', async () => {
    const p = cli(['bootstrap', '--help'], { RINA_ENROLL_LEASE: 'soon' });
    expect(await p.exited).toBe(0);
    expect(p.lines.join('\n')).toMatch(/--metrics-listen <host:port>/);
  });

  it('a busy --metrics-listen port fails the start (exit 1) naming the flag, before anything says "serving"', async () => {
    const http = await import('node:http');
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const busy = (server.address() as { port: number }).port;
      const p = cli(['bootstrap', '--listen', '127.0.0.1:0', '--dif', 'd', '--pool', '1-9', '--metrics-listen', `127.0.0.1:${busy}`]);
      expect(await p.exited).toBe(1);
      expect(p.stderr[0]).toMatch(new RegExp(`--metrics-listen 127\\.0\\.0\\.1:${busy}: .*EADDRINUSE`));
      expect(p.lines.join('\n')).not.toMatch(/serving/);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
