/** The etcd store's options (one schema: defaults, each rule and its message) and the errors it reports. */
import { createRequire } from 'node:module';
import type * as Etcd3Module from 'etcd3';
import { describe, expect, it, vi } from 'vitest';
import { etcdClientOptions, storeError } from '../../src/etcd/client.js';
import { EtcdAddressStore } from '../../src/etcd/index.js';
import { etcdStoreOptionsSchema } from '../../src/etcd/options.js';
import { ConfigError, StoreError } from '../../src/index.js';
import { ScriptedEtcd } from '../support/scripted-etcd.js';

const HOSTS = 'http://127.0.0.1:2379';
const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

/** The ConfigError's issues for `options`, as "field: rule". */
function issues(options: object): string[] {
  try {
    new EtcdAddressStore(options as never);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.issues.map((i) => `${i.field}: ${i.rule}`);
  }
  return [];
}

describe('EtcdAddressStore options', () => {
  it('default to a 10 s lease and 2 s calls; the prefix is /rina/<dif>/, or the one given with its slash', () => {
    expect(etcdStoreOptionsSchema.parse({ hosts: HOSTS, difName: 'd' })).toMatchObject({ leaseTtlSecs: 10, callTimeoutMs: 2000 });
    expect(new EtcdAddressStore({ hosts: HOSTS, difName: 'd.DIF' }).prefix).toBe('/rina/d.DIF/');
    expect(new EtcdAddressStore({ hosts: [HOSTS, 'http://127.0.0.2:2379'], prefix: '/x/' }).prefix).toBe('/x/');
    expect(new EtcdAddressStore({ hosts: HOSTS, prefix: '/x' }).prefix).toBe('/x/');
    expect(new EtcdAddressStore({ client: new ScriptedEtcd().client, prefix: '/x', difName: 'ignored' }).prefix).toBe('/x/');
  });

  it('name each field they refuse and why', () => {
    expect(issues({ difName: 'd' })).toEqual(['hosts: give exactly one of hosts and client']);
    expect(issues({ hosts: HOSTS, client: new ScriptedEtcd().client, difName: 'd' })).toEqual([
      'hosts: give exactly one of hosts and client',
    ]);
    expect(issues({ hosts: HOSTS })).toEqual(['difName: give difName (for the default prefix) or prefix']);
    expect(issues({ hosts: 'nope', difName: 'd' })).toEqual(['hosts: must be a URL']);
    expect(issues({ hosts: ['nope'], difName: 'd' })).toEqual(['hosts.0: must be a URL']);
    expect(issues({ hosts: [], difName: 'd' })).toEqual(['hosts: must list at least one etcd URL']);
    expect(issues({ hosts: 5, difName: 'd' })).toEqual(['hosts: must be an etcd URL or a non-empty array of them']);
    expect(issues({ hosts: HOSTS, difName: '' })).toEqual(['difName: must be a non-empty string']);
    expect(issues({ hosts: HOSTS, prefix: '' })).toEqual(['prefix: must be a non-empty string']);
    expect(issues({ hosts: HOSTS, difName: 'd', leaseTtlSecs: 1 })).toEqual(['leaseTtlSecs: must be >= 2']);
    expect(issues({ hosts: HOSTS, difName: 'd', leaseTtlSecs: 2 })).toEqual([]);
    expect(issues({ hosts: HOSTS, difName: 'd', leaseTtlSecs: 2_147_483 })).toEqual([]);
    expect(issues({ hosts: HOSTS, difName: 'd', leaseTtlSecs: 2_147_484 })).toEqual([
      'leaseTtlSecs: must be <= 2147483 s (its renewal timers must fit in a Node.js timer)',
    ]);
    expect(issues({ hosts: HOSTS, difName: 'd', callTimeoutMs: 0 })).toEqual(['callTimeoutMs: must be > 0']);
    expect(issues({ hosts: HOSTS, difName: 'd', extra: 1 })).toEqual(['(root): unknown option "extra"']);
    expect(issues({ client: {}, difName: 'd' })).toEqual(['client: must implement Etcd3 client (lease, watch, close)']);
  });

  it('take PEM as text or bytes, and both or neither of cert and key', () => {
    const bytes = new TextEncoder().encode(PEM);
    expect(issues({ hosts: HOSTS, difName: 'd', tls: { ca: bytes, cert: PEM, key: bytes } })).toEqual([]);
    expect(issues({ hosts: HOSTS, difName: 'd', tls: { ca: 7 } })).toEqual(['tls.ca: must be PEM text or its bytes']);
    expect(issues({ hosts: HOSTS, difName: 'd', tls: { ca: PEM, key: 'x' } })).toEqual([
      'tls.key: tls.key must be PEM (-----BEGIN ...)',
      'tls.cert: give both cert and key, or neither',
    ]);
    expect(issues({ hosts: HOSTS, difName: 'd', tls: { ca: PEM, cert: 'y', key: PEM } })).toEqual([
      'tls.cert: tls.cert must be PEM (-----BEGIN ...)',
    ]);
    expect(issues({ hosts: HOSTS, difName: 'd', tls: { ca: 'abc' } })).toEqual(['tls.ca: tls.ca must be PEM (-----BEGIN ...)']);
    expect(issues({ hosts: HOSTS, difName: 'd', auth: { username: '', password: 'p' } })).toEqual([
      'auth.username: must be a non-empty string',
    ]);
    expect(issues({ hosts: HOSTS, difName: 'd', auth: { username: 'u', password: '' } })).toEqual([
      'auth.password: must be a non-empty string',
    ]);
    expect(issues({ client: new ScriptedEtcd().client, difName: 'd', auth: { username: 'u', password: 'p' } })).toEqual([
      'client: tls and auth are for the client the store makes from hosts; configure your own client instead',
    ]);
    expect(issues({ client: new ScriptedEtcd().client, difName: 'd', tls: { ca: PEM } })).toEqual([
      'client: tls and auth are for the client the store makes from hosts; configure your own client instead',
    ]);
  });
});

