/**
 * `resolveSrvBootstraps` against a scripted resolver: how each DNS failure
 * is worded (and kept as the cause), what one failing target among working
 * ones costs, which address families are asked, and an abort's cause.
 */
import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { DiscoveryError, EnrollmentAbortedError } from '../../src/index.js';
import { orderSrvRecords, resolveSrvBootstraps, type SrvRecord, type SrvResolver } from '../../src/member/srv.js';
import { dnsError, type HostAnswers, scriptedResolver } from '../support/dns.js';

const NAME = '_rina-enroll._udp.example.test';
const ENTRY = `srv:${NAME}`;
const rec = (name: string, port = 7000, priority = 0, weight = 0): SrvRecord => ({ name, port, priority, weight });
/** A resolver of NAME to `records`, with each host's A and AAAA answers. */
const scripted = (records: SrvRecord[] | Error, hosts: Record<string, HostAnswers> = {}) => scriptedResolver({ [NAME]: records }, hosts);

async function failure(resolver: SrvResolver, family?: 4 | 6): Promise<DiscoveryError> {
  const err = await resolveSrvBootstraps(ENTRY, { resolver, ...(family === undefined ? {} : { family }) }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(DiscoveryError);
  return err as DiscoveryError;
}

describe('resolveSrvBootstraps: failures', () => {
  it.each([
    ['ENOTFOUND', 'no such name (ENOTFOUND)'],
    ['ENODATA', 'the name has no SRV records (ENODATA)'],
    ['ETIMEOUT', 'ETIMEOUT: query failed: ETIMEOUT'],
    [undefined, 'query failed: undefined'],
  ])('the SRV query fails with %s: the error says "%s", the DNS error its cause', async (code, said) => {
    const cause = dnsError(code);
    const err = await failure(scripted(cause).resolver);
    expect(err.message).toBe(`cannot discover enrollers at ${NAME}: ${said}`);
    expect(err.cause).toBe(cause);
  });

  it('every target without an address: the targets and the first failure named, that failure the cause', async () => {
    const first = dnsError('ENOTFOUND');
    const { resolver } = scripted([rec('a.test'), rec('b.test', 7001)], {
      'a.test': { a: first, aaaa: [] },
      'b.test': { a: dnsError('ESERVFAIL'), aaaa: [] },
    });
    const err = await failure(resolver);
    expect(err.message).toContain('no usable address for the targets a.test:7000, b.test:7001 (no such name (ENOTFOUND))');
    expect(err.cause).toBe(first);
  });

  it('a target whose address lookups say ENODATA: the error speaks of address records, not SRV records', async () => {
    const { resolver } = scripted([rec('a.test')], { 'a.test': { a: dnsError('ENODATA'), aaaa: dnsError('ENODATA') } });
    expect((await failure(resolver)).message).toContain('(the name has no address records (ENODATA))');
  });

  it('targets that have no address of the family asked: "no IPv6 address", or "no IPv4/6 address" for both', async () => {
    const { resolver } = scripted([rec('a.test')], { 'a.test': { a: ['10.0.0.1'] } });
    expect((await failure(resolver, 6)).message).toContain('(no IPv6 address)');
    const { resolver: none } = scripted([rec('a.test')]);
    expect((await failure(none)).message).toContain('(no IPv4/6 address)');
  });

  it('a target that is an IP literal of the other family: "no IPv6 address", not an error of its own', async () => {
    const { resolver } = scripted([rec('10.0.0.9')]);
    expect((await failure(resolver, 6)).message).toContain('no usable address for the targets 10.0.0.9:7000 (no IPv6 address)');
    await expect(resolveSrvBootstraps(ENTRY, { resolver, family: 4 })).resolves.toEqual(['10.0.0.9:7000']);
  });

  it('an answer that is not a list of records (a custom resolver’s bug): DiscoveryError, the TypeError its cause', async () => {
    const { resolver } = scripted([null as unknown as SrvRecord]);
    const err = await failure(resolver);
    expect(err.cause).toBeInstanceOf(TypeError);
    expect(err.message).toContain((err.cause as Error).message);
  });

  it('a lookup that ends leaves no listener on its signal', async () => {
    const controller = new AbortController();
    const { resolver } = scripted([rec('a.test')], { 'a.test': { a: ['10.0.0.1'] } });
    await resolveSrvBootstraps(ENTRY, { resolver, signal: controller.signal });
    await resolveSrvBootstraps(ENTRY, { resolver: scripted(dnsError('ENOTFOUND')).resolver, signal: controller.signal }).catch(
      () => undefined,
    );
    expect(getEventListeners(controller.signal, 'abort')).toEqual([]);
  });

  it('a target on port 0 is no address; the others are kept', async () => {
    const { resolver } = scripted([rec('a.test', 0), rec('b.test')], { 'a.test': { a: ['10.0.0.1'] }, 'b.test': { a: ['10.0.0.2'] } });
    await expect(resolveSrvBootstraps(ENTRY, { resolver })).resolves.toEqual(['10.0.0.2:7000']);
    const { resolver: only } = scripted([rec('a.test', 0)], { 'a.test': { a: ['10.0.0.1'] } });
    expect((await failure(only)).message).toMatch(
      /no usable address for the targets a\.test:0 \(SHIM_ERROR: invalid UDP shim address "10\.0\.0\.1:0".*port 1-65535\)/,
    );
  });

  it('aborted before or during the lookup: EnrollmentAbortedError "discovery aborted", the signal’s reason its cause', async () => {
    const reason = new Error('closing');
    const before = AbortSignal.abort(reason);
    const { resolver, hold } = scripted([rec('a.test')], { 'a.test': { a: ['10.0.0.1'] } });
    const early = await resolveSrvBootstraps(ENTRY, { resolver, signal: before }).catch((e: unknown) => e);
    expect(early).toEqual(new EnrollmentAbortedError('discovery aborted'));
    expect((early as Error).cause).toBe(reason);
    const controller = new AbortController();
    hold(); // the SRV lookup never answers
    const pending = resolveSrvBootstraps(ENTRY, { resolver, signal: controller.signal }).catch((e: unknown) => e);
    controller.abort(reason);
    const late = await pending;
    expect(late).toEqual(new EnrollmentAbortedError('discovery aborted'));
    expect((late as Error).cause).toBe(reason);
  });
});

describe('resolveSrvBootstraps: the families asked', () => {
  it('a target whose AAAA lookup fails and whose A lookup finds nothing: the failure is named', async () => {
    const cause = dnsError('ESERVFAIL');
    const { resolver } = scripted([rec('a.test')], { 'a.test': { a: [], aaaa: cause } });
    const err = await failure(resolver);
    expect(err.message).toContain('(ESERVFAIL: query failed: ESERVFAIL)');
    expect(err.cause).toBe(cause);
  });

  it('a target’s A lookup fails but its AAAA answers: the IPv6 address is used', async () => {
    const { resolver } = scripted([rec('a.test')], { 'a.test': { a: dnsError('ENODATA'), aaaa: ['::1'] } });
    await expect(resolveSrvBootstraps(ENTRY, { resolver })).resolves.toEqual(['[::1]:7000']);
  });

  it('family 4 asks only A, family 6 only AAAA, neither both', async () => {
    const hosts = { 'a.test': { a: ['10.0.0.1'], aaaa: ['::1'] } };
    for (const [family, asked] of [
      [4, ['A a.test']],
      [6, ['AAAA a.test']],
      [undefined, ['A a.test', 'AAAA a.test']],
    ] as const) {
      const s = scripted([rec('a.test')], hosts);
      await resolveSrvBootstraps(ENTRY, { resolver: s.resolver, ...(family === undefined ? {} : { family }) });
      expect(s.asked).toEqual([`SRV ${NAME}`, ...asked]);
    }
  });
});

describe('orderSrvRecords: the draw', () => {
  it('draws in [0, sum of weights]: at the top of the range the last record of the running sum is chosen', () => {
    const records = [rec('a', 7000, 0, 1), rec('b', 7000, 0, 1)];
    expect(orderSrvRecords(records, () => 0.999).map((r) => r.name)).toEqual(['b', 'a']);
    expect(orderSrvRecords(records, () => 0).map((r) => r.name)).toEqual(['a', 'b']);
  });
});
