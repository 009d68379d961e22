/**
 * The member's configuration: one zod schema, from which the TypeScript type,
 * the defaults and the validation all come.
 *
 * @module
 */
import * as z from 'zod/mini';
import type { ConfigError } from './errors.js';
import { MAX_TIMER_MS } from './util/clock.js';
import { integerAtLeast, nonNegative, parseWith, positive, type Same } from './util/schema.js';

/** The shortest keepalive interval, in seconds: one bucket of the timing wheel. */
const MIN_TIMER_SECS = 0.01;
/** The shortest connection timeout, in seconds: five buckets of the timing wheel. */
const MIN_TIMEOUT_SECS = 0.05;

/** Seconds whose milliseconds a timer can wait. */
const MAX_TIMER_SECS = MAX_TIMER_MS / 1000;

/** The prefix of a bootstrap entry that names enrollers by a DNS SRV record: `srv:_rina-enroll._udp.example.com`. */
export const SRV_BOOTSTRAP_PREFIX = 'srv:';

/** A label of a host name: letters, digits and hyphens (underscores tolerated), not starting or ending with a hyphen. */
const HOST_LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?$/;

/**
 * What is wrong with the DNS name of an `srv:` bootstrap entry, in words, or
 * `undefined` when it is a valid SRV name `_service._proto.domain` (RFC 2782;
 * a trailing dot is allowed).
 */
export function srvNameProblem(name: string): string | undefined {
  const example = 'e.g. srv:_rina-enroll._udp.example.com';
  const bare = name.endsWith('.') ? name.slice(0, -1) : name;
  if (bare === '') return `must name a DNS SRV record after "srv:" (${example})`;
  if (bare.length > 253) return `the DNS name must be at most 253 characters (got ${bare.length})`;
  const labels = bare.split('.');
  const [service, proto] = labels;
  if (service === undefined || !/^_[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/.test(service)) {
    return `the DNS name must start with a service label such as "_rina-enroll" (${example})`;
  }
  if (proto === undefined || !/^_[A-Za-z0-9]+$/.test(proto)) {
    return `the service label must be followed by a protocol label such as "_udp" (${example})`;
  }
  if (labels.length < 3) return `a domain must follow "${service}.${proto}." (${example})`;
  for (const label of labels) {
    if (label.length > 63) return `DNS label "${label.slice(0, 20)}..." is longer than 63 characters`;
    if (label === '') return 'the DNS name must not contain an empty label ("..")';
  }
  const bad = labels.slice(2).find((label) => !HOST_LABEL.test(label));
  if (bad !== undefined) return `invalid DNS label "${bad}" (letters, digits and inner hyphens only)`;
  return undefined;
}

/** The retransmission interval a request starts with, in ms, when none is given. */
export const DEFAULT_RETRANSMIT_MS = 250;

/**
 * The retransmission interval derived from the time a request has:
 * `min(250, withinMs / 4, cap)`, so that at least three transmissions
 * (at 0, r and 3r with doubling) fit in `withinMs`.
 */
export function derivedRetransmitMs(withinMs: number, cap = Number.POSITIVE_INFINITY): number {
  return Math.min(DEFAULT_RETRANSMIT_MS, withinMs / 4, cap);
}

/** The `bootstraps` of every config that leaves them out: one frozen array. */
const NO_BOOTSTRAPS: readonly string[] = Object.freeze([]);

/** One entry of `bootstraps`: a shim address, or `srv:` and an SRV name. */
const bootstrapEntrySchema = z.string({ error: 'must be a shim address or "srv:" and a DNS SRV name (string)' }).check(
  z.minLength(1, { error: 'must not be empty' }),
  z.superRefine((entry, ctx) => {
    if (!entry.startsWith(SRV_BOOTSTRAP_PREFIX)) return;
    const problem = srvNameProblem(entry.slice(SRV_BOOTSTRAP_PREFIX.length));
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem, input: entry });
  }),
);

/** The member's settings as given, each checked alone, defaults applied (documented in {@link EnrollmentConfig}). */
const configFieldsSchema = z.strictObject({
  timeoutMs: z._default(positive(), 5000),
  maxRetries: z._default(integerAtLeast(1), 3),
  initialBackoffMs: z._default(nonNegative(), 1000),
  heartbeatIntervalSecs: z._default(
    nonNegative(MAX_TIMER_SECS).check(
      z.refine((s) => s === 0 || s >= MIN_TIMER_SECS, { error: `must be 0 (no monitoring) or at least ${MIN_TIMER_SECS}` }),
    ),
    30,
  ),
  connectionTimeoutSecs: z._default(
    positive(MAX_TIMER_SECS).check(z.gte(MIN_TIMEOUT_SECS, { error: `must be at least ${MIN_TIMEOUT_SECS}` })),
    90,
  ),
  retransmitMs: z.optional(positive()),
  maxRetransmitMs: z._default(positive(), 2000),
  bootstraps: z._default(
    z.readonly(
      z.array(bootstrapEntrySchema, {
        error: 'must be an array of shim addresses or "srv:" entries',
      }),
    ),
    () => NO_BOOTSTRAPS,
  ),
  reenrollBackoffBaseMs: z._default(positive(), 1000),
  reenrollBackoffCapMs: z._default(positive(), 30_000),
});
type ConfigFields = z.output<typeof configFieldsSchema>;

