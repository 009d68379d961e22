#!/usr/bin/env node
/**
 * `rina-enroll`: run an enroller (bootstrap) or a member over UDP.
 *
 *   rina-enroll bootstrap --listen 127.0.0.1:7000 --dif demo.DIF --pool 1002-1999 --state ./enroller-state.json
 *   rina-enroll bootstrap --listen 127.0.0.1:7001 --dif demo.DIF --pool 1-65535 --name e1 --etcd http://127.0.0.1:2379
 *   rina-enroll member --name m1 --bootstrap 127.0.0.1:7000 [--bootstrap ...]
 *   rina-enroll member --name m2 --bootstrap srv:_rina-enroll._udp.example.net
 *   RINA_ENROLL_AUTH_KEY=... rina-enroll bootstrap ... --auth hmac-sha256 --allowed-names ./names.txt
 *
 * Bad flags: one line on stderr, exit 2; a failure while running (port in
 * use, store out of reach or locked, enrollment refused): exit 1.
 * SIGINT/SIGTERM/SIGHUP: leave gracefully, exit 0.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import {
  type AuthOptions,
  ConfigError,
  Enroller,
  EnrollmentError,
  EnrollmentManager,
  FileAddressStore,
  MemoryAddressStore,
  MemoryRib,
  parseUdpAddress,
  UdpShim,
} from '../index.js';
import { isWildcardUdpAddress } from '../shim/udp-address.js';
import { createCliLogger } from './log.js';

const EXAMPLES = `
Examples:
  # an enroller for demo.DIF on port 7000, keeping its address table in a file
  rina-enroll bootstrap --listen 127.0.0.1:7000 --dif demo.DIF --pool 1002-1999 --state ./enroller-state.json

  # three enrollers sharing one address space through etcd (each with its own --name)
  rina-enroll bootstrap --listen 127.0.0.1:7001 --dif demo.DIF --pool 1-65535 --name e1 --etcd http://127.0.0.1:2379
  rina-enroll bootstrap --listen 127.0.0.1:7002 --dif demo.DIF --pool 1-65535 --name e2 --etcd http://127.0.0.1:2379
  rina-enroll bootstrap --listen 127.0.0.1:7003 --dif demo.DIF --pool 1-65535 --name e3 --etcd http://127.0.0.1:2379

  # a member finding the enrollers through DNS SRV records
  rina-enroll member --name m3 --bootstrap srv:_rina-enroll._udp.example.net

  # a member enrolling through it (or another one, when it fails)
  rina-enroll member --name m1 --bootstrap 127.0.0.1:7000 --bootstrap 127.0.0.1:7001

  # authenticated: every member must hold the key (here in a file only its user reads)
  rina-enroll bootstrap --listen 127.0.0.1:7000 --dif demo.DIF --pool 1002-1999 --auth hmac-sha256 --auth-key-file /etc/rina/dif.key
  rina-enroll member --name m4 --dif demo.DIF --bootstrap 127.0.0.1:7000 --auth hmac-sha256 --auth-key-file /etc/rina/dif.key

  # faster loss detection, machine-readable output
  rina-enroll member --name m2 --bootstrap [::1]:7000 --heartbeat-interval 1 --connection-timeout 3 --json
`;

/** The package's version (package.json sits two levels up, from src/cli and from dist/cli alike). */
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Thrown for a flag value that parses but makes no sense; printed as one line, exit 2. */
class UsageError extends Error {}

const number = (what: string) => (text: string) => {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value)) throw new InvalidArgumentError(`${what} must be a number, got "${text}"`);
  return value;
};
/** A duration in seconds whose milliseconds a Node.js timer can wait (2^31 - 1 ms, about 24.8 days). */
const MAX_SECS = 2_147_483;
const seconds =
  (what: string, { zero = false } = {}) =>
  (text: string) => {
    const value = number(what)(text);
    if (value < 0 || (!zero && value === 0))
      throw new InvalidArgumentError(`${what} must be ${zero ? '>= 0' : '> 0'} seconds, got "${text}"`);
    if (value > MAX_SECS) throw new InvalidArgumentError(`${what} must be at most ${MAX_SECS} seconds (about 24.8 days), got "${text}"`);
    return value;
  };
