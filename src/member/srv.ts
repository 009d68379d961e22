/**
 * Discovery of enrollers through DNS SRV records (RFC 2782): a bootstrap entry
 * `srv:_rina-enroll._udp.example.com` becomes the shim addresses of the
 * enrollers it lists, in the order a member should try them.
 *
 * @module
 */
import * as z from 'zod/mini';
import { SRV_BOOTSTRAP_PREFIX, srvNameProblem } from '../config.js';
import { dns, net } from '../util/builtins.js';
import { dependency, parseWith, positive } from '../util/schema.js';
import { ConfigError, DiscoveryError, EnrollmentAbortedError, EnrollmentError } from '../errors.js';
import { parseUdpAddress } from '../shim/udp-address.js';

/** One SRV record, as `node:dns` returns it. */
export interface SrvRecord {
  /** The target host (`.` or empty: the service is not available at this domain). */
  readonly name: string;
  /** The port of the service on the target. */
  readonly port: number;
  /** Lower is tried first. */
  readonly priority: number;
  /** Relative share of the records of one priority. */
  readonly weight: number;
}

/**
 * What discovery needs of a DNS resolver: a `node:dns/promises` `Resolver`
 * has these methods, and a test double is three functions.
 */
export interface SrvResolver {
  /** The SRV records of `hostname`; rejects (e.g. with code `ENOTFOUND` or `ENODATA`) when there are none. */
  resolveSrv(hostname: string): Promise<SrvRecord[]>;
  /** The IPv4 addresses of `hostname`. */
  resolve4(hostname: string): Promise<string[]>;
  /** The IPv6 addresses of `hostname`. */
  resolve6(hostname: string): Promise<string[]>;
}

/** An IP literal, with an optional port, as `Resolver.setServers()` takes it. */
const dnsServerSchema = z.string({ error: 'must be a DNS server address (string)' }).check(
  z.refine(
    (server) => {
      if (net().isIP(server) !== 0) return true;
      try {
        parseUdpAddress(server);
        return true;
      } catch {
        return false;
      }
    },
    { error: 'must be an IP address, optionally with a port: "127.0.0.1", "127.0.0.1:5353" or "[::1]:5353"' },
  ),
);

/** The `discovery` option of an `EnrollmentManager`, and part of {@link ResolveSrvOptions}. */
export const srvDiscoverySchema = z
  .strictObject({
    /**
     * The resolver to ask. Give this or `dnsServers`, not both.
     * @default a `node:dns/promises` Resolver with the system's DNS servers
     */
    resolver: z.optional(dependency<SrvResolver>('SrvResolver', ['resolveSrv', 'resolve4', 'resolve6'])),
    /**
     * DNS servers to ask instead of the system's, as IP addresses with an
     * optional port (`['127.0.0.1:5353']`); a `node:dns/promises` Resolver is
     * made for them.
     * @default the system's DNS servers
     */
    dnsServers: z.optional(
      z
        .array(dnsServerSchema, { error: 'must be an array of DNS server addresses' })
        .check(z.minLength(1, { error: 'must list at least one DNS server' })),
    ),
    /**
     * Which addresses of a target to use: `4` (A records) or `6` (AAAA). A
     * member can only reach enrollers of its shim's IP version.
     * @default the IP version of the member's shim address when it is an IP literal, else both (IPv4 first)
     */
    family: z.optional(z.union([z.literal(4), z.literal(6)], { error: 'must be 4 or 6' })),
  })
  .check(
    z.refine((o) => o.resolver === undefined || o.dnsServers === undefined, {
      path: ['dnsServers'],
      error: 'give either resolver or dnsServers, not both',
    }),
  );

/**
 * How `srv:` bootstrap entries are resolved.
 * @interface
 */
export type SrvDiscoveryOptions = z.input<typeof srvDiscoverySchema>;

/** Options of {@link resolveSrvBootstraps}. */
export interface ResolveSrvOptions extends SrvDiscoveryOptions {
  /**
   * Source of randomness in [0, 1) for the weighted order within a priority.
   * @default Math.random
   */
  readonly random?: () => number;
  /**
   * Bound on the whole lookup (SRV records and target addresses), in ms.
   * @default 5000
   */
  readonly timeoutMs?: number;
  /** Aborts the lookup; it then rejects with `EnrollmentAbortedError`. */
  readonly signal?: AbortSignal;
}

const resolveOptionsSchema = z.object({
  random: z.optional(z.custom<() => number>((v) => typeof v === 'function', { error: 'must be a function returning a number in [0, 1)' })),
  timeoutMs: z._default(positive(), 5000),
  signal: z.optional(z.custom<AbortSignal>((v) => v instanceof AbortSignal, { error: 'must be an AbortSignal' })),
});

