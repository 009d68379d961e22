/**
 * The etcd client the store makes from `hosts` (TLS, authentication, quick
 * reconnects, no circuit breaker), and the errors it reports.
 *
 * @module
 */
import { createRequire } from 'node:module';
import type * as Cockatiel from 'cockatiel';
import type * as Etcd3Module from 'etcd3';
import { MissingDependencyError, StoreError } from '../errors.js';
import { MemberHealth } from './member-health.js';
import type { ResolvedEtcdStoreOptions } from './options.js';

/**
 * `etcd3` is an optional peer dependency: an IPCP that never shares its
 * address space installs no gRPC. It is loaded (synchronously, so that
 * `require('rina-enrollment/etcd')` works too) when this module is, and its
 * absence is a {@link MissingDependencyError} naming the install command.
 * cockatiel, whose policies etcd3 takes, is the one etcd3 itself depends on.
 */
function loadEtcd3(): { etcd3: typeof Etcd3Module; cockatiel: typeof Cockatiel } {
  const require = createRequire(import.meta.url);
  let entry: string;
  try {
    entry = require.resolve('etcd3');
  } catch (cause) {
    throw new MissingDependencyError('rina-enrollment/etcd', ['etcd3'], { cause });
  }
  return { etcd3: require(entry) as typeof Etcd3Module, cockatiel: createRequire(entry)('cockatiel') as typeof Cockatiel };
}

const { etcd3, cockatiel } = loadEtcd3();

/** A failure etcd3 would try again (unavailable, no answer within the deadline, ...): what counts against a member. */
const recoverable = (err: unknown): boolean => err instanceof Error && etcd3.isRecoverableError(err);

/** A failure tried again on another member: one etcd3 would try again, unless the call's deadline passed. */
const retried = (err: Error): boolean => recoverable(err) && !(err instanceof etcd3.GRPCDeadlineExceededError);

/**
 * A client for `options.hosts`, with its TLS and authentication; `onSkip` is told of each call that passed over a
 * member that stopped answering. `ownConnection`: not sharing gRPC's connections with the process's other clients
 * of the same hosts (which it does by default).
 */
export function makeEtcdClient(options: ResolvedEtcdStoreOptions, onSkip?: () => void, { ownConnection = false } = {}): Etcd3Module.Etcd3 {
  const made = etcdClientOptions(options, new MemberHealth(recoverable, onSkip));
  if (ownConnection) made.grpcOptions = { ...made.grpcOptions, 'grpc.use_local_subchannel_pool': 1 };
  return new etcd3.Etcd3(made);
}

/**
 * What {@link makeEtcdClient} gives etcd3. `health` picks the members its
 * calls go to (see {@link MemberHealth}).
 */
export function etcdClientOptions(options: ResolvedEtcdStoreOptions, health = new MemberHealth(recoverable)): Etcd3Module.IOptions {
  const { tls, auth } = options;
  const { ExponentialBackoff, handleWhen, retry } = cockatiel;
  return {
    hosts: options.hosts ?? [],
    ...(tls === undefined
      ? {}
      : {
          credentials: {
            rootCertificate: Buffer.from(tls.ca),
            ...(tls.cert === undefined || tls.key === undefined
              ? {}
              : { certChain: Buffer.from(tls.cert), privateKey: Buffer.from(tls.key) }),
          },
        }),
    // (the token exchange bounded too: etcd3 gives it no deadline, and a member that holds calls would hold it for ever)
    ...(auth === undefined
      ? {}
      : {
          auth: { username: auth.username, password: auth.password, callOptions: () => ({ deadline: Date.now() + options.callTimeoutMs }) },
        }),
    dialTimeout: options.callTimeoutMs,
    // Reconnect quickly once etcd is back (gRPC's own backoff grows to minutes). No keepalive pings: a ping not
    // answered in time closes the connection with every call on it, and under load its answer can queue behind the
    // watch's backlog. The one 100,000-member run with pings (10 s, 5 s to answer) collapsed after an enroller was
    // killed; so did one of three runs without them, so they are not shown to be the cause (docs/SCALING.md, item 15).
    grpcOptions: { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1000 },
    // One more try on another host (a cluster member that just died), but
    // not after the deadline passed: the retry, sent with that deadline, would
    // fail at once, and etcd3 would close the second member's connections
    // too. A member that stops answering is skipped while another answers,
    // never waited for (the enroller answers "unavailable" and the member
    // retries, so waiting here would only delay both).
    faultHandling: {
      host: () => health.policy(),
      global: retry(handleWhen(retried), { maxAttempts: 1 }),
      // etcd3 calls next() on what it is given (a factory), though its types ask for a backoff.
      watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 2000 }) as never,
    },
  };
}

/**
 * etcd's refusal of a transaction too large for its limits (`--max-txn-ops`,
 * `--max-request-bytes`): what a batch of binds or confirms is refused for
 * when etcd runs with lower limits than its defaults, and each of them alone
 * would not be.
 */
export const TXN_TOO_LARGE = /too many operations in txn request|request is too large/;

/** `err` as a StoreError saying `what` failed, with a hint for the errors an operator meets first. */
export function storeError(what: string, err: unknown, prefix: string): StoreError {
  if (err instanceof StoreError) return err;
  const message = (err as Error).message;
  // What to check, for the errors an operator meets first.
  const hint = /permission denied/i.test(message)
    ? ` (does the etcd user's role grant read and write under ${prefix}?)`
    : /authentication failed|invalid user ID or password|user name is empty/i.test(message)
      ? ' (check the etcd user and password)'
      : /certificate|SSL|TLS|handshake/i.test(message)
        ? " (check the CA that signed etcd's certificate, and the client certificate and key)"
        : '';
  return new StoreError(`etcd: ${what}: ${message.replace(/\s*Resolution note:\s*$/, '')}${hint}`, { cause: err });
}
