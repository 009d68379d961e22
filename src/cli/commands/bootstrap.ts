/**
 * `rina-enroll bootstrap`: an enroller over UDP that admits members and
 * assigns their addresses, until SIGINT, SIGTERM or SIGHUP.
 *
 * @module
 */
import type { Command } from 'commander';
import { type AuthOptions, Enroller, type Logger, MemoryRib, UdpShim } from '../../index.js';
import { type AuthFlags, addAuthOptions, allowedNamesFrom, authFrom } from '../flags/auth.js';
import { address, collectAlternates, number, pool, recvBuffer, seconds } from '../flags/parsers.js';
import { addressStoreFrom, addStoreOptions, type StoreFlags, storeSecurityFrom } from '../flags/store.js';
import { closingOnThrow, listening, shutdownSignal } from '../lifecycle.js';
import type { ObservabilityServer } from '../observability.js';
import { addOutputOptions, loggerFor, type OutputFlags } from './common.js';

/** The flags of `rina-enroll bootstrap`, as commander parses them. */
export interface BootstrapFlags extends StoreFlags, AuthFlags, OutputFlags {
  listen: string;
  dif: string;
  pool: { first: number; last: number };
  name: string;
  lease: number;
  hold: number;
  alternate?: string[];
  recvBuffer: number;
  allowedNames?: string;
  maxPduBytes?: number;
  ratePerSecond?: number;
  rateBurst?: number;
  maxTrackedPeers?: number;
  maxPendingEnrollments?: number;
  pendingTimeout?: number;
  maxMembers?: number;
  releasePerSecond?: number;
}

/** Adds the flags that bound what members may cost the enroller. */
function addLimitOptions(command: Command): Command {
  return command
    .option('--max-pdu-bytes <n>', 'drop larger PDUs unread (default: 8192)', number('--max-pdu-bytes'))
    .option('--rate-per-second <n>', 'PDUs per second per shim address; the excess is dropped (default: 100)', number('--rate-per-second'))
    .option('--rate-burst <n>', 'burst allowed above --rate-per-second (default: 200)', number('--rate-burst'))
    .option('--max-tracked-peers <n>', 'shim addresses whose rate is tracked (default: 10000)', number('--max-tracked-peers'))
    .option(
      '--max-pending-enrollments <n>',
      'enrollments in progress; more are answered "busy" (default: 8192; 1024 with --etcd)',
      number('--max-pending-enrollments'),
    )
    .option(
      '--pending-timeout <secs>',
      'a half-finished enrollment is forgotten after this long (default: 30)',
      seconds('--pending-timeout'),
    )
    .option('--max-members <n>', 'members at most; more are refused (default: 1000000)', number('--max-members'))
    .option(
      '--release-per-second <n>',
      'members a stop releases at once, and then each second (default: 1000)',
      number('--release-per-second'),
    );
}

/** The limits given, as the enroller's options (those not given keep the enroller's defaults). */
function limitsFrom(opts: BootstrapFlags) {
  return {
    ...(opts.maxPduBytes === undefined ? {} : { maxPduBytes: opts.maxPduBytes }),
    ...(opts.ratePerSecond === undefined ? {} : { ratePerSecond: opts.ratePerSecond }),
    ...(opts.rateBurst === undefined ? {} : { rateBurst: opts.rateBurst }),
    ...(opts.maxTrackedPeers === undefined ? {} : { maxTrackedPeers: opts.maxTrackedPeers }),
    ...(opts.maxPendingEnrollments === undefined ? {} : { maxPendingEnrollments: opts.maxPendingEnrollments }),
    ...(opts.pendingTimeout === undefined ? {} : { pendingTimeoutMs: opts.pendingTimeout * 1000 }),
    ...(opts.maxMembers === undefined ? {} : { maxMembers: opts.maxMembers }),
    ...(opts.releasePerSecond === undefined ? {} : { releasePerSecond: opts.releasePerSecond }),
  };
}

/** What is running, to stop in order. */
interface Running {
  enroller: Enroller;
  shim: UdpShim;
  observability?: ObservabilityServer | undefined;
}

/** Stops the metrics endpoint, the enroller and its socket. */
async function stopAll({ observability, enroller, shim }: Running): Promise<void> {
  await observability?.close();
  await enroller.stop();
  await shim.close();
}

/** The line that says who may enrol. */
function authLine(auth: AuthOptions, allowedNames: string[] | undefined, listen: string): string {
  const names = allowedNames === undefined ? '' : `, ${allowedNames.length} allowed names`;
  return auth.mechanism === 'none'
    ? `authentication: none (anyone who reaches ${listen} may enrol)${names}`
    : `authentication: ${auth.mechanism}${names}`;
}