/** The checks across settings, and the derived retransmission interval. */
const configSchema = z.pipe(
  configFieldsSchema.check(
    z.refine<ConfigFields>((c) => c.heartbeatIntervalSecs === 0 || c.connectionTimeoutSecs > c.heartbeatIntervalSecs, {
      path: ['connectionTimeoutSecs'],
      error: 'must be greater than heartbeatIntervalSecs while monitoring is on (heartbeatIntervalSecs > 0)',
    }),
    z.refine<ConfigFields>((c) => c.retransmitMs === undefined || c.maxRetransmitMs >= c.retransmitMs, {
      path: ['maxRetransmitMs'],
      error: 'must be >= retransmitMs',
    }),
    z.refine<ConfigFields>((c) => c.retransmitMs === undefined || c.retransmitMs <= c.timeoutMs / 2, {
      path: ['retransmitMs'],
      error: (issue) => {
        const c = issue.input as { retransmitMs: number; timeoutMs: number };
        return (
          `must be at most half of timeoutMs (retransmitMs ${c.retransmitMs} > timeoutMs ${c.timeoutMs} / 2): ` +
          'a request sent after the first exchange of an attempt would go only once; ' +
          'lower retransmitMs, raise timeoutMs, or leave retransmitMs unset to derive it as min(250, timeoutMs / 4)'
        );
      },
    }),
    z.refine<ConfigFields>((c) => c.reenrollBackoffCapMs >= c.reenrollBackoffBaseMs, {
      path: ['reenrollBackoffCapMs'],
      error: 'must be >= reenrollBackoffBaseMs',
    }),
  ),
  z.transform((c: ConfigFields): Omit<ConfigFields, 'retransmitMs'> & { retransmitMs: number } => ({
    // Every key written in one literal, in one order: all configs share one hidden class. A spread of zod's
    // output (a dictionary-mode object) gave every manager's frozen config a shape of its own, ~400 B each.
    timeoutMs: c.timeoutMs,
    maxRetries: c.maxRetries,
    initialBackoffMs: c.initialBackoffMs,
    heartbeatIntervalSecs: c.heartbeatIntervalSecs,
    connectionTimeoutSecs: c.connectionTimeoutSecs,
    retransmitMs: c.retransmitMs ?? derivedRetransmitMs(c.timeoutMs, c.maxRetransmitMs),
    maxRetransmitMs: c.maxRetransmitMs,
    bootstraps: c.bootstraps,
    reenrollBackoffBaseMs: c.reenrollBackoffBaseMs,
    reenrollBackoffCapMs: c.reenrollBackoffCapMs,
  })),
);

/**
 * The member's configuration, every field set: what `mgr.config` holds. (An
 * interface written out beside the schema below, so that the published
 * typings carry each setting's documentation; a compile-time check keeps
 * the two the same.)
 */