/** True when a bootstrap entry is an `srv:` entry rather than a shim address. */
export function isSrvBootstrap(entry: string): boolean {
  return entry.startsWith(SRV_BOOTSTRAP_PREFIX);
}

/**
 * The SRV name of an `srv:` bootstrap entry, without a trailing dot:
 * `srv:_rina-enroll._udp.example.com.` gives `_rina-enroll._udp.example.com`.
 * Throws `ConfigError` (field `bootstrap`) for anything else.
 */
export function parseSrvBootstrap(entry: string): string {
  if (typeof entry !== 'string' || !isSrvBootstrap(entry)) {
    throw new ConfigError([{ field: 'bootstrap', rule: `must start with "${SRV_BOOTSTRAP_PREFIX}"` }]);
  }
  const name = entry.slice(SRV_BOOTSTRAP_PREFIX.length);
  const problem = srvNameProblem(name);
  if (problem !== undefined) throw new ConfigError([{ field: 'bootstrap', rule: problem }]);
  return name.endsWith('.') ? name.slice(0, -1) : name;
}

/**
 * Orders SRV records as RFC 2782 tells a client to try them: by ascending
 * priority; within one priority by weighted random selection, where a record
 * of weight 0 keeps a small chance of going first. Records of one priority are
 * drawn one by one: the zero-weight ones are put first, a number `r` is drawn
 * uniformly from `0..sum of weights`, and the first record whose running sum
 * of weights reaches `r` is next. Returns a new array.
 *
 * @param records - The records, in the order the DNS answer gave them.
 * @param random - Source of randomness in [0, 1) (inject a fixed one for a deterministic order).
 * @throws ConfigError when `records` is not an array of objects or `random` not a function.
 */
export function orderSrvRecords<R extends Pick<SrvRecord, 'priority' | 'weight'>>(
  records: readonly R[],
  random: () => number = Math.random,
): R[] {
  if (!Array.isArray(records) || records.some((r) => r === null || typeof r !== 'object')) {
    throw new ConfigError([{ field: 'records', rule: 'must be an array of SRV records' }]);
  }
  if (typeof random !== 'function') throw new ConfigError([{ field: 'random', rule: 'must be a function returning a number in [0, 1)' }]);
  const byPriority = new Map<number, R[]>();
  for (const record of records) {
    const group = byPriority.get(record.priority);
    if (group === undefined) byPriority.set(record.priority, [record]);
    else group.push(record);
  }
  const ordered: R[] = [];
  for (const priority of [...byPriority.keys()].sort((a, b) => a - b)) {
    const group = byPriority.get(priority) ?? [];
    const remaining = [...group.filter((r) => r.weight === 0), ...group.filter((r) => r.weight !== 0)];
    while (remaining.length > 0) {
      const sum = remaining.reduce((total, r) => total + r.weight, 0);
      const drawn = Math.min(sum, Math.max(0, Math.floor(random() * (sum + 1))));
      let running = 0;
      // The running sum reaches `sum` >= `drawn` at the last record; weights that are not numbers find none (-1), which splice takes as the last.
      const index = remaining.findIndex((r) => {
        running += r.weight;
        return running >= drawn;
      });
      ordered.push(...remaining.splice(index, 1));
    }
  }
  return ordered;
}

/** Whether an SRV target says "no service here". */
const isNoService = (target: string): boolean => target === '.' || target === '';

/** `host:port` in the canonical form of the UDP shim: `1.2.3.4:5` or `[::1]:5`. */
function shimAddress(ip: string, port: number): string {
  return parseUdpAddress(net().isIP(ip) === 6 ? `[${ip}]:${port}` : `${ip}:${port}`).address;
}

/** The addresses of one SRV target in `family` (both, IPv4 first, when undefined). */
async function addressesOf(resolver: SrvResolver, target: string, family: 4 | 6 | undefined): Promise<string[]> {
  const host = target.endsWith('.') ? target.slice(0, -1) : target;
  const literal = net().isIP(host);
  if (literal !== 0) return family === undefined || family === literal ? [host] : [];
  const lookups = [family !== 6 ? resolver.resolve4(host) : undefined, family !== 4 ? resolver.resolve6(host) : undefined];
  const settled = await Promise.allSettled(lookups.map((lookup) => lookup ?? Promise.resolve([])));
  const found = settled.flatMap((s) => (s.status === 'fulfilled' ? s.value : []));
  if (found.length === 0) {
    const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failure !== undefined) throw failure.reason;
  }
  return found;
}

