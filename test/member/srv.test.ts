/** DNS SRV discovery of enrollers: RFC 2782 order, validation, and the member finding its enrollers through a real DNS server. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ConfigError,
  DiscoveryError,
  EnrollmentAbortedError,
  type EnrollmentConfigInput,
  EnrollmentManager,
  MemoryNetwork,
  MemoryRib,
  resolveConfig,
  UdpShim,
} from '../../src/index.js';
import { orderSrvRecords, parseSrvBootstrap, resolveSrvBootstraps, type SrvRecord, type SrvResolver } from '../../src/member/srv.js';
import { seededRandom } from '../../src/util/random.js';
import { dnsServer, scriptedResolver } from '../support/dns.js';
import { cleanup, member, onCleanup, udpEnroller, withEnroller } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

const NAME = '_rina-enroll._udp.example.test';
const ENTRY = `srv:${NAME}`;

/** A random source that returns `values` in turn (then the last one again). */
const sequence = (...values: number[]) => {
  let i = 0;
  return () => values[Math.min(i++, values.length - 1)] ?? 0;
};

const rec = (name: string, priority: number, weight: number, port = 7000): SrvRecord => ({ name, port, priority, weight });

describe('orderSrvRecords (RFC 2782)', () => {
  // Found by an audit (2026-12-06): orderSrvRecords(null) was a TypeError from inside.
  it('refuses what is not an array of records, or a random source that is not a function, with ConfigError', () => {
    for (const bad of [null, undefined, 'a', [null], [5]]) expect(() => orderSrvRecords(bad as never)).toThrow(ConfigError);
    expect(() => orderSrvRecords(null as never)).toThrow('records: must be an array of SRV records');
    expect(() => orderSrvRecords([rec('a', 0, 1)], 0.5 as never)).toThrow('random: must be a function');
    expect(orderSrvRecords([])).toEqual([]);
  });

  it('orders by ascending priority, whatever the order of the answer', () => {
    const records = [rec('c', 20, 5), rec('a', 0, 5), rec('b', 10, 5), rec('a2', 0, 5)];
    const ordered = orderSrvRecords(records, seededRandom(7)).map((r) => r.priority);
    expect(ordered).toEqual([0, 0, 10, 20]);
  });

  it('within a priority, draws by running sum of weights, zero-weight records first', () => {
    const records = [rec('a', 0, 10), rec('b', 0, 30), rec('zero', 0, 0)];
    // 1st draw: r = floor(0 * 41) = 0 -> the zero-weight record, put first, reaches 0.
    // 2nd draw over a(10), b(30): r = floor(0.5 * 41) = 20 -> a reaches 10, b reaches 40 -> b.
    expect(orderSrvRecords(records, sequence(0, 0.5, 0)).map((r) => r.name)).toEqual(['zero', 'b', 'a']);
    // 1st draw: r = floor(0.1 * 41) = 4 -> zero reaches 0, a reaches 10 -> a; then b, then zero.
    expect(orderSrvRecords(records, sequence(0.1, 0.99, 0)).map((r) => r.name)).toEqual(['a', 'b', 'zero']);
  });

  it('gives each record its weighted share of first places, and a weight of 0 a small chance', () => {
    const random = seededRandom(42);
    const firsts = { heavy: 0, light: 0, zero: 0 };
    const records = [rec('heavy', 1, 300), rec('light', 1, 100), rec('zero', 1, 0)];
    for (let i = 0; i < 4000; i++) {
      const first = orderSrvRecords(records, random)[0]?.name as keyof typeof firsts;
      firsts[first]++;
    }
    expect(firsts.heavy / 4000).toBeGreaterThan(0.7);
    expect(firsts.heavy / 4000).toBeLessThan(0.8);
    expect(firsts.light / 4000).toBeGreaterThan(0.2);
    expect(firsts.zero).toBeGreaterThan(0); // about 1 in 401
    expect(firsts.zero).toBeLessThan(40);
  });

  it('keeps every record exactly once, also with all weights 0', () => {
    const records = [rec('a', 0, 0), rec('b', 0, 0), rec('c', 1, 0)];
    expect(
      orderSrvRecords(records, seededRandom(1))
        .map((r) => r.name)
        .sort(),
    ).toEqual(['a', 'b', 'c']);
    expect(orderSrvRecords([], Math.random)).toEqual([]);
  });
});