describe('the client the store makes from hosts', () => {
  const require = createRequire(import.meta.url);
  const etcd3 = require('etcd3') as typeof Etcd3Module;
  const cockatiel = createRequire(require.resolve('etcd3'))('cockatiel') as { noop: unknown; CircuitBreakerPolicy: new () => unknown };
  const make = (o: object) => etcdClientOptions(etcdStoreOptionsSchema.parse({ hosts: [HOSTS], difName: 'd', ...o }));

  it('reaches the hosts within the call timeout, reconnects within a second, sends no keepalive pings, retries a failed call once (unless its deadline passed), and skips a failing member (no circuit breaker)', async () => {
    const options = make({ callTimeoutMs: 700 });
    expect(options.hosts).toEqual([HOSTS]);
    expect(options.dialTimeout).toBe(700);
    expect(options.credentials).toBeUndefined();
    expect(options.auth).toBeUndefined();
    expect(options.grpcOptions).toEqual({ 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1000 });
    const faults = options.faultHandling;
    if (faults === undefined) throw new Error('no fault handling');
    // Each member's policy is the client's MemberHealth (member-health.test.ts), not cockatiel's breaker or noop.
    const host = faults.host?.('127.0.0.1');
    expect(host).not.toBe(cockatiel.noop);
    expect(host).not.toBeInstanceOf(cockatiel.CircuitBreakerPolicy);
    await expect(host?.execute(async () => 'answered')).resolves.toBe('answered');
    let calls = 0;
    const fail = (err: Error) => () => {
      calls++;
      throw err;
    };
    const recoverable = Object.assign(new Error('unavailable'), { [etcd3.RecoverableError]: true });
    await expect(faults.global?.execute(fail(recoverable))).rejects.toThrow('unavailable');
    expect(calls).toBe(2);
    calls = 0;
    await expect(faults.global?.execute(fail(new Error('permission denied')))).rejects.toThrow('permission denied');
    expect(calls).toBe(1);
    calls = 0;
    // (sent again with the same deadline it would fail at once, and etcd3 would close that member's connections too)
    await expect(faults.global?.execute(fail(new etcd3.GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED')))).rejects.toThrow('DEADLINE');
    expect(calls).toBe(1);
    expect((faults.watchBackoff as unknown as { options: object }).options).toMatchObject({ initialDelay: 100, maxDelay: 2000 });
  });

  it('passes TLS (a CA alone, or with a client certificate and key) and authentication through', () => {
    const bytes = new TextEncoder().encode(PEM);
    expect(make({ tls: { ca: PEM } }).credentials).toEqual({ rootCertificate: Buffer.from(PEM) });
    expect(make({ tls: { ca: bytes, cert: PEM, key: `${PEM}key` } }).credentials).toEqual({
      rootCertificate: Buffer.from(PEM),
      certChain: Buffer.from(PEM),
      privateKey: Buffer.from(`${PEM}key`),
    });
    const auth = make({ auth: { username: 'u', password: 'p' }, callTimeoutMs: 1500 }).auth;
    expect(auth).toMatchObject({ username: 'u', password: 'p' });
    // The token exchange has a deadline of its own: etcd3 gives it none, and a member that holds calls would hold it for ever.
    const before = Date.now();
    const callOptions = auth?.callOptions as (() => { deadline: number }) | undefined;
    const deadline = callOptions?.().deadline ?? Number.NaN;
    expect(deadline - before).toBeGreaterThanOrEqual(1500);
    expect(deadline - Date.now()).toBeLessThanOrEqual(1500);
  });

  it('is closed with the store, unlike a client of the caller’s', async () => {
    const close = vi.spyOn(etcd3.Etcd3.prototype, 'close');
    try {
      // etcd out of reach: the open fails, and closes the store it began
      const store = new EtcdAddressStore({ hosts: 'http://127.0.0.1:9', difName: 'd', callTimeoutMs: 100 });
      await expect(store.open({ name: 'e', shimAddress: 'e' }, { bound() {}, unbound() {}, idle() {}, enrollers() {} })).rejects.toThrow(
        StoreError,
      );
      expect(close).toHaveBeenCalledTimes(1);
    } finally {
      close.mockRestore();
    }
  });
});

describe('the errors the etcd store reports', () => {
  it('name what failed and hint at what to check for the errors an operator meets first', () => {
    const hint = (message: string) => storeError('cannot read', new Error(message), '/rina/d/').message;
    expect(hint('etcdserver: permission denied')).toBe(
      "etcd: cannot read: etcdserver: permission denied (does the etcd user's role grant read and write under /rina/d/?)",
    );
    expect(hint('authentication failed, invalid user ID or password')).toMatch(/\(check the etcd user and password\)$/);
    expect(hint('etcdserver: user name is empty')).toMatch(/\(check the etcd user and password\)$/);
    for (const m of ['unable to verify the first certificate', 'SSL routines', 'TLS handshake failed', 'handshake']) {
      expect(hint(m)).toMatch(/\(check the CA that signed etcd's certificate, and the client certificate and key\)$/);
    }
    expect(hint('No connection established. Resolution note: ')).toBe('etcd: cannot read: No connection established.');
    expect(hint('No connection established.Resolution note:')).toBe('etcd: cannot read: No connection established.');
    expect(hint('a Resolution note: kept, as it is not at the end')).toBe(
      'etcd: cannot read: a Resolution note: kept, as it is not at the end',
    );
    expect(hint('deadline exceeded')).toBe('etcd: cannot read: deadline exceeded');
    const cause = new Error('x');
    expect(storeError('w', cause, '/p/').cause).toBe(cause);
    const already = new StoreError('as it was');
    expect(storeError('w', already, '/p/')).toBe(already);
  });
});
