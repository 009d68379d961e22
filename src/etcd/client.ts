/**
 * The etcd client the store makes from `hosts` (TLS, authentication, quick
 * reconnects, no circuit breaker), and the errors it reports.
 *
 * @module
 */
import { ExponentialBackoff, handleWhen, noop, retry } from 'cockatiel';
import { Etcd3, isRecoverableError } from 'etcd3';
import { StoreError } from '../errors.js';
import type { ResolvedEtcdStoreOptions } from './options.js';

/** A client for `options.hosts`, with its TLS and authentication. */
export function makeEtcdClient(options: ResolvedEtcdStoreOptions): Etcd3 {
  const { tls, auth } = options;
  return new Etcd3({
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
    ...(auth === undefined ? {} : { auth: { username: auth.username, password: auth.password } }),
    dialTimeout: options.callTimeoutMs,
    // Reconnect quickly once etcd is back (gRPC's own backoff grows to minutes).
    grpcOptions: { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1000 },
    // One more try on another host (a cluster member that just died), and
    // no circuit breaker: the enroller answers "unavailable" and the
    // member retries, so waiting here would only delay both.
    faultHandling: {
      host: () => noop,
      global: retry(handleWhen(isRecoverableError), { maxAttempts: 1 }),
      // etcd3 calls next() on what it is given (a factory), though its types ask for a backoff.
      watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 2000 }) as never,
    },
  });
}

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