describe('srv: entries: validation', () => {
  it('parses the SRV name, trailing dot or not', () => {
    expect(parseSrvBootstrap(`${ENTRY}.`)).toBe(NAME);
    expect(parseSrvBootstrap(ENTRY)).toBe(NAME);
  });

  it.each([
    ['srv:', /must name a DNS SRV record/],
    ['srv:example.com', /service label/],
    ['srv:_rina-enroll.example.com', /protocol label/],
    ['srv:_rina-enroll._udp', /a domain must follow/],
    ['srv:_rina-enroll._udp.exa mple.com', /invalid DNS label/],
    ['srv:_rina-enroll._udp..com', /empty label/],
    [`srv:_rina-enroll._udp.${'a'.repeat(64)}.com`, /longer than 63/],
  ])('config.bootstraps refuses %j, naming the field', (entry, rule) => {
    let err: unknown;
    try {
      resolveConfig({ bootstraps: ['10.0.0.1:7000', entry] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).field).toBe('bootstraps.1');
    expect((err as ConfigError).issues[0]?.rule).toMatch(rule);
    expect(() => parseSrvBootstrap(entry)).toThrow(ConfigError);
  });

  it('the manager names the field, and checks its discovery option', () => {
    const net = new MemoryNetwork();
    onCleanup(() => net.close());
    const make = (extra: object) => () =>
      new EnrollmentManager({ shim: net.attach(`m${Math.random()}`), rib: new MemoryRib(), ipcpName: 'm', ...extra });
    expect(make({ config: { bootstraps: ['srv:nope.example.com'] } })).toThrow(
      expect.objectContaining({ code: 'CONFIG_ERROR', field: 'config.bootstraps.0' }),
    );
    expect(make({ discovery: { dnsServers: ['dns.example.com'] } })).toThrow(
      expect.objectContaining({ code: 'CONFIG_ERROR', field: 'discovery.dnsServers.0' }),
    );
    expect(make({ discovery: { dnsServers: ['127.0.0.1:53'], resolver: scriptedResolver({}).resolver } })).toThrow(
      expect.objectContaining({ field: 'discovery.dnsServers' }),
    );
    expect(make({ discovery: { resolver: {} } })).toThrow(expect.objectContaining({ field: 'discovery.resolver' }));
    expect(make({ discovery: { family: 5 } })).toThrow(expect.objectContaining({ field: 'discovery.family' }));
    expect(make({ discovery: { dnsServers: ['127.0.0.1', '[::1]:5353'], family: 6 }, config: { bootstraps: [ENTRY] } })).not.toThrow();
  });
});

describe('resolveSrvBootstraps', () => {
  it('returns canonical shim addresses in RFC order, every address of a target, without duplicates', async () => {
    const { resolver } = scriptedResolver(
      { [NAME]: [rec('backup.test.', 1, 0, 7001), rec('main.test', 0, 5, 7000), rec('main.test', 0, 5, 7000), rec('10.0.0.9', 2, 0, 9)] },
      { 'main.test': { a: ['10.0.0.1', '10.0.0.2'], aaaa: ['0:0:0:0:0:0:0:1'] }, 'backup.test': { a: ['10.0.0.3'] } },
    );
    await expect(resolveSrvBootstraps(ENTRY, { resolver, random: () => 0 })).resolves.toEqual([
      '10.0.0.1:7000',
      '10.0.0.2:7000',
      '[::1]:7000',
      '10.0.0.3:7001',
      '10.0.0.9:9',
    ]);
    await expect(resolveSrvBootstraps(ENTRY, { resolver, random: () => 0, family: 6 })).resolves.toEqual(['[::1]:7000']);
    await expect(resolveSrvBootstraps(ENTRY, { resolver, random: () => 0, family: 4 })).resolves.toHaveLength(4);
  });

  it('a target of "." means the service is not available: no enrollers', async () => {
    const { resolver } = scriptedResolver({ [NAME]: [rec('', 0, 0, 0)] });
    await expect(resolveSrvBootstraps(ENTRY, { resolver })).resolves.toEqual([]);
  });

  it('rejects with DiscoveryError for an unknown name, no records, or targets without an address', async () => {
    const check = async (resolver: SrvResolver, message: RegExp) => {
      const err = await resolveSrvBootstraps(ENTRY, { resolver }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DiscoveryError);
      expect(err).toMatchObject({ code: 'DISCOVERY_ERROR', srvName: NAME, name: 'DiscoveryError' });
      expect((err as Error).message).toMatch(message);
    };
    await check(scriptedResolver({}).resolver, /ENOTFOUND/);
    await check(scriptedResolver({ [NAME]: [] }).resolver, /no SRV records/);
    await check(scriptedResolver({ [NAME]: [rec('gone.test', 0, 0)] }).resolver, /no usable address for the targets gone\.test:7000/);
  });

  it('is bounded by timeoutMs and cancelled by its signal, leaving no timer', async () => {
    vi.useFakeTimers();
    const { resolver: silent, hold } = scriptedResolver({});
    hold(); // never answers
    const timedOut = resolveSrvBootstraps(ENTRY, { resolver: silent, timeoutMs: 300 }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(299);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(await timedOut).toMatchObject({ code: 'DISCOVERY_ERROR', message: expect.stringMatching(/no answer within 300 ms/) });
    expect(vi.getTimerCount()).toBe(0);

    const controller = new AbortController();
    const aborted = resolveSrvBootstraps(ENTRY, { resolver: silent, signal: controller.signal }).catch((e: unknown) => e);
    controller.abort();
    expect(await aborted).toBeInstanceOf(EnrollmentAbortedError);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('EnrollmentManager with srv: bootstraps (in-memory network, fake resolver)', () => {
  it('enrol() rejects with DiscoveryError when the lookup fails or the service is not available, and nothing else is known', async () => {
    const net = new MemoryNetwork();
    onCleanup(() => net.close());
    const { mgr } = member(net, 'm', { bootstraps: [ENTRY] }, { discovery: { resolver: scriptedResolver({}).resolver } });
    await expect(mgr.enrol()).rejects.toMatchObject({ code: 'DISCOVERY_ERROR', srvName: NAME });
    expect(mgr.state.type).toBe('idle');
    const { mgr: m2 } = member(
      net,
      'm2',
      { bootstraps: [ENTRY] },
      { discovery: { resolver: scriptedResolver({ [NAME]: [rec('.', 0, 0)] }).resolver } },
    );
    await expect(m2.enrol()).rejects.toThrow(/not available/);
  });

  it('a failed lookup does not stop the other bootstraps; the DNS enrollers take the srv: entry place in the order', async () => {
    const { net } = await withEnroller({}, new MemoryNetwork({ seed: 1 }), '10.0.0.1:7000');
    await withEnroller({}, net, '10.0.0.2:7000');
    const { resolver } = scriptedResolver({ [NAME]: [rec('e.test', 0, 0)] }, { 'e.test': { a: ['10.0.0.2'] } });
    const { mgr } = member(net, 'm', { bootstraps: [ENTRY, '10.0.0.1:7000'] }, { discovery: { resolver } });
    await mgr.enrol();
    expect(mgr.bootstrapAddress).toBe('10.0.0.2:7000');
    expect(mgr.bootstraps().map((b) => [b.address, b.source])).toEqual([
      ['10.0.0.2:7000', 'dns'],
      ['10.0.0.1:7000', 'config'],
    ]);

    const broken = scriptedResolver({});
    const { mgr: m2 } = member(net, 'm2', { bootstraps: [ENTRY, '10.0.0.1:7000'] }, { discovery: { resolver: broken.resolver } });
    await m2.enrol();
    expect(m2.bootstrapAddress).toBe('10.0.0.1:7000');
    expect(broken.calls.srv).toBe(1);
  });

  it('recovery looks up again once every known enroller has failed, once per round, and finds the new one', async () => {
    vi.useFakeTimers();
    const { net, enroller: a } = await withEnroller({}, new MemoryNetwork({ seed: 1, delayMs: 1 }), '10.0.0.1:7000');
    const zone: Record<string, SrvRecord[]> = { [NAME]: [rec('a.test', 0, 0)] };
    const dns = scriptedResolver(zone, { 'a.test': { a: ['10.0.0.1'] }, 'b.test': { a: ['10.0.0.2'] } });
    const config: EnrollmentConfigInput = {
      bootstraps: [ENTRY],
      heartbeatIntervalSecs: 1,
      connectionTimeoutSecs: 3,
      timeoutMs: 500,
      reenrollBackoffBaseMs: 200,
      reenrollBackoffCapMs: 1000,
    };
    const { mgr } = member(net, 'm', config, { discovery: { resolver: dns.resolver } });
    const enrolling = mgr.enrol();
    await vi.advanceTimersByTimeAsync(50);
    await enrolling;
    mgr.startConnectionMonitoring();
    expect(dns.calls.srv).toBe(1);

    // The only enroller goes; the DNS keeps pointing at it for a while.
    await a.stop();
    let attempts = 0;
    mgr.on('reenroll:attempt', () => attempts++);
    await vi.advanceTimersByTimeAsync(20_000);
    expect(mgr.state.type).toBe('reenrolling');
    expect(attempts).toBeGreaterThan(5);
    const lookups = dns.calls.srv - 1;
    expect(lookups).toBeGreaterThan(0);
    // One known enroller: a round is one attempt, so one lookup per attempt, no more (no busy loop).
    expect(lookups).toBeLessThanOrEqual(attempts + 1);

    // A new enroller is published: the next lookup finds it.
    await withEnroller({}, net, '10.0.0.2:7000');
    zone[NAME] = [rec('b.test', 0, 0)];
    const back = new Promise((resolve) => mgr.once('reenroll:success', resolve));
    await vi.advanceTimersByTimeAsync(3000);
    await expect(back).resolves.toMatchObject({ bootstrap: '10.0.0.2:7000' });
    expect(mgr.bootstraps().map((b) => b.address)).toContain('10.0.0.2:7000');
  });

  it('close() during a lookup ends it: enrol() is aborted and no timer is left', async () => {
    vi.useFakeTimers();
    const net = new MemoryNetwork();
    onCleanup(() => net.close());
    const silent = scriptedResolver({});
    silent.hold(); // never answers
    const { mgr } = member(net, 'm', { bootstraps: [ENTRY] }, { discovery: { resolver: silent.resolver } });
    const enrolling = mgr.enrol().catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(100);
    await mgr.close();
    expect(await enrolling).toBeInstanceOf(EnrollmentAbortedError);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('over a real DNS server and UDP on 127.0.0.1', () => {
  let members = 0;
  async function udpMember(dns: string, config: EnrollmentConfigInput) {
    const shim = await UdpShim.bind('127.0.0.1:0');
    const mgr = new EnrollmentManager({
      shim,
      rib: new MemoryRib(),
      ipcpName: `m${++members}`,
      difName: 'demo.DIF',
      config: { bootstraps: [ENTRY], ...config },
      discovery: { dnsServers: [dns] },
    });
    onCleanup(() => shim.close());
    onCleanup(() => mgr.close());
    const tried: string[] = [];
    mgr.on('state:change', (s) => {
      if ((s.type === 'enrolling' || s.type === 'reenrolling') && tried.at(-1) !== s.bootstrap) tried.push(s.bootstrap);
    });
    return { mgr, tried };
  }

  const fast: EnrollmentConfigInput = {
    retransmitMs: 20,
    maxRetransmitMs: 40,
    timeoutMs: 150,
    maxRetries: 3,
    initialBackoffMs: 0,
    heartbeatIntervalSecs: 0.05,
    connectionTimeoutSecs: 0.2,
    reenrollBackoffBaseMs: 40,
    reenrollBackoffCapMs: 80,
  };

  const until = async (what: string, ms: number, check: () => boolean) => {
    const end = performance.now() + ms;
    while (!check()) {
      if (performance.now() > end) throw new Error(`${what} did not happen within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };

  it('a query the DNS server leaves unanswered is asked again within the lookup’s bound (a quarter of it)', async () => {
    const dns = await dnsServer();
    dns.zone.srv.set(NAME, [rec('a.example.test', 0, 0)]);
    dns.zone.a.set('a.example.test', '10.0.0.1');
    dns.control.drop = 1;
    await expect(resolveSrvBootstraps(ENTRY, { dnsServers: [dns.address], timeoutMs: 800, family: 4 })).resolves.toEqual(['10.0.0.1:7000']);
  });

  it('SRV records with two priorities: the member tries them in order and fails over across them', async () => {
    const dns = await dnsServer();
    const primary = await udpEnroller();
    const backup = await udpEnroller();
    dns.zone.srv.set(NAME, [rec('backup.example.test', 1, 10, backup.port), rec('primary.example.test', 0, 10, primary.port)]);
    dns.zone.a.set('primary.example.test', '127.0.0.1').set('backup.example.test', '127.0.0.1');

    // Both up: the priority-0 enroller, first and only.
    const { mgr, tried } = await udpMember(dns.address, fast);
    await mgr.enrol();
    expect(tried).toEqual([primary.address]);
    expect(mgr.bootstrapAddress).toBe(primary.address);
    expect(mgr.bootstraps().map((b) => b.address)).toEqual([primary.address, backup.address]);

    // The priority-0 enroller stops: the monitor's recovery moves to priority 1.
    mgr.startConnectionMonitoring();
    await primary.enroller.stop();
    const recovered = new Promise((resolve) => mgr.once('reenroll:success', resolve));
    await expect(recovered).resolves.toMatchObject({ bootstrap: backup.address, previousAddress: 1002 });
    expect(tried).toEqual([primary.address, backup.address]);
    expect(dns.srvQueries()).toBe(1); // the backup had not failed: no need to look again

    // A newcomer with the priority-0 enroller down: enrol() tries it first, then fails over.
    const newcomer = await udpMember(dns.address, fast);
    await newcomer.mgr.enrol();
    expect(newcomer.tried).toEqual([primary.address, backup.address]);
    expect(newcomer.mgr.bootstrapAddress).toBe(backup.address);
  });

  it('the records change: once every known enroller has failed, the member resolves again and finds the new one', async () => {
    const dns = await dnsServer();
    const first = await udpEnroller();
    const second = await udpEnroller();
    const third = await udpEnroller();
    dns.zone.srv.set(NAME, [rec('first.example.test', 0, 0, first.port), rec('second.example.test', 1, 0, second.port)]);
    dns.zone.a.set('first.example.test', '127.0.0.1').set('second.example.test', '127.0.0.1').set('third.example.test', '127.0.0.1');
    const { mgr, tried } = await udpMember(dns.address, fast);
    await mgr.enrol();
    mgr.startConnectionMonitoring();
    expect(dns.srvQueries()).toBe(1);

    // Both listed enrollers go, and the zone now lists only the third.
    dns.zone.srv.set(NAME, [rec('third.example.test', 0, 0, third.port)]);
    await Promise.all([first.enroller.stop(), second.enroller.stop()]);
    await until('recovery through the third enroller', 2000, () => mgr.state.type === 'enrolled' && mgr.bootstrapAddress === third.address);
    expect(dns.srvQueries()).toBeGreaterThanOrEqual(2);
    // it only looked again after trying what it knew
    expect(tried.slice(0, 2)).toEqual([first.address, second.address]);
    expect(tried.at(-1)).toBe(third.address);
    const known = mgr.bootstraps().map((b) => [b.address, b.source]);
    expect(known).toContainEqual([third.address, 'dns']);
    expect(known).not.toContainEqual([second.address, 'dns']); // the DNS no longer lists it
  });

  it('an unknown name: enrol() rejects with DiscoveryError', async () => {
    const dns = await dnsServer();
    const { mgr } = await udpMember(dns.address, fast);
    const err = await mgr.enrol().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DiscoveryError);
    expect((err as DiscoveryError).message).toMatch(/ENOTFOUND/);
  });
});
