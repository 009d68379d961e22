/**
 * `rina-enroll --metrics-listen HOST:PORT`: an HTTP endpoint for operators.
 *
 * - `GET /metrics`: the Prometheus text format (prom-client, loaded only
 *   when asked for), the process's default metrics included;
 * - `GET /healthz`: 200 `{"status":"ok"}` when serving, else 503 with the reason;
 * - `GET /members` (enroller): the members it serves, as JSON.
 *
 * No part of the library's API: the CLI's wiring of what `Enroller.stats()`,
 * `Enroller.health()`, `EnrollmentManager.metrics()` and their events say.
 *
 * @module
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type Enroller, type EnrollmentManager, MissingDependencyError } from '../index.js';
import { parseUdpAddress } from '../shim/udp-address.js';

/** A running endpoint. */
export interface ObservabilityServer {
  /** `http://host:port` it listens on. */
  readonly url: string;
  close(): Promise<void>;
}

type Handler = () => Promise<{ status: number; type: string; body: string }>;

const json = (status: number, value: unknown) => ({ status, type: 'application/json; charset=utf-8', body: `${JSON.stringify(value)}\n` });

/** Serves `routes` on `listen` (an IP `host:port`, as the UDP flags take). */
async function serve(listen: string, routes: Readonly<Record<string, Handler>>): Promise<ObservabilityServer> {
  const { host, port } = parseUdpAddress(listen, { allowPortZero: true });
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const route = routes[path];
    const send = (r: { status: number; type: string; body: string }): void => {
      res.writeHead(r.status, { 'content-type': r.type, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : r.body);
    };
    if (route === undefined) send(json(404, { error: `no such path: ${path} (try ${Object.keys(routes).join(', ')})` }));
    else if (req.method !== 'GET' && req.method !== 'HEAD') send(json(405, { error: 'GET only' }));
    else route().then(send, (err: Error) => send(json(500, { error: err.message })));
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const bound = typeof address === 'object' && address !== null ? address.port : port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * A prom-client registry (the process's default metrics in it), with the two
 * shapes both endpoints use: a gauge and a labelled counter whose values are
 * read at scrape time from what the library already counts.
 */
async function metricsRegistry() {
  const client = await import('prom-client').catch((cause: unknown) => {
    if ((cause as { code?: unknown })?.code !== 'ERR_MODULE_NOT_FOUND') throw cause;
    throw new MissingDependencyError('the metrics endpoint', ['prom-client'], { cause });
  });
  const register = new client.Registry();
  client.collectDefaultMetrics({ register });
  return {
    client,
    register,
    /** A gauge set to `value()` at each scrape. */
    gauge(name: string, help: string, value: () => number): void {
      new client.Gauge({
        name,
        help,
        registers: [register],
        collect() {
          this.set(value());
        },
      });
    },
    /** A gauge or counter with one label, set at each scrape to `values()`: label value -> number. */
    sampled(kind: 'gauge' | 'counter', name: string, help: string, label: string, values: () => Readonly<Record<string, number>>): void {
      const options = { name, help, labelNames: [label], registers: [register] };
      if (kind === 'gauge') {
        new client.Gauge({
          ...options,
          collect() {
            for (const [key, value] of Object.entries(values())) this.set({ [label]: key }, value);
          },
        });
      } else {
        new client.Counter({
          ...options,
          collect() {
            this.reset();
            for (const [key, value] of Object.entries(values())) this.inc({ [label]: key }, value);
          },
        });
      }
    },
    /** The `/metrics` route. */
    route: async () => ({ status: 200, type: register.contentType, body: await register.metrics() }),
  };
}

/** A registry of {@link metricsRegistry}. */
type MetricsRegistry = Awaited<ReturnType<typeof metricsRegistry>>;

/** Counters of the enroller's events: enrollments completed, refusals by result code, departures. */
function countEvents({ client, register }: Pick<MetricsRegistry, 'client' | 'register'>, enroller: Enroller): void {
  const enrollments = new client.Counter({ name: 'rina_enroller_enrollments_total', help: 'enrollments completed', registers: [register] });
  const refusals = new client.Counter({
    name: 'rina_enroller_refusals_total',
    help: 'enrollments refused, by result code (-1 refused, -3 name in use, -4 unavailable, -5 busy, -6 authentication)',
    labelNames: ['result'],
    registers: [register],
  });
  const departures = new client.Counter({
    name: 'rina_enroller_departures_total',
    help: 'members that left (released) or went silent (gone)',
    labelNames: ['how'],
    registers: [register],
  });
  enroller.on('member:enrolled', () => enrollments.inc());
  enroller.on('enrollment:rejected', (r) => refusals.inc({ result: String(r.result) }));
  enroller.on('member:released', () => departures.inc({ how: 'released' }));
  enroller.on('member:gone', () => departures.inc({ how: 'gone' }));
}

/** The enroller's endpoint: `/metrics`, `/healthz`, `/members`. `storeStats` adds a shared store's counters. */
export async function serveEnroller(
  enroller: Enroller,
  listen: string,
  storeStats?: () => Readonly<Record<string, number>>,
): Promise<ObservabilityServer> {
  const { client, register, gauge, sampled, route } = await metricsRegistry();
  gauge('rina_enroller_up', '1 while the enroller serves (running, and its shared store proves bindings), else 0', () =>
    enroller.health().ok ? 1 : 0,
  );
  gauge('rina_enroller_members', 'members enrolled now', () => enroller.stats().members);
  gauge('rina_enroller_pending_enrollments', 'enrollments in progress', () => enroller.stats().pending);
  sampled('gauge', 'rina_enroller_pool_addresses', "addresses of the enroller's pool, bound to a name or free", 'state', () => {
    const { bound, free } = enroller.stats();
    return { bound, free };
  });
  sampled('counter', 'rina_enroller_pdus_total', 'PDUs received, and those dropped unread, by reason', 'outcome', () => {
    const s = enroller.stats();
    return {
      received: s.received,
      oversize: s.oversize,
      rate_limited: s.rateLimited,
      malformed: s.malformed,
      unauthenticated: s.unauthenticated,
      replayed: s.replayed,
    };
  });
  sampled('counter', 'rina_enroller_keepalives_total', 'keepalives answered as enrolled', 'answer', () => ({
    ok: enroller.stats().keepalives,
  }));
  countEvents({ client, register }, enroller);
  if (storeStats !== undefined) {
    sampled(
      'counter',
      'rina_enroller_store_operations_total',
      "the shared address store's operations, by kind (etcd: transactions, conflicts, range reads, watch events, lease renewals)",
      'kind',
      storeStats,
    );
  }
  return serve(listen, {
    '/metrics': route,
    '/healthz': async () => {
      const health = enroller.health();
      return health.ok ? json(200, { status: 'ok' }) : json(503, { status: 'unavailable', reason: health.reason });
    },
    '/members': async () =>
      json(
        200,
        enroller.members().map((m) => ({ ...m, enrolledAt: m.enrolledAt.toISOString(), lastSeen: m.lastSeen.toISOString() })),
      ),
  });
}

/** The member's endpoint: `/metrics`, `/healthz` (200 while enrolled and healthy). */
export async function serveMember(manager: EnrollmentManager, listen: string): Promise<ObservabilityServer> {
  const { client, register, gauge, sampled, route } = await metricsRegistry();
  gauge('rina_member_enrolled', '1 while the member is enrolled, else 0', () => (manager.state.type === 'enrolled' ? 1 : 0));
  gauge('rina_member_address', 'the DIF address the member holds (0: none)', () => manager.address ?? 0);
  gauge(
    'rina_member_keepalive_rtt_seconds',
    'smoothed keepalive round trip',
    () => (manager.metrics().keepaliveRttMs.smoothed ?? 0) / 1000,
  );
  sampled('counter', 'rina_member_events_total', "the member's enrollments, re-enrollment attempts and failures, outages", 'event', () => {
    const m = manager.metrics();
    return { enrollment: m.enrollments, reenroll_attempt: m.reenrollAttempts, reenroll_failure: m.reenrollFailures, outage: m.outages };
  });
  sampled('counter', 'rina_member_pdus_dropped_total', 'PDUs dropped by hmac-sha256 authentication, by reason', 'reason', () => ({
    ...manager.metrics().dropped,
  }));
  const buckets = [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300];
  const detection = new client.Histogram({
    name: 'rina_member_detection_seconds',
    help: 'from the last heartbeat to noticing the loss of the enroller',
    buckets,
    registers: [register],
  });
  const recovery = new client.Histogram({
    name: 'rina_member_recovery_seconds',
    help: 'from noticing a loss to being enrolled again',
    buckets,
    registers: [register],
  });
  manager.on('connection:lost', (e) => detection.observe(e.silentMs / 1000));
  manager.on('reenroll:success', (e) => recovery.observe(e.recoveryMs / 1000));
  return serve(listen, {
    '/metrics': route,
    '/healthz': async () => {
      const state = manager.state.type;
      if (state === 'enrolled' && manager.isConnectionHealthy()) return json(200, { status: 'ok', address: manager.address });
      return json(503, {
        status: 'unavailable',
        reason: state === 'enrolled' ? 'enrolled, but the enroller is silent' : `not enrolled (${state})`,
      });
    },
  });
}

/** `rina-enroll members --from URL`: the members an enroller serves, as its `/members` lists them. */
export async function fetchMembers(
  from: string,
): Promise<Array<{ name: string; address: number; shimAddress: string; enrolledAt: string; lastSeen: string }>> {
  const url = new URL('/members', from);
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`cannot reach ${url.href}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
  }
  if (!response.ok)
    throw new Error(`${url.href} answered ${response.status} ${response.statusText}: is it an enroller's --metrics-listen address?`);
  const list: unknown = await response.json().catch(() => undefined);
  const isMember = (m: unknown): boolean =>
    typeof m === 'object' &&
    m !== null &&
    typeof (m as { name?: unknown }).name === 'string' &&
    typeof (m as { address?: unknown }).address === 'number';
  if (!Array.isArray(list) || !list.every(isMember)) {
    throw new Error(`${url.href} did not answer a list of members: is it an enroller's --metrics-listen address?`);
  }
  return list as Array<{ name: string; address: number; shimAddress: string; enrolledAt: string; lastSeen: string }>;
}
