/**
 * A member's `srv:` entries through its lookups: where the enrollers of each
 * entry go in the order, and what each lookup says in the log (what it
 * found; a failure as a warning when the member goes on without it, as
 * detail when it ends the attempt, whose own failure says it).
 */
import { afterEach, expect, it } from 'vitest';
import { MemoryNetwork } from '../../src/index.js';
import type { SrvRecord, SrvResolver } from '../../src/member/srv.js';
import { cleanup, member, onCleanup, withEnroller } from '../support/helpers.js';
import { type LoggedLine, recordingLogger } from '../support/logs.js';

afterEach(cleanup);

const A = '_rina-enroll._udp.a.test';
const B = '_rina-enroll._udp.b.test';
const GONE = '_rina-enroll._udp.gone.test';
const NOWHERE = '_rina-enroll._udp.nowhere.test';

/** A and B list one enroller each; GONE says the service is not available there ("."); NOWHERE does not exist. */
const resolver: SrvResolver = {
  async resolveSrv(name) {
    const zone: Record<string, SrvRecord[]> = {
      [A]: [{ name: 'a.test', port: 7000, priority: 0, weight: 0 }],
      [B]: [{ name: 'b.test', port: 7000, priority: 0, weight: 0 }],
      [GONE]: [{ name: '.', port: 0, priority: 0, weight: 0 }],
    };
    const records = zone[name];
    if (records === undefined) throw Object.assign(new Error('query failed: ENOTFOUND'), { code: 'ENOTFOUND' });
    return records;
  },
  resolve4: async (host) => [host === 'a.test' ? '10.0.0.1' : '10.0.0.2'],
  resolve6: async () => {
    throw Object.assign(new Error('query failed: ENODATA'), { code: 'ENODATA' });
  },
};

async function network() {
  const net = new MemoryNetwork({ seed: 2 });
  onCleanup(() => net.close());
  await withEnroller({}, net, '10.0.0.1:7000');
  return net;
}

/** The `discovery` lines of a log. */
const discoveryLines = (lines: ReturnType<typeof recordingLogger>['lines']) =>
  lines.filter((l) => (l.fields as { event?: string }).event === 'discovery');

it('the enrollers of each srv: entry take its place among the configured bootstraps, entry by entry', async () => {
  const net = await network();
  const bootstraps = [`srv:${A}`, '10.0.0.9:7000', `srv:${B}`];
  const { mgr } = member(net, 'm', { bootstraps }, { discovery: { resolver } });
  await mgr.enrol();
  expect(mgr.bootstraps().map((b) => [b.address, b.source])).toEqual([
    ['10.0.0.1:7000', 'dns'],
    ['10.0.0.9:7000', 'config'],
    ['10.0.0.2:7000', 'dns'],
  ]);
});

it('each lookup is logged at debug with what it found, or that the service is not available there', async () => {
  const net = await network();
  const { logger, lines } = recordingLogger();
  const { mgr } = member(net, 'm', { bootstraps: [`srv:${A}`, `srv:${GONE}`] }, { discovery: { resolver }, logger });
  await mgr.enrol();
  expect(discoveryLines(lines)).toEqual([
    {
      level: 'debug',
      fields: { event: 'discovery', ipcpName: 'm', srv: A, bootstraps: ['10.0.0.1:7000'] },
      message: `${A}: 10.0.0.1:7000`,
    },
    {
      level: 'debug',
      fields: { event: 'discovery', ipcpName: 'm', srv: GONE, bootstraps: [] },
      message: `${GONE}: the service is not available there`,
    },
  ]);
});

