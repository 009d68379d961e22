/**
 * Bad options of `resolveSrvBootstraps` and bad `srv:` entries: a
 * `ConfigError` naming the field and the rule, before any lookup.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/index.js';
import { parseSrvBootstrap, resolveSrvBootstraps, type ResolveSrvOptions } from '../../src/member/srv.js';

const ENTRY = 'srv:_rina-enroll._udp.example.test';
const resolver = { resolveSrv: async () => [], resolve4: async () => [], resolve6: async () => [] };

/** The issues of the ConfigError `resolveSrvBootstraps` rejects with for `options`. */
async function issues(options: unknown): Promise<unknown> {
  const error = await resolveSrvBootstraps(ENTRY, options as ResolveSrvOptions).catch((err: unknown) => err);
  expect(error).toBeInstanceOf(ConfigError);
  return (error as ConfigError).issues;
}

describe('resolveSrvBootstraps options', () => {
  it.each([
    [{ dnsServers: [53] }, 'dnsServers.0', 'must be a DNS server address (string)'],
    [
      { dnsServers: ['dns.example.test'] },
      'dnsServers.0',
      'must be an IP address, optionally with a port: "127.0.0.1", "127.0.0.1:5353" or "[::1]:5353"',
    ],
    [{ dnsServers: '127.0.0.1' }, 'dnsServers', 'must be an array of DNS server addresses'],
    [{ dnsServers: [] }, 'dnsServers', 'must list at least one DNS server'],
    [{ family: 5 }, 'family', 'must be 4 or 6'],
    [{ resolver, dnsServers: ['127.0.0.1'] }, 'dnsServers', 'give either resolver or dnsServers, not both'],
    [{ resolver, random: 0.5 }, 'random', 'must be a function returning a number in [0, 1)'],
    [{ resolver, signal: 'stop' }, 'signal', 'must be an AbortSignal'],
  ])('%j: %s %s', async (options, field, rule) => {
    expect(await issues(options)).toEqual([{ field, rule }]);
  });

  it('a resolver without the three lookups is refused, naming what it is for', async () => {
    expect(await issues({ resolver: { resolveSrv: async () => [] } })).toEqual([
      { field: 'resolver', rule: expect.stringContaining('SrvResolver') },
    ]);
  });

  it('"127.0.0.1", "127.0.0.1:5353" and "[::1]:5353" are DNS servers', async () => {
    for (const server of ['127.0.0.1', '127.0.0.1:5353', '[::1]:5353', '::1']) {
      const error = await resolveSrvBootstraps('srv:bad name', { dnsServers: [server] }).catch((err: unknown) => err);
      expect((error as ConfigError).issues).toEqual([{ field: 'bootstrap', rule: expect.any(String) }]); // the entry, not the server
    }
  });
});

describe('parseSrvBootstrap', () => {
  it('anything but an srv: entry: the field is the bootstrap, the rule its prefix', () => {
    for (const entry of ['10.0.0.1:7000', 42]) {
      expect(() => parseSrvBootstrap(entry as string)).toThrow(ConfigError);
      try {
        parseSrvBootstrap(entry as string);
      } catch (err) {
        expect((err as ConfigError).issues).toEqual([{ field: 'bootstrap', rule: 'must start with "srv:"' }]);
      }
    }
  });

  it('a bad SRV name: the field is the bootstrap, the rule what is wrong with the name', () => {
    try {
      parseSrvBootstrap('srv:example.com');
      expect.unreachable();
    } catch (err) {
      expect((err as ConfigError).issues).toEqual([{ field: 'bootstrap', rule: expect.stringContaining('service label') }]);
    }
  });
});
