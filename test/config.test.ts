import { describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import { ConfigError, EnrollmentManager, enrollmentConfigSchema, MemoryNetwork, MemoryRib, presets, resolveConfig } from '../src/index.js';

const configError = (fn: () => unknown): ConfigError => {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('no ConfigError thrown');
};

describe('config', () => {
  it('has the design defaults', () => {
    expect(resolveConfig()).toEqual({
      timeoutMs: 5000,
      maxRetries: 3,
      initialBackoffMs: 1000,
      heartbeatIntervalSecs: 30,
      connectionTimeoutSecs: 90,
      retransmitMs: 250,
      maxRetransmitMs: 2000,
      bootstraps: [],
      reenrollBackoffBaseMs: 1000,
      reenrollBackoffCapMs: 30_000,
    });
  });

  it('exports its schema, which parses as any zod schema does: defaults filled in, bad input refused with the field and rule', () => {
    expect(enrollmentConfigSchema.parse({ timeoutMs: 800 })).toEqual(resolveConfig({ timeoutMs: 800 }));
    const bad = enrollmentConfigSchema.safeParse({ maxRetries: 0, extra: true });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['maxRetries', 'must be >= 1'],
      ['', 'Unrecognized key: "extra"'],
    ]);
    // zod's English messages are loaded (zod/mini alone says only "Invalid input")
    expect(enrollmentConfigSchema.safeParse('x').error?.issues[0]?.message).toBe('Invalid input: expected object, received string');
  });

  it('gives every field of the schema, and only those, in one order (all configs share one shape)', () => {
    const def = enrollmentConfigSchema._zod.def as unknown as { in: { _zod: { def: { shape: Record<string, unknown> } } } };
    const shape = def.in._zod.def.shape;
    const keys = Object.keys(resolveConfig());
    expect([...keys].sort()).toEqual(Object.keys(shape).sort());
    expect(Object.keys(resolveConfig({ retransmitMs: 100, bootstraps: ['127.0.0.1:1'], heartbeatIntervalSecs: 0 }))).toEqual(keys);
  });

  it('reports a non-integer once, as classic zod did: the checks after it do not run', () => {
    expect(configError(() => resolveConfig({ maxRetries: 0.5 })).issues).toEqual([{ field: 'maxRetries', rule: 'must be an integer' }]);
  });

  it("speaks the application's zod language when it chose one (zod's configuration is process-wide)", () => {
    const before = z.config().localeError;
    z.config({ localeError: () => 'en français, s.v.p.' });
    try {
      const bad = enrollmentConfigSchema.safeParse('x');
      expect(bad.error?.issues[0]?.message).toBe('en français, s.v.p.');
    } finally {
      z.config({ localeError: before });
    }
    expect(enrollmentConfigSchema.safeParse('x').error?.issues[0]?.message).toBe('Invalid input: expected object, received string');
  });

  it('takes a partial config and fractional seconds', () => {
    const c = resolveConfig({ heartbeatIntervalSecs: 0.2, connectionTimeoutSecs: 0.5 });
    expect(c.heartbeatIntervalSecs).toBe(0.2);
    expect(c.timeoutMs).toBe(5000);
  });

  it('has the three presets of the design', () => {
    expect(presets.lan).toEqual({ heartbeatIntervalSecs: 30, connectionTimeoutSecs: 90 });
    expect(presets.crossRegion).toEqual({ heartbeatIntervalSecs: 60, connectionTimeoutSecs: 180 });
    expect(presets.highLatency).toEqual({ heartbeatIntervalSecs: 120, connectionTimeoutSecs: 300 });
    for (const preset of Object.values(presets)) expect(() => resolveConfig({ ...preset })).not.toThrow();
  });

  it.each([
    ['timeoutMs', -1, /timeoutMs: must be > 0/],
    ['timeoutMs', Number.POSITIVE_INFINITY, /timeoutMs: must be a finite number/],
    ['timeoutMs', Number.NaN, /timeoutMs: must be a finite number/],
    ['initialBackoffMs', -5, /initialBackoffMs: must be >= 0/],
    ['heartbeatIntervalSecs', -1, /heartbeatIntervalSecs: must be >= 0/],
    ['connectionTimeoutSecs', Number.NEGATIVE_INFINITY, /connectionTimeoutSecs: must be a finite number/],
    // found by a new user's review (2026-12-07): 0.0001 s / 0.001 s were accepted, and gave false losses on a 10 ms wheel
    ['heartbeatIntervalSecs', 0.0001, /heartbeatIntervalSecs: must be 0 \(no monitoring\) or at least 0\.01/],
    ['connectionTimeoutSecs', 0.001, /connectionTimeoutSecs: must be at least 0\.05/],
    ['maxRetries', 0, /maxRetries: must be >= 1/],
    ['maxRetries', 2.5, /maxRetries: must be an integer/],
    ['timeoutMs', '5000', /timeoutMs: must be a finite number/],
  ])('refuses %s = %s with ConfigError naming the field and the rule', (field, value, message) => {
    const err = configError(() => resolveConfig({ [field]: value } as never));
    expect(err.code).toBe('CONFIG_ERROR');
    expect(err.field).toBe(field);
    expect(err.message).toMatch(message);
  });

  it('refuses a connection timeout not greater than the heartbeat interval while monitoring is on', () => {
    const err = configError(() => resolveConfig({ heartbeatIntervalSecs: 30, connectionTimeoutSecs: 30 }));
    expect(err.field).toBe('connectionTimeoutSecs');
    expect(err.message).toMatch(/greater than heartbeatIntervalSecs/);
    expect(() => resolveConfig({ heartbeatIntervalSecs: 0, connectionTimeoutSecs: 1 })).not.toThrow();
  });

  it('refuses a backoff cap below its base, and empty bootstrap addresses', () => {
    expect(() => resolveConfig({ reenrollBackoffBaseMs: 5000, reenrollBackoffCapMs: 1000 })).toThrow(
      /reenrollBackoffCapMs: must be >= reenrollBackoffBaseMs/,
    );
    expect(() => resolveConfig({ bootstraps: ['a', ''] })).toThrow(/bootstraps.1: must not be empty/);
    expect(() => resolveConfig({ bootstraps: 'a' as never })).toThrow(/bootstraps: must be an array/);
  });

  it('refuses unknown options, naming them', () => {
    const err = configError(() => resolveConfig({ timeoutMS: 5 } as never));
    expect(err.message).toMatch(/unknown option "timeoutMS"/);
  });

  it('lists every problem at once', () => {
    const err = configError(() => resolveConfig({ timeoutMs: -1, maxRetries: 0 }));
    expect(err.issues.map((i) => i.field)).toEqual(['timeoutMs', 'maxRetries']);
  });

  it('the manager validates its config at construction', () => {
    const net = new MemoryNetwork();
    expect(() => new EnrollmentManager({ shim: net.attach('m'), rib: new MemoryRib(), config: { timeoutMs: -1 } })).toThrow(ConfigError);
    expect(() => new EnrollmentManager({ shim: {} as never, rib: new MemoryRib() })).toThrow(/shim: must implement Shim/);
  });
});