const collect = (value: string, previous: string[] = []) => [...previous, value];
const address = (text: string) => {
  try {
    return parseUdpAddress(text, { allowPortZero: true }).address;
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
};
/** A bootstrap: a UDP address with a port (an IP literal: names go through `srv:`), or an `srv:` entry resolved through DNS. */
const bootstrapEntry = (text: string) => {
  if (text.startsWith('srv:')) return text;
  if (/^[a-z][a-z0-9.-]*(:\d+)?$/i.test(text)) {
    throw new InvalidArgumentError(
      `"${text}" is a host name: give an IP address and a port (127.0.0.1:7000, [::1]:7000), or find enrollers through DNS with srv:_rina-enroll._udp.<domain>`,
    );
  }
  const parsed = address(text);
  if (parseUdpAddress(parsed, { allowPortZero: true }).port === 0)
    throw new InvalidArgumentError(`a bootstrap needs a port, e.g. 127.0.0.1:7000, got "${text}"`);
  return parsed;
};
const url = (what: string) => (text: string) => {
  const parsed = URL.canParse(text) ? new URL(text) : undefined;
  if (parsed === undefined || !/^https?:$/.test(parsed.protocol) || parsed.port === '' || !['', '/'].includes(parsed.pathname)) {
    throw new InvalidArgumentError(`${what} must be an etcd client URL such as http://127.0.0.1:2379, got "${text}"`);
  }
  return text;
};
const pool = (text: string) => {
  const match = /^(\d+)-(\d+)$/.exec(text);
  if (!match) throw new InvalidArgumentError(`the pool must be FIRST-LAST, e.g. 1002-1999, got "${text}"`);
  const [first, last] = [Number(match[1]), Number(match[2])];
  if (first > last) throw new InvalidArgumentError(`the pool's first address must not exceed its last, got "${text}"`);
  return { first, last };
};

/** The environment variable that may hold the key (hmac-sha256) or the password (passwd) instead of a file. */
export const AUTH_KEY_ENV = 'RINA_ENROLL_AUTH_KEY';

type Mechanism = AuthOptions['mechanism'];

/** A file the operator named, read, or a usage error naming the flag. */
async function readFlagFile(flag: string, path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new UsageError(`${flag}: cannot read "${path}" (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/**
 * The authentication of `--auth`, with its secret from `--auth-key-file` or
 * {@link AUTH_KEY_ENV}: never from the command line, where `ps` shows it.
 */
async function authFrom(opts: { auth: Mechanism; authKeyFile?: string }): Promise<AuthOptions> {
  if (opts.auth === 'none') {
    if (opts.authKeyFile !== undefined) throw new UsageError('--auth-key-file needs --auth passwd or --auth hmac-sha256');
    if (process.env[AUTH_KEY_ENV] !== undefined && process.env[AUTH_KEY_ENV] !== '') {
      throw new UsageError(
        `${AUTH_KEY_ENV} is set but --auth is none, which would ignore it and admit anyone: give --auth hmac-sha256 (or passwd), or unset ${AUTH_KEY_ENV}`,
      );
    }
    return { mechanism: 'none' };
  }
  const what = opts.auth === 'passwd' ? 'password' : 'key';
  let secret: string;
  if (opts.authKeyFile !== undefined) {
    secret = (await readFlagFile('--auth-key-file', opts.authKeyFile)).trimEnd();
  } else {
    const fromEnv = process.env[AUTH_KEY_ENV];
    if (fromEnv === undefined || fromEnv === '') {
      throw new UsageError(
        `--auth ${opts.auth} needs the ${what}: --auth-key-file PATH, or the ${AUTH_KEY_ENV} environment variable (never on the command line, where ps shows it)`,
      );
    }
    secret = fromEnv;
  }
  const source = opts.authKeyFile === undefined ? AUTH_KEY_ENV : `--auth-key-file "${opts.authKeyFile}"`;
  if (/^[A-Z][A-Z0-9_]*=/.test(secret)) {
    throw new UsageError(
      `${source} looks like an environment file ("${secret.split('=')[0]}=..."): give a file holding only the ${what}, or load that file into the environment (systemd: EnvironmentFile=)`,
    );
  }
  if (opts.auth === 'passwd') {
    if (secret === '') throw new UsageError(`${source}: the password is empty`);
    return { mechanism: 'passwd', password: secret };
  }
  const bytes = Buffer.byteLength(secret);
  if (bytes < 16) {
    throw new UsageError(
      `${source}: an hmac-sha256 key must be at least 16 bytes, this one has ${bytes} (make one with: openssl rand -base64 32)`,
    );
  }
  return { mechanism: 'hmac-sha256', key: secret };
}

/** TLS and authentication to etcd, from `--etcd-cacert/--etcd-cert/--etcd-key` and `--etcd-user/--etcd-password-file`. */
async function etcdSecurityFrom(opts: {
  etcd?: string[];
  etcdCacert?: string;
  etcdCert?: string;
  etcdKey?: string;
  etcdUser?: string;
  etcdPasswordFile?: string;
}): Promise<{ tls?: { ca: string; cert?: string; key?: string }; auth?: { username: string; password: string } }> {
  if ((opts.etcdCert === undefined) !== (opts.etcdKey === undefined)) throw new UsageError('--etcd-cert and --etcd-key go together');
  if (opts.etcdCert !== undefined && opts.etcdCacert === undefined) {
    throw new UsageError("--etcd-cert needs --etcd-cacert, the CA that signed etcd's certificate");
  }
  if ((opts.etcdUser === undefined) !== (opts.etcdPasswordFile === undefined)) {
    throw new UsageError('--etcd-user and --etcd-password-file go together');
  }
  const https = (opts.etcd ?? []).filter((u) => u.startsWith('https:'));
  if (opts.etcdCacert !== undefined && https.length === 0) throw new UsageError('--etcd-cacert needs https:// --etcd URLs');
  if (opts.etcdCacert === undefined && https.length > 0)
    throw new UsageError(`${https[0]} is https: give --etcd-cacert, the CA that signed etcd's certificate`);
  const out: { tls?: { ca: string; cert?: string; key?: string }; auth?: { username: string; password: string } } = {};
  if (opts.etcdCacert !== undefined) {
    out.tls = { ca: await readFlagFile('--etcd-cacert', opts.etcdCacert) };
    if (opts.etcdCert !== undefined && opts.etcdKey !== undefined) {
      out.tls.cert = await readFlagFile('--etcd-cert', opts.etcdCert);
      out.tls.key = await readFlagFile('--etcd-key', opts.etcdKey);
    }
  }
  if (opts.etcdUser !== undefined && opts.etcdPasswordFile !== undefined) {
    const password = (await readFlagFile('--etcd-password-file', opts.etcdPasswordFile)).replace(/\r?\n$/, '');
    if (password === '') throw new UsageError(`--etcd-password-file: "${opts.etcdPasswordFile}" is empty`);
    out.auth = { username: opts.etcdUser, password };
  }
  return out;
}

/** The IPCP names of an `--allowed-names` file: one per line; blank lines and `#` comments ignored. */
async function allowedNamesFrom(path: string): Promise<string[]> {
  const names = (await readFlagFile('--allowed-names', path))
    .split(/\r?\n/)
    .map((line) => line.replace(/#.*$/, '').trim())
    .filter((line) => line !== '');
  if (names.length === 0) throw new UsageError(`--allowed-names: "${path}" lists no IPCP name (one per line)`);
  return names;
}

/** Which flag sets which option, to name the flag the operator typed in a `ConfigError`. */
const FLAG_OF: Readonly<Record<string, string>> = {
  'config.heartbeatIntervalSecs': '--heartbeat-interval',
  'config.connectionTimeoutSecs': '--connection-timeout',
  'config.timeoutMs': '--timeout',
  'config.maxRetries': '--retries',
  'config.bootstraps': '--bootstrap',
  ipcpName: '--name',
  difName: '--dif',
  addressPool: '--pool',
  'addressPool.first': '--pool',
  'addressPool.last': '--pool',
  leaseMs: '--lease',
  holdMs: '--hold',
  maxPduBytes: '--max-pdu-bytes',
  ratePerSecond: '--rate-per-second',
  rateBurst: '--rate-burst',
  maxTrackedPeers: '--max-tracked-peers',
  maxPendingEnrollments: '--max-pending-enrollments',
  pendingTimeoutMs: '--pending-timeout',
  maxMembers: '--max-members',
  allowedNames: '--allowed-names',
  leaseTtlSecs: '--etcd-lease-ttl',
  recvBufferSize: '--recv-buffer',
  'discovery.dnsServers': '--dns-server',
  prefix: '--etcd-prefix',
  alternates: '--alternate',
  'tls.ca': '--etcd-cacert',
  'tls.cert': '--etcd-cert',
  'tls.key': '--etcd-key',
  'auth.username': '--etcd-user',
  'auth.password': '--etcd-password-file',
};

/** The same by bare option name, for the rules that name another option ("must be greater than heartbeatIntervalSecs"). */
const FLAG_OF_NAME = new Map(
  Object.entries(FLAG_OF)
    .filter(([field]) => !field.includes('.') || field.startsWith('config.')) // not "key", "cert": too common a word
    .map(([field, flag]) => [field.split('.').at(-1) as string, flag]),
);
const OPTION_NAME = new RegExp(`\\b(${[...FLAG_OF_NAME.keys()].join('|')})\\b`, 'g');

/** A `ConfigError` said in flags: `--retries: must be >= 1`, not `config.maxRetries: ...`. */
function inFlags(err: ConfigError): string {
  return err.issues
    .map((i) => {
      const field = i.field.replace(/\.\d+$/, ''); // config.bootstraps.0 is --bootstrap
      const flag = FLAG_OF[field];
      const where = flag === undefined ? field : (PRESET_FROM.get(flag) ?? flag);
      return `${where}: ${i.rule.replace(OPTION_NAME, (name) => FLAG_OF_NAME.get(name) ?? name)}`;
    })
    .join('; ');
}

/** The signals that end either command gracefully (SIGHUP too: a closed terminal must not kill it without M_RELEASE). */
const SHUTDOWN_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Resolves on SIGINT, SIGTERM or SIGHUP. */
function shutdownSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (signal: string) => {
      for (const s of SHUTDOWN_SIGNALS) process.off(s, on);
      resolve(signal);
    };
    for (const s of SHUTDOWN_SIGNALS) process.on(s, on);
  });
}

/** Opens a socket for `flag`; a failure (a port in use) names the flag and the address. */
async function listening<T>(flag: string, at: string, open: () => Promise<T>): Promise<T> {
  try {
    return await open();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as { cause?: NodeJS.ErrnoException }).cause?.code;
    const message = (err as Error).message;
    throw new Error(
      code === 'EADDRINUSE' && !message.includes('EADDRINUSE') ? `${flag} ${at}: ${message} (EADDRINUSE)` : `${flag} ${at}: ${message}`,
      {
        cause: err,
      },
    );
  }
}