export interface EnrollmentConfig {
  /**
   * Bound on one enrollment attempt, in milliseconds.
   * @default 5000
   */
  readonly timeoutMs: number;
  /**
   * Total attempts of one enrollment: attempt 1, wait `initialBackoffMs`,
   * attempt 2, wait twice that, attempt 3, ... then `EnrollmentTimeoutError`.
   * A "busy" answer does not use one up: the member waits a jittered backoff
   * (`initialBackoffMs` doubling up to `reenrollBackoffCapMs`) and asks
   * again for as long as the enroller answers "busy" (the `signal` of
   * `enrol()` bounds that). Nor does one try back, once a run, at an
   * enroller that accepted an attempt and then timed out or answered
   * "unavailable" (README, "Retries").
   * @default 3
   */
  readonly maxRetries: number;
  /**
   * Wait before the second attempt, in milliseconds; doubles after each attempt.
   * @default 1000
   */
  readonly initialBackoffMs: number;
  /**
   * Heartbeat interval in seconds (fractions allowed, at least 0.01: the
   * timing wheel's 10 ms bucket); 0 disables monitoring.
   * @default 30
   */
  readonly heartbeatIntervalSecs: number;
  /**
   * Seconds without a heartbeat after which the connection counts as lost and
   * the monitor re-enrolls (at least 0.05: below it the timing wheel's 10 ms
   * buckets and the event loop's own delays are the timeout). Must exceed
   * `heartbeatIntervalSecs` while monitoring is on.
   * @default 90
   */
  readonly connectionTimeoutSecs: number;
  /**
   * First retransmission interval of a request inside one attempt, in
   * milliseconds; doubles on each retransmission of the same request, up to
   * `maxRetransmitMs`. Datagrams get lost: this is what makes one attempt
   * survive loss. Left unset, it is derived from the attempt's bound so that
   * every attempt sends each request several times:
   * `min(250, timeoutMs / 4, maxRetransmitMs)`. Set, it must be at most
   * `timeoutMs / 2` (else a request sent after the first exchange of an
   * attempt, M_START, would go only once).
   * @default min(250, timeoutMs / 4, maxRetransmitMs)
   */
  readonly retransmitMs: number;
  /**
   * Upper bound of the retransmission interval, in milliseconds.
   * @default 2000
   */
  readonly maxRetransmitMs: number;
  /**
   * Shim addresses of the bootstraps to enrol with, in order of preference.
   * `enrol()` and recovery move through them; enrollers may advertise more.
   *
   * An entry `srv:_service._proto.domain` (e.g.
   * `srv:_rina-enroll._udp.example.com`) is not an address but a DNS SRV
   * name: it is resolved before the first attempt, and again whenever every
   * known bootstrap has failed, into the enrollers it lists, tried in
   * RFC 2782 order (ascending priority, weighted random within one) at its
   * place in this list. The manager's `discovery` option sets the resolver.
   * @default []
   */
  readonly bootstraps: readonly string[];
  /**
   * Base of the backoff between re-enrollment attempts of the monitor's
   * recovery, in ms: the n-th consecutive failure with a bootstrap (n = 0
   * for the first) blocks it for `random(0, min(cap, base * 2^n))` (full
   * jitter), never less than `retransmitMs`.
   * @default 1000
   */
  readonly reenrollBackoffBaseMs: number;
  /**
   * Cap of that backoff, in ms.
   * @default 30000
   */
  readonly reenrollBackoffCapMs: number;
}

/** What a caller passes: any subset of {@link EnrollmentConfig}; the rest takes its default. */
export type EnrollmentConfigInput = { readonly [K in keyof EnrollmentConfig]?: EnrollmentConfig[K] | undefined };

// The interfaces and the schema agree: a compile error otherwise.
true satisfies Same<EnrollmentConfig, z.output<typeof configSchema>>;
true satisfies Same<EnrollmentConfigInput, z.input<typeof configSchema>>;

/** The member's settings, with the defaults of the design this library implements. */
export const enrollmentConfigSchema: z.ZodMiniType<EnrollmentConfig, EnrollmentConfigInput> = configSchema;

/**
 * Heartbeat presets from the design this library implements, for
 * `config: { ...presets.crossRegion }`.
 */
export const presets = {
  /** Same data centre: heartbeat 30 s, timeout 90 s. */
  lan: {
    /** Keepalive every 30 s. */
    heartbeatIntervalSecs: 30,
    /** Lost after 90 s without a heartbeat. */
    connectionTimeoutSecs: 90,
  },
  /** Across regions: heartbeat 60 s, timeout 180 s. */
  crossRegion: {
    /** Keepalive every 60 s. */
    heartbeatIntervalSecs: 60,
    /** Lost after 180 s without a heartbeat. */
    connectionTimeoutSecs: 180,
  },
  /** High-latency links: heartbeat 120 s, timeout 300 s. */
  highLatency: {
    /** Keepalive every 120 s. */
    heartbeatIntervalSecs: 120,
    /** Lost after 300 s without a heartbeat. */
    connectionTimeoutSecs: 300,
  },
} as const satisfies Record<string, EnrollmentConfigInput>;

/** The last configuration {@link sharedConfig} froze. */
let lastShared: Readonly<EnrollmentConfig> | undefined;

/**
 * `config` frozen, or an equal configuration frozen before: managers built
 * one after another with one configuration (ten thousand in one process)
 * hold one object instead of one each.
 * @internal
 */
export function sharedConfig(config: EnrollmentConfig): Readonly<EnrollmentConfig> {
  const last = lastShared;
  if (
    last !== undefined &&
    (Object.keys(config) as Array<keyof EnrollmentConfig>).every((k) =>
      k === 'bootstraps' ? sameList(last.bootstraps, config.bootstraps) : last[k] === config[k],
    )
  ) {
    return last;
  }
  lastShared = Object.freeze(config);
  return lastShared;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Applies the defaults to a partial configuration and validates it; throws {@link ConfigError}. */
export function resolveConfig(input: EnrollmentConfigInput = {}): EnrollmentConfig {
  return parseWith(enrollmentConfigSchema, input);
}
