/**
 * `rina-enroll member`: enrol a member IPCP over UDP and keep it enrolled,
 * until SIGINT, SIGTERM or SIGHUP (then it leaves with M_RELEASE).
 *
 * @module
 */
import { type Command, Option } from 'commander';
import { EnrollmentManager, type Logger, MemoryRib, parseUdpAddress, UdpShim } from '../../index.js';
import { type AuthFlags, addAuthOptions, authFrom } from '../flags/auth.js';
import { address, collect, collectBootstraps, number, seconds } from '../flags/parsers.js';
import { UsageError } from '../flags/usage-error.js';
import { closingOnThrow, listening, shutdownSignal } from '../lifecycle.js';
import type { ObservabilityServer } from '../observability.js';
import { addOutputOptions, loggerFor, type OutputFlags } from './common.js';

/** The flags of `rina-enroll member`, as commander parses them. */
export interface MemberFlags extends AuthFlags, OutputFlags {
  name: string;
  dif?: string;
  bootstrap: string[];
  dnsServer?: string[];
  listen?: string;
  heartbeatInterval: number;
  connectionTimeout: number;
  timeout: number;
  retries: number;
}

/**
 * The local address: `--listen`, or any interface of the bootstraps' IP
 * family. A member speaks one family; bootstraps of both are a usage error.
 */
function localAddress(opts: MemberFlags): string {
  const families = new Set(opts.bootstrap.filter((b) => !b.startsWith('srv:')).map((b) => parseUdpAddress(b).family));
  if (families.size > 1)
    throw new UsageError('--bootstrap mixes IPv4 and IPv6 addresses: one member speaks one of them (its --listen address)');
  const family = families.has(6) ? 6 : 4;
  const listenFamily = opts.listen === undefined ? family : parseUdpAddress(opts.listen, { allowPortZero: true }).family;
  if (families.size === 1 && listenFamily !== family) {
    throw new UsageError(`--listen ${opts.listen} is IPv${listenFamily} but --bootstrap is IPv${family}`);
  }
  return opts.listen ?? (family === 6 ? '[::]:0' : '0.0.0.0:0');
}

/** Enrols (unless a shutdown signal comes first), then monitors the bootstrap until one comes. */
async function stayEnrolled(mgr: EnrollmentManager, leaving: Promise<string>): Promise<void> {
  const outcome = await Promise.race([mgr.enrol().then(() => 'enrolled' as const), leaving]);
  if (outcome === 'enrolled') {
    mgr.startConnectionMonitoring();
    await leaving;
  }
}

/** Runs the member until a shutdown signal; resolves with the exit code. */
async function runMember(opts: MemberFlags): Promise<number> {
  // Listened for first: a signal from the very start ends the member as any later one does (exit 0, M_RELEASE if enrolled).
  const leaving = shutdownSignal();
  const logger = loggerFor(opts.name, opts);
  let made: { mgr: EnrollmentManager; shim: UdpShim };
  try {
    made = await makeMember(opts, logger);
  } catch (err) {
    leaving.stop(); // (failed: a signal while exiting is Node's again)
    throw err;
  }
  const { mgr, shim } = made;
  let observability: ObservabilityServer | undefined;
  try {
    const at = opts.metricsListen;
    if (at !== undefined) {
      observability = await listening('--metrics-listen', at, async () => (await import('../observability.js')).serveMember(mgr, at));
      logger.info({ event: 'metrics:listening', url: observability.url }, `metrics on ${observability.url}/metrics (also /healthz)`);
    }
    await stayEnrolled(mgr, leaving.received);
  } catch (err) {
    leaving.stop(); // (after a failure: a signal while leaving is Node's again)
    throw err;
  } finally {
    await observability?.close();
    await mgr.close(); // sends M_RELEASE when enrolled
    await shim.close();
  }
  logger.info({ event: 'member:left' }, 'left the DIF');
  return 0;
}

/** The member of `opts` on its socket. */
async function makeMember(opts: MemberFlags, logger: Logger): Promise<{ mgr: EnrollmentManager; shim: UdpShim }> {
  const auth = await authFrom(opts);
  if (auth.mechanism === 'hmac-sha256' && opts.dif === undefined) {
    throw new UsageError("--auth hmac-sha256 needs --dif: the proofs are bound to the DIF's name");
  }
  const local = localAddress(opts);
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
  return { mgr, shim };
}

/** Adds `member` to `root`; its action sets `root`'s `exitCode` option. */
export function addMemberCommand(root: Command): void {
  const command = root
    .command('member')
    .description('enrol a member IPCP and keep it enrolled')
    .requiredOption('--name <ipcp>', "the member's IPCP name")
    .requiredOption(
      '--bootstrap <host:port|srv:name>',
      'an enroller to enrol with, or srv:_rina-enroll._udp.<domain> to find them in DNS (repeat for failover)',
      collectBootstraps,
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
    .addOption(new Option('--retries <n>', 'attempts of the first enrollment').argParser(number('--retries')).default(3));
  addOutputOptions(addAuthOptions(command), {
    metrics: '/metrics (Prometheus) and /healthz',
    configShape: '{"name": ..., "bootstrap": [...]}',
    example: 'rina-enroll member --name m1 --bootstrap 127.0.0.1:7000 --heartbeat-interval 5 --connection-timeout 15',
  }).action(async (opts: MemberFlags) => {
    root.setOptionValue('exitCode', await runMember(opts));
  });
}
