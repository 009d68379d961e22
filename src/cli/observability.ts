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
import type { Enroller, EnrollmentManager } from '../index.js';
import { parseUdpAddress } from '../shim/udp-shim.js';

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

/** Counters whose value is read from somewhere else at scrape time. */
type Sampled = Record<string, () => number>;

/** The enroller's endpoint: `/metrics`, `/healthz`, `/members`. `storeStats` adds a shared store's counters. */
export async function serveEnroller(
  enroller: Enroller,
  listen: string,
  storeStats?: () => Readonly<Record<string, number>>,
): Promise<ObservabilityServer> {
  const client = await import('prom-client');
  const register = new client.Registry();
  client.collectDefaultMetrics({ register });
  const gauge = (name: string, help: string, value: () => number) =>
    new client.Gauge({
      name,
      help,
      registers: [register],
      collect() {
        this.set(value());
      },
    });
  const sampledCounter = (name: string, help: string, label: string, values: Sampled) =>
    new client.Counter({
      name,
      help,
      labelNames: [label],
      registers: [register],
      collect() {
        this.reset();
        for (const [key, read] of Object.entries(values)) this.inc({ [label]: key }, read());
      },
    });
  gauge('rina_enroller_up', '1 while the enroller serves (running, and its shared store proves bindings), else 0', () =>
    enroller.health().ok ? 1 : 0,
  );
  gauge('rina_enroller_members', 'members enrolled now', () => enroller.stats().members);
  gauge('rina_enroller_pending_enrollments', 'enrollments in progress', () => enroller.stats().pending);
  const addresses = new client.Gauge({
    name: 'rina_enroller_pool_addresses',
    help: "addresses of the enroller's pool, bound to a name or free",
    labelNames: ['state'],
    registers: [register],
    collect() {
      const { bound, free } = enroller.stats();
      this.set({ state: 'bound' }, bound);
      this.set({ state: 'free' }, free);
    },
  });
  void addresses;
  sampledCounter('rina_enroller_pdus_total', 'PDUs received, and those dropped unread, by reason', 'outcome', {
    received: () => enroller.stats().received,
    oversize: () => enroller.stats().oversize,
    rate_limited: () => enroller.stats().rateLimited,
    malformed: () => enroller.stats().malformed,
    unauthenticated: () => enroller.stats().unauthenticated,
    replayed: () => enroller.stats().replayed,
  });
  sampledCounter('rina_enroller_keepalives_total', 'keepalives answered as enrolled', 'answer', { ok: () => enroller.stats().keepalives });
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
  if (storeStats !== undefined) {
    new client.Counter({
      name: 'rina_enroller_store_operations_total',
      help: "the shared address store's operations, by kind (etcd: transactions, conflicts, range reads, watch events, lease renewals)",
      labelNames: ['kind'],
      registers: [register],
      collect() {
        this.reset();
        for (const [kind, value] of Object.entries(storeStats())) this.inc({ kind }, value);
      },
    });
  }
  return serve(listen, {
    '/metrics': async () => ({ status: 200, type: register.contentType, body: await register.metrics() }),
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
  const client = await import('prom-client');
  const register = new client.Registry();
  client.collectDefaultMetrics({ register });
  new client.Gauge({
    name: 'rina_member_enrolled',
    help: '1 while the member is enrolled, else 0',
    registers: [register],
    collect() {
      this.set(manager.state.type === 'enrolled' ? 1 : 0);
    },
  });
  new client.Gauge({
    name: 'rina_member_address',
    help: 'the DIF address the member holds (0: none)',
    registers: [register],
    collect() {
      this.set(manager.address ?? 0);
    },
  });
  new client.Gauge({
    name: 'rina_member_keepalive_rtt_seconds',
    help: 'smoothed keepalive round trip',
    registers: [register],
    collect() {
      this.set((manager.metrics().keepaliveRttMs.smoothed ?? 0) / 1000);
    },
  });
  new client.Counter({
    name: 'rina_member_events_total',
    help: "the member's enrollments, re-enrollment attempts and failures, outages",
    labelNames: ['event'],
    registers: [register],
    collect() {
      const m = manager.metrics();
      this.reset();
      this.inc({ event: 'enrollment' }, m.enrollments);
      this.inc({ event: 'reenroll_attempt' }, m.reenrollAttempts);
      this.inc({ event: 'reenroll_failure' }, m.reenrollFailures);
      this.inc({ event: 'outage' }, m.outages);
    },
  });
  new client.Counter({
    name: 'rina_member_pdus_dropped_total',
    help: 'PDUs dropped by hmac-sha256 authentication, by reason',
    labelNames: ['reason'],
    registers: [register],
    collect() {
      const { unauthenticated, replayed } = manager.metrics().dropped;
      this.reset();
      this.inc({ reason: 'unauthenticated' }, unauthenticated);
      this.inc({ reason: 'replayed' }, replayed);
    },
  });
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
    '/metrics': async () => ({ status: 200, type: register.contentType, body: await register.metrics() }),
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
