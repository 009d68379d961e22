/**
 * etcd as SECURITY.md asks to run it: TLS with client certificates, and etcd
 * authentication with a user whose role grants only the DIF's prefix. The
 * enroller CLI connects with --etcd-cacert/--etcd-cert/--etcd-key and
 * --etcd-user/--etcd-password-file; wrong credentials fail at start with a
 * clear message and exit 1.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3, Range } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EtcdCluster } from '../../src/cli/etcd-server.js';
import { makeCerts, type TestCerts } from '../support/certs.js';
import { cliRunner, freePort } from '../support/cli.js';
import { describeEtcd, startEtcd } from '../support/etcd.js';

const { cli, killAll } = cliRunner();

describeEtcd('etcd with TLS and authentication', () => {
  let dir: string;
  let certs: TestCerts;
  let etcd: EtcdCluster;
  let tls: string;
  const password = (text: string) => {
    const path = join(dir, `pw-${Math.random().toString(36).slice(2)}`);
    writeFileSync(path, `${text}\n`, { mode: 0o600 });
    return path;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rina-etcd-sec-'));
    certs = makeCerts(dir);
    etcd = await startEtcd({ tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca } });
    tls = etcd.members[0]?.tlsEndpoint as string;
    // Authentication on: root, and an enroller user whose role reads and writes only /rina/demo.DIF/.
    const admin = new Etcd3({ hosts: etcd.endpoints });
    await admin.role('root').create();
    await (await admin.user('root').create('root-pw')).addRole('root');
    const role = await admin.role('rina-demo').create();
    await role.grant({ permission: 'Readwrite', range: Range.prefix('/rina/demo.DIF/') });
    await (await admin.user('enroller').create('enroller-pw')).addRole('rina-demo');
    await admin.auth.authEnable({});
    admin.close();
  }, 60_000);

  afterAll(async () => {
    await killAll();
    await etcd?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const bootstrap = async (extra: string[]) => {
    const port = await freePort();
    return {
      port,
      p: cli(['bootstrap', '--listen', `127.0.0.1:${port}`, '--dif', 'demo.DIF', '--pool', '1002-1999', '--etcd', tls, ...extra]),
    };
  };
  const tlsFlags = () => ['--etcd-cacert', certs.ca, '--etcd-cert', certs.clientCert, '--etcd-key', certs.clientKey];

  it('the right CA, client certificate, user and password: the enroller serves and a member enrols', async () => {
    const { port, p } = await bootstrap([...tlsFlags(), '--etcd-user', 'enroller', '--etcd-password-file', password('enroller-pw')]);
    await p.waitFor(/serving demo\.DIF .*address space shared/, 20_000);
    const m = cli(['member', '--name', 'm1', '--dif', 'demo.DIF', '--bootstrap', `127.0.0.1:${port}`]);
    const line = await m.waitFor(/enrolled in demo\.DIF as address \d+/, 10_000);
    const address = /as address (\d+)/.exec(line)?.[1];
    // the binding is in etcd, readable with the enroller's credentials
    const reader = new Etcd3({
      hosts: tls,
      credentials: {
        rootCertificate: Buffer.from(await readText(certs.ca)),
        certChain: Buffer.from(await readText(certs.clientCert)),
        privateKey: Buffer.from(await readText(certs.clientKey)),
      },
      auth: { username: 'enroller', password: 'enroller-pw' },
    });
    try {
      expect(await reader.get('/rina/demo.DIF/names/m1').string()).toBe(address);
    } finally {
      reader.close();
    }
  }, 30_000);

  it.each([
    [
      'a wrong password',
      () => [...tlsFlags(), '--etcd-user', 'enroller', '--etcd-password-file', password('nope')],
      /authentication failed|invalid user ID or password/i,
    ],
    ['no credentials with authentication on', () => tlsFlags(), /user name is empty|permission denied|authentication/i],
    [
      'an untrusted CA',
      () => [
        '--etcd-cacert',
        certs.otherCa,
        '--etcd-cert',
        certs.clientCert,
        '--etcd-key',
        certs.clientKey,
        '--etcd-user',
        'enroller',
        '--etcd-password-file',
        password('enroller-pw'),
      ],
      /certificate|TLS|SSL|handshake|etcd/i,
    ],
  ])(
    '%s: it fails at start, one line, exit 1, never "serving"',
    async (_, flags, message) => {
      const { p } = await bootstrap(flags());
      expect(await p.exited).toBe(1);
      expect(p.lines.join('\n')).not.toMatch(/serving/);
      expect(p.stderr.filter((l) => l.trim() !== '')).toHaveLength(1);
      expect(p.stderr[0]).toMatch(message);
    },
    30_000,
  );

  it.each([
    [['--etcd-cert', '/x'], /--etcd-cert and --etcd-key go together/],
    [['--etcd-user', 'enroller'], /--etcd-user and --etcd-password-file go together/],
    [['--etcd-cacert', '/nonexistent/ca.pem'], /--etcd-cacert: cannot read "\/nonexistent\/ca\.pem" \(ENOENT\)/],
    [[], /is https: give --etcd-cacert/],
  ])('bad flags %j: one line, exit 2', async (flags, message) => {
    const { p } = await bootstrap(flags);
    expect(await p.exited).toBe(2);
    expect(p.stderr[0]).toMatch(message);
  });
});

async function readText(path: string): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  return readFile(path, 'utf8');
}

describe('EtcdAddressStore tls and auth options', () => {
  it('are checked when the store is made, naming the field, and never echo a password', async () => {
    const { EtcdAddressStore } = await import('../../src/etcd/index.js');
    const { ConfigError } = await import('../../src/index.js');
    const ca = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    const make = (o: object) => () => new EtcdAddressStore({ hosts: 'https://127.0.0.1:2379', difName: 'd', ...o });
    expect(make({ tls: { ca: 'not pem' } })).toThrow(/tls\.ca: tls\.ca must be PEM/);
    expect(make({ tls: { ca, cert: ca } })).toThrow(/tls\.cert: give both cert and key, or neither/);
    expect(make({ auth: { username: 'u', password: '' } })).toThrow(/auth\.password: must be a non-empty string/);
    expect(
      () =>
        new EtcdAddressStore({
          client: new Etcd3({ hosts: 'http://127.0.0.1:1' }),
          difName: 'd',
          auth: { username: 'u', password: 's3cret' },
        }),
    ).toThrow(/client: tls and auth are for the client the store makes from hosts/);
    try {
      make({ auth: { username: 'u', password: 's3cret-value' }, tls: { ca: 'x' } })();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect(JSON.stringify(err) + String(err)).not.toContain('s3cret-value');
    }
    expect(make({ tls: { ca }, auth: { username: 'u', password: 'p' } })).not.toThrow();
  });
});
