/**
 * A member's `srv:` entries through its lookups: where the enrollers of each
 * entry go in the order, and what each lookup says in the log (what it
 * found; a failure as a warning when the member goes on without it, as
 * detail when it ends the attempt, whose own failure says it).
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterEach, expect, it } from 'vitest';
import { MemoryNetwork } from '../../src/index.js';
import { scriptedResolver } from '../support/dns.js';
import { cleanup, member, onCleanup, withEnroller } from '../support/helpers.js';
import { type LoggedLine, recordingLogger } from '../support/logs.js';

afterEach(cleanup);

const A = '_rina-enroll._udp.a.test';
const B = '_rina-enroll._udp.b.test';
const GONE = '_rina-enroll._udp.gone.test';
const NOWHERE = '_rina-enroll._udp.nowhere.test';
const BOTH = '_rina-enroll._udp.both.test';

/** A and B list one enroller each (a.test 10.0.0.1, b.test 10.0.0.2), BOTH the two; GONE says the service is not available there ("."); NOWHERE does not exist. */
const zone = () =>
  scriptedResolver(
    {
      [A]: [{ name: 'a.test', port: 7000, priority: 0, weight: 0 }],
      [B]: [{ name: 'b.test', port: 7000, priority: 0, weight: 0 }],
      [GONE]: [{ name: '.', port: 0, priority: 0, weight: 0 }],
      [BOTH]: [
        { name: 'a.test', port: 7000, priority: 0, weight: 0 },
        { name: 'b.test', port: 7000, priority: 1, weight: 0 },
      ],
    },
    { 'a.test': { a: ['10.0.0.1'] }, 'b.test': { a: ['10.0.0.2'] } },
  );
const { resolver } = zone();

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
  const { mgr } = member(net, 'm', { bootstraps: [`srv:${BOTH}`, `srv:${GONE}`] }, { discovery: { resolver }, logger });
  await mgr.enrol();
  expect(discoveryLines(lines)).toEqual([
    {
      level: 'debug',
      fields: { event: 'discovery', ipcpName: 'm', srv: BOTH, bootstraps: ['10.0.0.1:7000', '10.0.0.2:7000'] },
      message: `${BOTH}: 10.0.0.1:7000, 10.0.0.2:7000`,
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
  const failures: unknown[] = [];
  const listener = (message: unknown) => failures.push(message);
  subscribe('rina-enrollment:enrollment:failure', listener);
  onCleanup(() => unsubscribe('rina-enrollment:enrollment:failure', listener));
  const { mgr: alone } = member(net, 'n', { bootstraps: [`srv:${NOWHERE}`] }, { discovery: { resolver }, logger: ending.logger });
  const error = await alone.enrol().catch((e: Error) => e);
  expect(error).toMatchObject({ code: 'DISCOVERY_ERROR', srvName: NOWHERE });
  expect(discoveryLines(ending.lines).map((l) => l.level)).toEqual(['debug']);
  expect(failures).toMatchObject([{ ipcpName: 'n', bootstrap: `srv:${NOWHERE}` }]); // no enroller was tried: the entry is named
});

it('an entry whose lookup fails does not make every enrollment look up again: the next lookup waits for the known enrollers to fail', async () => {
  const net = await network();
  const counting = zone();
  const { mgr } = member(net, 'm', { bootstraps: [`srv:${NOWHERE}`, `srv:${A}`] }, { discovery: { resolver: counting.resolver } });
  await mgr.enrol();
  const lookups = [`SRV ${NOWHERE}`, `SRV ${A}`, 'A a.test', 'AAAA a.test']; // member 'm' has no IP address: both families
  expect(counting.asked).toEqual(lookups);
  await mgr.reEnroll();
  await mgr.enrol();
  expect(counting.asked).toEqual(lookups);
});

it('the family of the member’s shim address decides which addresses are asked for, unless discovery.family says; a name asks both, IPv4 first', async () => {
  const net = new MemoryNetwork({ seed: 3 });
  onCleanup(() => net.close());
  const both = scriptedResolver(
    { [A]: [{ name: 'a.test', port: 7000, priority: 0, weight: 0 }] },
    { 'a.test': { a: ['10.0.0.1'], aaaa: ['::2'] } },
  );
  const bootstraps = [`srv:${A}`];
  const cases = [
    ['[::1]:5000', undefined, ['AAAA a.test'], ['[::2]:7000']],
    ['10.0.0.5:5000', undefined, ['A a.test'], ['10.0.0.1:7000']],
    ['[::1]:5001', 4, ['A a.test'], ['10.0.0.1:7000']],
    ['m', undefined, ['A a.test', 'AAAA a.test'], ['10.0.0.1:7000', '[::2]:7000']],
  ] as const;
  for (const [address, family, lookups, found] of cases) {
    both.asked.length = 0;
    const discovery = family === undefined ? { resolver: both.resolver } : { resolver: both.resolver, family };
    const { mgr } = member(net, address, { bootstraps, maxRetries: 1, timeoutMs: 50 }, { discovery });
    await mgr.enrol().catch(() => undefined); // nobody answers: only the lookup matters here
    expect([address, both.asked]).toEqual([address, [`SRV ${A}`, ...lookups]]);
    expect(mgr.bootstraps().map((b) => b.address)).toEqual(found);
  }
});

it('a lookup cut short by an abort logs nothing: no lookup failed', async () => {
  const net = await network();
  const slow = zone();
  slow.hold();
  const { logger, lines } = recordingLogger();
  const { mgr } = member(net, 'm', { bootstraps: [`srv:${A}`, '10.0.0.1:7000'] }, { discovery: { resolver: slow.resolver }, logger });
  const controller = new AbortController();
  const outcome = mgr.enrol({ signal: controller.signal }).catch((err: Error) => err.name);
  await new Promise((resolve) => setImmediate(resolve));
  controller.abort();
  slow.release();
  expect(await outcome).toBe('EnrollmentAbortedError');
  await new Promise((resolve) => setImmediate(resolve));
  expect(discoveryLines(lines)).toEqual([]);
});