/**
 * Starts the metrics endpoint (first: a busy port fails the start before
 * anything says "serving") and the enroller, and says who may enrol; on a
 * failure, stops what started.
 */
async function start(
  running: Running,
  opts: BootstrapFlags,
  {
    logger,
    auth,
    allowedNames,
    stats,
  }: { logger: Logger; auth: AuthOptions; allowedNames?: string[] | undefined; stats?: () => Readonly<Record<string, number>> },
): Promise<void> {
  try {
    const at = opts.metricsListen;
    if (at !== undefined) {
      running.observability = await listening('--metrics-listen', at, async () =>
        (await import('../observability.js')).serveEnroller(running.enroller, at, stats),
      );
    }
    await running.enroller.start();
    const url = running.observability?.url;
    if (url !== undefined) logger.info({ event: 'metrics:listening', url }, `metrics on ${url}/metrics (also /healthz, /members)`);
    logger.info(
      { event: 'auth', mechanism: auth.mechanism, allowedNames: allowedNames?.length },
      authLine(auth, allowedNames, running.shim.localAddress),
    );
  } catch (err) {
    await stopAll(running);
    throw err;
  }
}

/** Makes the enroller of `opts` on its socket, and starts it; on a failure, stops what started. */
async function startBootstrap(opts: BootstrapFlags, logger: Logger): Promise<Running> {
  const etcdSecurity = await storeSecurityFrom(opts);
  const auth = await authFrom(opts);
  const allowedNames = opts.allowedNames === undefined ? undefined : await allowedNamesFrom(opts.allowedNames);
  const { store, stats } = await addressStoreFrom(opts, etcdSecurity);
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
        ...limitsFrom(opts),
        logger,
      }),
  );
  const running: Running = { enroller, shim };
  await start(running, opts, { logger, auth, allowedNames, ...(stats === undefined ? {} : { stats }) });
  return running;
}

/** Runs the enroller until a shutdown signal; resolves with the exit code. */
async function runBootstrap(opts: BootstrapFlags): Promise<number> {
  // Listened for first: a signal from the very start (the store loading, etcd slow) stops the enroller as soon as it
  // has started, instead of killing the process half-way (no M_RELEASE, no lease revoked, the state file locked).
  const leaving = shutdownSignal();
  const logger = loggerFor(opts.name, opts);
  let running: Running;
  try {
    running = await startBootstrap(opts, logger);
  } catch (err) {
    leaving.stop(); // failed: a signal during the exit is Node's again
    throw err;
  }
  const signal = await leaving.received;
  await stopAll(running);
  logger.info({ event: 'enroller:stopped', signal }, `stopped on ${signal}`);
  return 0;
}

/** Adds `bootstrap` to `root`; its action sets `root`'s `exitCode` option. */
export function addBootstrapCommand(root: Command): void {
  const command = root
    .command('bootstrap')
    .description('run an enroller that admits members and assigns their addresses')
    .requiredOption('--listen <host:port>', 'UDP address to listen on, e.g. 127.0.0.1:7000 or [::1]:7000', address)
    .requiredOption('--dif <name>', 'name of the DIF')
    .requiredOption('--pool <first-last>', 'addresses to assign, e.g. 1002-1999', pool)
    .option('--name <ipcp>', "the enroller's IPCP name", 'bootstrap');
  addStoreOptions(command)
    .option('--lease <secs>', 'a member silent this long is gone', seconds('--lease'), 90)
    .option('--hold <secs>', "a gone member's address is kept for it this long", seconds('--hold', { zero: true }), 300)
    .option('--alternate <host:port>', 'another enroller of the DIF to advertise (repeatable)', collectAlternates)
    .option('--recv-buffer <bytes>', 'socket receive buffer (the kernel caps it at net.core.rmem_max)', recvBuffer, 4 * 1024 * 1024);
  addAuthOptions(command).option('--allowed-names <file>', 'admit only the IPCP names in this file (one per line, # comments)');
  addLimitOptions(command);
  addOutputOptions(command, {
    metrics: '/metrics (Prometheus), /healthz and /members',
    configShape: '{"listen": ..., "pool": ...}',
    example: 'rina-enroll bootstrap --listen 127.0.0.1:7000 --dif demo.DIF --pool 1002-1999 --state ./enroller-state.json',
  }).action(async (opts: BootstrapFlags) => {
    root.setOptionValue('exitCode', await runBootstrap(opts));
  });
}