/** Builds something on an open socket; if that throws (bad options), closes the socket so the process can exit. */
function closingOnThrow<T>(shim: UdpShim, build: () => T): T {
  try {
    return build();
  } catch (err) {
    void shim.close();
    throw err;
  }
}

async function runBootstrap(opts: {
  listen: string;
  dif: string;
  pool: { first: number; last: number };
  name: string;
  state?: string;
  etcd?: string[];
  etcdPrefix?: string;
  advertise?: string;
  lease: number;
  hold: number;
  alternate?: string[];
  json: boolean;
  verbose: boolean;
  recvBuffer: number;
  auth: Mechanism;
  authKeyFile?: string;
  allowedNames?: string;
  maxPduBytes?: number;
  ratePerSecond?: number;
  rateBurst?: number;
  maxTrackedPeers?: number;
  maxPendingEnrollments?: number;
  pendingTimeout?: number;
  maxMembers?: number;
  metricsListen?: string;
  etcdLeaseTtl?: number;
  etcdCacert?: string;
  etcdCert?: string;
  etcdKey?: string;
  etcdUser?: string;
  etcdPasswordFile?: string;
}): Promise<number> {
  for (const [flag, value] of [
    ['--etcd-lease-ttl', opts.etcdLeaseTtl],
    ['--etcd-cacert', opts.etcdCacert],
    ['--etcd-cert', opts.etcdCert],
    ['--etcd-key', opts.etcdKey],
    ['--etcd-user', opts.etcdUser],
    ['--etcd-password-file', opts.etcdPasswordFile],
  ] as const) {
    if (value !== undefined && opts.etcd === undefined) throw new UsageError(`${flag} needs --etcd`);
  }
  const etcdSecurity = await etcdSecurityFrom(opts);
  if (opts.etcd !== undefined && opts.state !== undefined)
    throw new UsageError('--state and --etcd exclude each other: etcd keeps the table');
  if (opts.etcdPrefix !== undefined && opts.etcd === undefined) throw new UsageError('--etcd-prefix needs --etcd');
  if (opts.advertise !== undefined && opts.etcd === undefined) throw new UsageError('--advertise needs --etcd');
  if (opts.etcd !== undefined && opts.advertise === undefined && isWildcardUdpAddress(opts.listen)) {
    throw new UsageError('--etcd with a wildcard --listen needs --advertise HOST:PORT, the address members reach this enroller at');
  }
  if (opts.advertise !== undefined && isWildcardUdpAddress(opts.advertise)) {
    throw new UsageError('--advertise must be an address members can reach, not a wildcard');
  }
  const auth = await authFrom(opts);
  const allowedNames = opts.allowedNames === undefined ? undefined : await allowedNamesFrom(opts.allowedNames);
  const limits = {
    ...(opts.maxPduBytes === undefined ? {} : { maxPduBytes: opts.maxPduBytes }),
    ...(opts.ratePerSecond === undefined ? {} : { ratePerSecond: opts.ratePerSecond }),
    ...(opts.rateBurst === undefined ? {} : { rateBurst: opts.rateBurst }),
    ...(opts.maxTrackedPeers === undefined ? {} : { maxTrackedPeers: opts.maxTrackedPeers }),
    ...(opts.maxPendingEnrollments === undefined ? {} : { maxPendingEnrollments: opts.maxPendingEnrollments }),
    ...(opts.pendingTimeout === undefined ? {} : { pendingTimeoutMs: opts.pendingTimeout * 1000 }),
    ...(opts.maxMembers === undefined ? {} : { maxMembers: opts.maxMembers }),
  };
  const logger = createCliLogger(opts.name, opts.json, { verbose: opts.verbose });
  // Loaded only when asked for: without --etcd the CLI never loads gRPC.
  const store =
    opts.etcd !== undefined
      ? new (await import('../etcd/index.js')).EtcdAddressStore({
          hosts: opts.etcd,
          difName: opts.dif,
          ...(opts.etcdPrefix === undefined ? {} : { prefix: opts.etcdPrefix }),
          ...(opts.etcdLeaseTtl === undefined ? {} : { leaseTtlSecs: opts.etcdLeaseTtl }),
          ...etcdSecurity,
        })
      : opts.state === undefined
        ? new MemoryAddressStore()
        : new FileAddressStore(opts.state);
  const shim = await listening('--listen', opts.listen, () => UdpShim.bind(opts.listen, { recvBufferSize: opts.recvBuffer }));
  const enroller = closingOnThrow(
    shim,
    () =>
      new Enroller({
        shim,
        rib: new MemoryRib(),
        ipcpName: opts.name,
        difName: opts.dif,
        addressPool: opts.pool,
        store,
        leaseMs: opts.lease * 1000,
        holdMs: opts.hold * 1000,
        alternates: opts.alternate ?? [],
        ...(opts.advertise === undefined ? {} : { advertisedAddress: opts.advertise }),
        auth,
        ...(allowedNames === undefined ? {} : { allowedNames }),
        ...limits,
        logger,
      }),
  );
  let observability: { url: string; close(): Promise<void> } | undefined;
  try {
    // The metrics port first: a busy one fails the start before anything says "serving".
    if (opts.metricsListen !== undefined) {
      const storeStats = 'stats' in store && typeof store.stats === 'function' ? () => ({ ...(store.stats() as object) }) : undefined;
      observability = await listening('--metrics-listen', opts.metricsListen, async () =>
        (await import('./observability.js')).serveEnroller(enroller, opts.metricsListen as string, storeStats as never),
      );
    }
    await enroller.start();
    if (observability !== undefined) {
      logger.info(
        { event: 'metrics:listening', url: observability.url },
        `metrics on ${observability.url}/metrics (also /healthz, /members)`,
      );
    }
    logger.info(
      { event: 'auth', mechanism: auth.mechanism, allowedNames: allowedNames?.length },
      auth.mechanism === 'none'
        ? `authentication: none (anyone who reaches ${opts.listen} may enrol)${allowedNames === undefined ? '' : `, ${allowedNames.length} allowed names`}`
        : `authentication: ${auth.mechanism}${allowedNames === undefined ? '' : `, ${allowedNames.length} allowed names`}`,
    );
  } catch (err) {
    await observability?.close();
    await enroller.stop();
    await shim.close();
    throw err;
  }
  const signal = await shutdownSignal();
  await observability?.close();
  await enroller.stop();
  await shim.close();
  logger.info({ event: 'enroller:stopped', signal }, `stopped on ${signal}`);
  return 0;
}