it('a failed lookup is a warning when another bootstrap is left, naming the entry and why; detail when it ends the attempt', async () => {
  const net = await network();
  const going = recordingLogger();
  const { mgr } = member(net, 'm', { bootstraps: [`srv:${NOWHERE}`, '10.0.0.1:7000'] }, { discovery: { resolver }, logger: going.logger });
  await mgr.enrol();
  const [warned] = discoveryLines(going.lines) as [LoggedLine];
  expect(warned).toMatchObject({ level: 'warn', fields: { event: 'discovery', ipcpName: 'm', srv: NOWHERE } });
  const err = (warned.fields as { err: Error }).err;
  expect(err).toMatchObject({ code: 'DISCOVERY_ERROR', srvName: NOWHERE });
  expect(warned.message).toBe(err.message);
  expect(err.message).toContain('ENOTFOUND');

  const ending = recordingLogger();
  const { mgr: alone } = member(net, 'n', { bootstraps: [`srv:${NOWHERE}`] }, { discovery: { resolver }, logger: ending.logger });
  const error = await alone.enrol().catch((e: Error) => e);
  expect(error).toMatchObject({ code: 'DISCOVERY_ERROR', srvName: NOWHERE });
  expect(discoveryLines(ending.lines).map((l) => l.level)).toEqual(['debug']);
});

it('an entry whose lookup fails does not make every enrollment look up again: the next lookup waits for the known enrollers to fail', async () => {
  const net = await network();
  const asked: string[] = [];
  const counting: SrvResolver = {
    ...resolver,
    resolveSrv: (name) => {
      asked.push(name);
      return resolver.resolveSrv(name);
    },
  };
  const { mgr } = member(net, 'm', { bootstraps: [`srv:${NOWHERE}`, `srv:${A}`] }, { discovery: { resolver: counting } });
  await mgr.enrol();
  expect(asked).toEqual([NOWHERE, A]);
  await mgr.reEnroll();
  await mgr.enrol();
  expect(asked).toEqual([NOWHERE, A]);
});

it('the family of the member’s shim address decides which addresses are asked for, unless discovery.family says; a name asks both, IPv4 first', async () => {
  const net = new MemoryNetwork({ seed: 3 });
  onCleanup(() => net.close());
  const asked: string[] = [];
  const both: SrvResolver = {
    resolveSrv: async () => [{ name: 'a.test', port: 7000, priority: 0, weight: 0 }],
    resolve4: async () => {
      asked.push('A');
      return ['10.0.0.1'];
    },
    resolve6: async () => {
      asked.push('AAAA');
      return ['::2'];
    },
  };
  const bootstraps = [`srv:${A}`];
  const cases = [
    ['[::1]:5000', undefined, ['AAAA'], ['[::2]:7000']],
    ['10.0.0.5:5000', undefined, ['A'], ['10.0.0.1:7000']],
    ['[::1]:5001', 4, ['A'], ['10.0.0.1:7000']],
    ['m', undefined, ['A', 'AAAA'], ['10.0.0.1:7000', '[::2]:7000']],
  ] as const;
  for (const [address, family, lookups, found] of cases) {
    asked.length = 0;
    const discovery = family === undefined ? { resolver: both } : { resolver: both, family };
    const { mgr } = member(net, address, { bootstraps, maxRetries: 1, timeoutMs: 50 }, { discovery });
    await mgr.enrol().catch(() => undefined); // nobody answers: only the lookup matters here
    expect([address, asked]).toEqual([address, lookups]);
    expect(mgr.bootstraps().map((b) => b.address)).toEqual(found);
  }
});

it('a lookup cut short by an abort logs nothing: no lookup failed', async () => {
  const net = await network();
  let answer: () => void = () => undefined;
  const slow: SrvResolver = {
    ...resolver,
    resolveSrv: (name) =>
      new Promise((resolve) => {
        answer = () => resolve(resolver.resolveSrv(name));
      }),
  };
  const { logger, lines } = recordingLogger();
  const { mgr } = member(net, 'm', { bootstraps: [`srv:${A}`, '10.0.0.1:7000'] }, { discovery: { resolver: slow }, logger });
  const controller = new AbortController();
  const outcome = mgr.enrol({ signal: controller.signal }).catch((err: Error) => err.name);
  await new Promise((resolve) => setImmediate(resolve));
  controller.abort();
  answer();
  expect(await outcome).toBe('EnrollmentAbortedError');
  await new Promise((resolve) => setImmediate(resolve));
  expect(discoveryLines(lines)).toEqual([]);
});