/** A DNS error's code (`ENOTFOUND`, `ETIMEOUT`, ...) or message, for an error text; `records` the lookup's kind. */
function describe(err: unknown, records: 'SRV' | 'address' = 'SRV'): string {
  const code = (err as { code?: unknown } | null)?.code;
  const message = (err as Error | null)?.message ?? String(err);
  switch (code) {
    case 'ENOTFOUND':
      return 'no such name (ENOTFOUND)';
    case 'ENODATA':
      return `the name has no ${records} records (ENODATA)`;
    case undefined:
      return message;
    default:
      return `${String(code)}: ${message}`;
  }
}

/** The work of {@link resolveSrvBootstraps}, without its bounds. */
async function lookup(resolver: SrvResolver, name: string, o: { family: 4 | 6 | undefined; random: () => number }): Promise<string[]> {
  let records: SrvRecord[];
  try {
    records = await resolver.resolveSrv(name);
  } catch (err) {
    throw new DiscoveryError(name, describe(err), { cause: err });
  }
  if (!Array.isArray(records) || records.length === 0) throw new DiscoveryError(name, 'the name has no SRV records');
  const usable = records.filter((r) => !isNoService(r.name));
  // RFC 2782: a target of "." means the service is decidedly not available at this domain.
  if (usable.length === 0) return [];
  const ordered = orderSrvRecords(usable, o.random);
  const resolved = await Promise.allSettled(ordered.map((r) => addressesOf(resolver, r.name, o.family)));
  const addresses = new Set<string>();
  let failure: unknown;
  resolved.forEach((result, i) => {
    const record = ordered[i];
    if (record === undefined) return;
    if (result.status === 'rejected') {
      failure ??= result.reason;
      return;
    }
    for (const ip of result.value) {
      try {
        addresses.add(shimAddress(ip, record.port));
      } catch (err) {
        failure ??= err; // e.g. port 0
      }
    }
  });
  if (addresses.size === 0) {
    const targets = ordered.map((r) => `${r.name}:${r.port}`).join(', ');
    const why = failure === undefined ? `no IPv${o.family ?? '4/6'} address` : describe(failure, 'address');
    throw new DiscoveryError(name, `no usable address for the targets ${targets} (${why})`, { cause: failure });
  }
  return [...addresses];
}

/**
 * Resolves an `srv:` bootstrap entry into the shim addresses (`1.2.3.4:7000`,
 * `[::1]:7000`) of the enrollers it lists, in RFC 2782 order (see
 * {@link orderSrvRecords}); every address of a target is listed, in the
 * order the DNS gave them. Resolves with an empty list when the records say
 * the service is not available at this domain (target `.`).
 *
 * Rejects with `ConfigError` for a malformed entry or options,
 * `DiscoveryError` when the lookup fails, times out or finds no address, and
 * `EnrollmentAbortedError` when `signal` aborts it.
 *
 * @param entry - The bootstrap entry, e.g. `srv:_rina-enroll._udp.example.com`.
 * @param options - The resolver or DNS servers, the address family, randomness, a time bound and a signal.
 */
export async function resolveSrvBootstraps(entry: string, options: ResolveSrvOptions = {}): Promise<string[]> {
  const name = parseSrvBootstrap(entry);
  const { random, timeoutMs, signal, ...rest } = options;
  const discovery = parseWith(srvDiscoverySchema, rest);
  const bounds = parseWith(resolveOptionsSchema, { random, timeoutMs, signal });
  if (bounds.signal?.aborted) throw new EnrollmentAbortedError('discovery aborted', { cause: bounds.signal.reason });
  // Our own resolver per lookup, so that cancel() ends exactly this lookup's queries.
  const own =
    discovery.resolver === undefined
      ? new (dns().Resolver)({ timeout: Math.ceil(bounds.timeoutMs / 4), tries: 3 }) // c-ares waits at least ~250 ms a try
      : undefined;
  if (own !== undefined && discovery.dnsServers !== undefined) own.setServers(discovery.dnsServers);
  const resolver: SrvResolver = discovery.resolver ?? (own as SrvResolver);
  const work = lookup(resolver, name, { family: discovery.family, random: bounds.random ?? Math.random });
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  const bounded = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DiscoveryError(name, `no answer within ${bounds.timeoutMs} ms`)), bounds.timeoutMs);
    timer.unref();
    const s = bounds.signal;
    if (s !== undefined) {
      onAbort = () => reject(new EnrollmentAbortedError('discovery aborted', { cause: s.reason }));
      s.addEventListener('abort', onAbort); // removed below, whether it ran or not
    }
  });
  try {
    return await Promise.race([work, bounded]);
  } catch (err) {
    throw err instanceof EnrollmentError ? err : new DiscoveryError(name, describe(err), { cause: err });
  } finally {
    clearTimeout(timer);
    if (onAbort !== undefined) bounds.signal?.removeEventListener('abort', onAbort);
    own?.cancel();
    // A lookup left behind by the race must not surface as an unhandled rejection.
    work.catch(() => undefined);
  }
}