async function runMember(opts: {
  name: string;
  dif?: string;
  bootstrap: string[];
  dnsServer?: string[];
  listen?: string;
  heartbeatInterval: number;
  connectionTimeout: number;
  timeout: number;
  retries: number;
  json: boolean;
  verbose: boolean;
  auth: Mechanism;
  authKeyFile?: string;
  metricsListen?: string;
}): Promise<number> {
  const auth = await authFrom(opts);
  if (auth.mechanism === 'hmac-sha256' && opts.dif === undefined) {
    throw new UsageError("--auth hmac-sha256 needs --dif: the proofs are bound to the DIF's name");
  }
  const logger = createCliLogger(opts.name, opts.json, { verbose: opts.verbose });
  const families = new Set(opts.bootstrap.filter((b) => !b.startsWith('srv:')).map((b) => parseUdpAddress(b).family));
  if (families.size > 1)
    throw new UsageError('--bootstrap mixes IPv4 and IPv6 addresses: one member speaks one of them (its --listen address)');
  const family = families.has(6) ? 6 : 4;
  const local = opts.listen ?? (family === 6 ? '[::]:0' : '0.0.0.0:0');
  if (opts.listen !== undefined && families.size === 1 && parseUdpAddress(opts.listen).family !== family) {
    throw new UsageError(`--listen ${opts.listen} is IPv${parseUdpAddress(opts.listen).family} but --bootstrap is IPv${family}`);
  }
  const shim = await listening('--listen', local, () => UdpShim.bind(local));
  const mgr = closingOnThrow(
    shim,
    () =>
      new EnrollmentManager({
        shim,
        rib: new MemoryRib(),
        ipcpName: opts.name,
        ...(opts.dif === undefined ? {} : { difName: opts.dif }),
        auth,
        logger,
        ...(opts.dnsServer === undefined ? {} : { discovery: { dnsServers: opts.dnsServer } }),
        config: {
          bootstraps: opts.bootstrap,
          heartbeatIntervalSecs: opts.heartbeatInterval,
          connectionTimeoutSecs: opts.connectionTimeout,
          timeoutMs: opts.timeout,
          maxRetries: opts.retries,
        },
      }),
  );
  const leaving = shutdownSignal();
  let observability: { url: string; close(): Promise<void> } | undefined;
  try {
    if (opts.metricsListen !== undefined) {
      observability = await (await import('./observability.js')).serveMember(mgr, opts.metricsListen);
      logger.info({ event: 'metrics:listening', url: observability.url }, `metrics on ${observability.url}/metrics (also /healthz)`);
    }
    const outcome = await Promise.race([mgr.enrol().then(() => 'enrolled' as const), leaving]);
    if (outcome === 'enrolled') {
      mgr.startConnectionMonitoring();
      await leaving;
    }
  } finally {
    await observability?.close();
    await mgr.close(); // sends M_RELEASE when enrolled
    await shim.close();
  }
  logger.info({ event: 'member:left' }, 'left the DIF');
  return 0;
}

/** Where the value of a flag came from when not from the command line: `--config "f" key "k"` or `environment variable V`. */
const PRESET_FROM = new Map<string, string>();

/** Flags that may be given more than once: a JSON array in a `--config` file, comma-separated in the environment. */
const REPEATABLE = new Set(['etcd', 'alternate', 'bootstrap', 'dns-server']);

/** The environment variable of a flag: `--heartbeat-interval` is `RINA_ENROLL_HEARTBEAT_INTERVAL`. */
export const envVarOf = (flag: string): string => `RINA_ENROLL_${flag.replace(/^--/, '').toUpperCase().replace(/-/g, '_')}`;

/**
 * Every flag of `command` may also come from a `--config FILE` (JSON, its keys
 * the flags' names without dashes: `{"listen": "0.0.0.0:7000", "pool":
 * "1002-1999"}`) or the environment (`RINA_ENROLL_LISTEN`). Flags override the
 * file, the file overrides the environment. Values go through the flags' own
 * parsers; a bad one names the file key or the variable the user wrote.
 */
async function presetFromConfigAndEnvironment(command: Command, args: string[]): Promise<void> {
  const at = args.findIndex((a) => a === '--config' || a.startsWith('--config='));
  const file = at < 0 ? undefined : args[at]?.startsWith('--config=') ? args[at]?.slice('--config='.length) : args[at + 1];
  let config: Record<string, unknown> = {};
  if (file !== undefined) {
    const text = await readFlagFile('--config', file);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new UsageError(`--config "${file}" is not JSON: ${(err as Error).message}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new UsageError(`--config "${file}" must hold one JSON object of flags, e.g. {"listen": "127.0.0.1:7000"}`);
    }
    config = parsed as Record<string, unknown>;
  }
  const options = command.options.filter((o) => o.long !== undefined && !['--help', '--config'].includes(o.long));
  const keys = new Map(options.map((o) => [(o.long as string).slice(2), o]));
  for (const key of Object.keys(config)) {
    if (!keys.has(key)) throw new UsageError(`--config "${file}": unknown key "${key}" (keys: ${[...keys.keys()].join(', ')})`);
  }
  for (const [key, option] of keys) {
    // A flag on the command line wins (and a repeated one replaces the file's list rather than adding to it).
    if (args.some((a) => a === `--${key}` || a.startsWith(`--${key}=`))) continue;
    const fromFile = Object.hasOwn(config, key);
    const variable = envVarOf(key);
    const raw = fromFile ? config[key] : process.env[variable];
    if (raw === undefined) continue;
    const where = fromFile ? `--config "${file}" key "${key}"` : `environment variable ${variable}`;
    const fail = (rule: string): never => {
      throw new UsageError(`${where}: ${rule}`);
    };
    let value: unknown;
    if (!option.required && !option.optional) {
      // a switch such as --json
      if (typeof raw === 'boolean') value = raw;
      else if (typeof raw === 'string' && /^(1|true|yes)$/i.test(raw)) value = true;
      else if (typeof raw === 'string' && /^(0|false|no|)$/i.test(raw)) value = false;
      else fail('must be true or false');
    } else {
      const items = Array.isArray(raw) ? raw : !fromFile && REPEATABLE.has(key) ? String(raw).split(',') : [raw];
      if (!REPEATABLE.has(key) && items.length !== 1) fail('takes one value, not a list');
      for (const item of items) {
        if (typeof item !== 'string' && typeof item !== 'number') fail(`must be a string or a number, got ${JSON.stringify(item)}`);
        const text = String(item).trim();
        if (option.argChoices !== undefined && !option.argChoices.includes(text))
          fail(`must be one of ${option.argChoices.join(', ')}, got "${text}"`);
        try {
          value = option.parseArg === undefined ? text : option.parseArg(text, value as never);
        } catch (err) {
          fail((err as Error).message);
        }
      }
    }
    command.setOptionValueWithSource(option.attributeName(), value, 'config');
    PRESET_FROM.set(`--${key}`, where);
  }
}

/** `--auth`, on both commands. */
function authOption(): Option {
  return new Option('--auth <mechanism>', 'authentication: none, passwd (in clear: trusted networks only) or hmac-sha256')
    .choices(['none', 'passwd', 'hmac-sha256'])
    .default('none');
}

/** Builds the command line; `run` resolves with the exit code. */
export function program(): Command {
  const cmd = new Command('rina-enroll')
    .description('Run a RINA enroller (bootstrap IPCP) or a member IPCP over UDP.')
    .addHelpText('after', EXAMPLES)
    .showHelpAfterError(false)
    .version(VERSION, '-V, --version', 'print the version')
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(`${text.split('\n')[0]}\n`) });

  cmd
    .command('bootstrap')
    .description('run an enroller that admits members and assigns their addresses')
    .requiredOption('--listen <host:port>', 'UDP address to listen on, e.g. 127.0.0.1:7000 or [::1]:7000', address)
    .requiredOption('--dif <name>', 'name of the DIF')
    .requiredOption('--pool <first-last>', 'addresses to assign, e.g. 1002-1999', pool)
    .option('--name <ipcp>', "the enroller's IPCP name", 'bootstrap')
    .option('--state <file>', 'keep the address table in this file, to survive restarts', (text: string) => {
      if (text.trim() === '') throw new InvalidArgumentError('--state needs a file path');
      return text;
    })
    .option(
      '--etcd <url>',
      'share the address space with other enrollers through etcd (repeat for each etcd member)',
      (value: string, previous?: string[]) => collect(url('--etcd')(value), previous),
    )
    .option('--etcd-prefix <prefix>', 'etcd key prefix (default /rina/<dif>/)')
    .option('--etcd-cacert <file>', "the CA that signed etcd's certificate (PEM), for https:// --etcd URLs")
    .option('--etcd-cert <file>', "this enroller's client certificate for etcd (PEM; with --etcd-key)")
    .option('--etcd-key <file>', "this enroller's client key for etcd (PEM; with --etcd-cert)")
    .option('--etcd-user <name>', 'etcd user (etcd authentication; its role needs read and write under the prefix)')
    .option('--etcd-password-file <file>', "file holding the etcd user's password")
    .option(
      '--etcd-lease-ttl <secs>',
      "TTL of the enroller's etcd lease: it stops vouching for members this long after losing etcd (default: 10)",
      seconds('--etcd-lease-ttl'),
    )
    .option('--advertise <host:port>', 'the address other enrollers give members for this one (default: --listen)', address)
    .option('--lease <secs>', 'a member silent this long is gone', seconds('--lease'), 90)
    .option('--hold <secs>', "a gone member's address is kept for it this long", seconds('--hold', { zero: true }), 300)
    .option('--alternate <host:port>', 'another enroller of the DIF to advertise (repeatable)', (value: string, previous?: string[]) =>
      collect(bootstrapEntry(value), previous),
    )
    .option(
      '--recv-buffer <bytes>',
      'socket receive buffer (the kernel caps it at net.core.rmem_max)',
      (text: string) => {
        const value = number('--recv-buffer')(text);
        if (!Number.isInteger(value) || value < 1 || value > 2 ** 31 - 1) {
          throw new InvalidArgumentError(`--recv-buffer must be a whole number of bytes from 1 to ${2 ** 31 - 1}, got "${text}"`);
        }
        return value;
      },
      4 * 1024 * 1024,
    )
    .addOption(authOption())
    .option('--auth-key-file <path>', `file holding the key (hmac-sha256) or password (passwd); or set ${AUTH_KEY_ENV}`)
    .option('--allowed-names <file>', 'admit only the IPCP names in this file (one per line, # comments)')
    .option('--max-pdu-bytes <n>', 'drop larger PDUs unread (default: 8192)', number('--max-pdu-bytes'))
    .option('--rate-per-second <n>', 'PDUs per second per shim address; the excess is dropped (default: 100)', number('--rate-per-second'))
    .option('--rate-burst <n>', 'burst allowed above --rate-per-second (default: 200)', number('--rate-burst'))
    .option('--max-tracked-peers <n>', 'shim addresses whose rate is tracked (default: 10000)', number('--max-tracked-peers'))
    .option(
      '--max-pending-enrollments <n>',
      'enrollments in progress; more are answered "busy" (default: 1024)',
      number('--max-pending-enrollments'),
    )
    .option(
      '--pending-timeout <secs>',
      'a half-finished enrollment is forgotten after this long (default: 30)',
      seconds('--pending-timeout'),
    )
    .option('--max-members <n>', 'members at most; more are refused (default: 1000000)', number('--max-members'))
    .option('--metrics-listen <host:port>', 'serve /metrics (Prometheus), /healthz and /members over HTTP here', address)
    .option('--json', 'one JSON object per line', false)
    .option('--verbose', 'also debug lines (keepalives, attempts)', false)
    .option('--config <file>', 'flags from a JSON file ({"listen": ..., "pool": ...}); flags override it, it overrides RINA_ENROLL_<FLAG>')
    .addHelpText(
      'after',
      '\nExample:\n  rina-enroll bootstrap --listen 127.0.0.1:7000 --dif demo.DIF --pool 1002-1999 --state ./enroller-state.json\n',
    )
    .action(async (opts) => {
      cmd.setOptionValue('exitCode', await runBootstrap(opts));
    });

  cmd
    .command('member')
    .description('enrol a member IPCP and keep it enrolled')
    .requiredOption('--name <ipcp>', "the member's IPCP name")
    .requiredOption(
      '--bootstrap <host:port|srv:name>',
      'an enroller to enrol with, or srv:_rina-enroll._udp.<domain> to find them in DNS (repeat for failover)',
      (value: string, previous?: string[]) => collect(bootstrapEntry(value), previous),
    )
    .option('--dns-server <host:port>', 'DNS server for srv: bootstraps (repeatable; default: the system resolver)', collect)
    .option('--dif <name>', 'the DIF to join (an enroller of another DIF refuses the member)')
    .option('--listen <host:port>', 'local UDP address (default: any interface, a free port)', address)
    .addOption(
      new Option('--heartbeat-interval <secs>', 'keepalive interval; 0 disables monitoring')
        .argParser(seconds('--heartbeat-interval', { zero: true }))
        .default(30),
    )
    .addOption(
      new Option('--connection-timeout <secs>', 'silence after which the bootstrap counts as lost')
        .argParser(seconds('--connection-timeout'))
        .default(90),
    )
    .addOption(new Option('--timeout <ms>', 'bound on one enrollment attempt').argParser(number('--timeout')).default(5000))
    .addOption(new Option('--retries <n>', 'attempts of the first enrollment').argParser(number('--retries')).default(3))
    .addOption(authOption())
    .option('--auth-key-file <path>', `file holding the key (hmac-sha256) or password (passwd); or set ${AUTH_KEY_ENV}`)
    .option('--metrics-listen <host:port>', 'serve /metrics (Prometheus) and /healthz over HTTP here', address)
    .option('--json', 'one JSON object per line', false)
    .option('--verbose', 'also debug lines (keepalives, attempts)', false)
    .option(
      '--config <file>',
      'flags from a JSON file ({"name": ..., "bootstrap": [...]}); flags override it, it overrides RINA_ENROLL_<FLAG>',
    )
    .addHelpText(
      'after',
      '\nExample:\n  rina-enroll member --name m1 --bootstrap 127.0.0.1:7000 --heartbeat-interval 5 --connection-timeout 15\n',
    )
    .action(async (opts) => {
      cmd.setOptionValue('exitCode', await runMember(opts));
    });
  cmd
    .command('members')
    .description("list the members an enroller serves (from its --metrics-listen endpoint's /members)")
    .requiredOption('--from <url>', "the enroller's metrics endpoint, e.g. http://127.0.0.1:9100", (text: string) => {
      if (!URL.canParse(text) || !/^https?:$/.test(new URL(text).protocol)) {
        throw new InvalidArgumentError(`--from must be an http URL such as http://127.0.0.1:9100, got "${text}"`);
      }
      return text;
    })
    .option('--json', 'the list as JSON', false)
    .action(async (opts: { from: string; json: boolean }) => {
      const { fetchMembers } = await import('./observability.js');
      const members = await fetchMembers(opts.from);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(members)}\n`);
        return;
      }
      const rows = [
        ['NAME', 'ADDRESS', 'SHIM ADDRESS', 'ENROLLED', 'LAST SEEN'],
        ...members.map((m) => [m.name, String(m.address), m.shimAddress, m.enrolledAt, m.lastSeen]),
      ];
      const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
      for (const row of rows)
        process.stdout.write(
          `${row
            .map((cell, i) => cell.padEnd(widths[i] ?? 0))
            .join('  ')
            .trimEnd()}\n`,
        );
      process.stdout.write(`${members.length} member${members.length === 1 ? '' : 's'}\n`);
    });
  return cmd;
}

/** Runs the CLI on `argv` (without node and the script); resolves with the exit code. */
export async function run(argv: string[]): Promise<number> {
  const cmd = program();
  try {
    const sub = cmd.commands.find((c) => c.name() === argv[0]);
    const asksForHelp = argv.some((a) => ['--help', '-h', '--version', '-V'].includes(a));
    if (sub !== undefined && !asksForHelp) await presetFromConfigAndEnvironment(sub, argv.slice(1));
    await cmd.parseAsync(argv, { from: 'user' });
    return (cmd.getOptionValue('exitCode') as number | undefined) ?? 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // asked for help: 0; help shown because no command was given: a usage error
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
      if (err.code === 'commander.help') return argv.length === 0 ? 2 : 0;
      if (err.code === 'commander.executeSubCommandAsync') return 0;
      return 2; // commander already printed its one line
    }
    const message =
      err instanceof ConfigError
        ? inFlags(err)
        : err instanceof EnrollmentError || err instanceof UsageError
          ? err.message
          : ((err as Error)?.message ?? String(err));
    process.stderr.write(`rina-enroll: error: ${message}\n`);
    // Bad input (flags, config) is a usage error; anything else (a port in use,
    // a store out of reach or locked, a refusal) failed while running.
    return err instanceof UsageError || (err instanceof EnrollmentError && err.code === 'CONFIG_ERROR') ? 2 : 1;
  }
}

// gRPC sets TLS's server name to etcd's IP address, which Node warns about
// (DEP0123) on every connection: one line of noise per run, nothing to act on.
const emitWarning = process.emitWarning.bind(process);
process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  const code = typeof rest[0] === 'object' && rest[0] !== null ? (rest[0] as { code?: string }).code : rest[1];
  if (code === 'DEP0123') return;
  (emitWarning as (...args: unknown[]) => void)(warning, ...rest);
}) as typeof process.emitWarning;

run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Stopped: exit even if a client library keeps a handle open (gRPC
    // reconnecting to an etcd that does not answer), after a grace second
    // for the output to drain.
    setTimeout(() => process.exit(code), 1000).unref();
  },
  (err: unknown) => {
    process.stderr.write(`rina-enroll: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
