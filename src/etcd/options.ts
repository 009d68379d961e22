/**
 * The options of the etcd address store: one zod schema, from which the
 * defaults and the validation come, the documented interface beside it,
 * checked against it; and its counters.
 *
 * @module
 */
import type { Etcd3 } from 'etcd3';
import * as z from 'zod/mini';
import { dependency, integerAtLeast, nameSchema, positive, type Same } from '../util/schema.js';

/** The longest lease TTL whose renewal (every TTL/3) and fence timers a Node.js timer can wait: 2^31 - 1 ms. */
const MAX_LEASE_TTL_SECS = 2_147_483;

/** A PEM text or its bytes. */
const pem = (what: string) =>
  z
    .union([z.string(), z.custom<Uint8Array>((v) => v instanceof Uint8Array)], { error: 'must be PEM text or its bytes' })
    .check(z.refine((v) => Buffer.from(v).toString('utf8').includes('-----BEGIN '), { error: `${what} must be PEM (-----BEGIN ...)` }));

/** The options schema of {@link EtcdAddressStore}: each option's rules (documented in {@link EtcdAddressStoreOptions}). */
export const etcdStoreOptionsSchema = z
  .strictObject({
    hosts: z.optional(
      z.union(
        [
          z.url({ error: 'must be a URL' }),
          z.array(z.url({ error: 'must be a URL' })).check(z.minLength(1, { error: 'must list at least one etcd URL' })),
        ],
        {
          error: 'must be an etcd URL or a non-empty array of them',
        },
      ),
    ),
    client: z.optional(dependency<Etcd3>('Etcd3 client', ['lease', 'watch', 'close'])),
    tls: z.optional(
      z
        .strictObject({
          ca: pem('tls.ca'),
          cert: z.optional(pem('tls.cert')),
          key: z.optional(pem('tls.key')),
        })
        .check(
          z.refine((t) => (t.cert === undefined) === (t.key === undefined), {
            path: ['cert'],
            error: 'give both cert and key, or neither',
          }),
        ),
    ),
    auth: z.optional(
      z.strictObject({
        username: z.string().check(z.minLength(1, { error: 'must be a non-empty string' })),
        password: z.string().check(z.minLength(1, { error: 'must be a non-empty string' })),
      }),
    ),
    difName: z.optional(nameSchema()),
    prefix: z.optional(nameSchema()),
    leaseTtlSecs: z._default(
      integerAtLeast(2).check(
        z.lte(MAX_LEASE_TTL_SECS, { error: `must be <= ${MAX_LEASE_TTL_SECS} s (its renewal timers must fit in a Node.js timer)` }),
      ),
      10,
    ),
    callTimeoutMs: z._default(positive(), 2000),
    maxTxnsInFlight: z._default(integerAtLeast(1), 64),
    txnTargetMs: z._default(positive(), 500),
  })
  .check(
    z.refine((o) => (o.hosts === undefined) !== (o.client === undefined), {
      path: ['hosts'],
      error: 'give exactly one of hosts and client',
    }),
    z.refine((o) => o.client === undefined || (o.tls === undefined && o.auth === undefined), {
      path: ['client'],
      error: 'tls and auth are for the client the store makes from hosts; configure your own client instead',
    }),
    z.refine((o) => o.prefix !== undefined || o.difName !== undefined, {
      path: ['difName'],
      error: 'give difName (for the default prefix) or prefix',
    }),
  );

/**
 * Options of {@link EtcdAddressStore}. (An interface written out beside its
 * schema, so that the published typings carry each option's documentation;
 * a compile-time check keeps the two the same.)
 */
export interface EtcdAddressStoreOptions {
  /**
   * etcd client URLs (`http://127.0.0.1:2379`); the store makes its own
   * client and closes it in {@link EtcdAddressStore.close}.
   */
  readonly hosts?: string | string[] | undefined;
  /** An etcd3 client of the caller's (who closes it), instead of `hosts`. */
  readonly client?: Etcd3 | undefined;
  /**
   * TLS to etcd (`https://` hosts): the CA that signed etcd's certificate,
   * and for etcd's `--client-cert-auth` this client's certificate chain and
   * key, all PEM. With `hosts` only.
   */
  readonly tls?:
    | {
        /** The CA certificate(s) to trust, PEM. */
        ca: string | Uint8Array;
        /** This client's certificate chain, PEM (with `key`). */
        cert?: string | Uint8Array | undefined;
        /** This client's private key, PEM (with `cert`). */
        key?: string | Uint8Array | undefined;
      }
    | undefined;
  /** etcd authentication (`etcdctl auth enable`): a user whose role grants read and write under `prefix`. With `hosts` only. */
  readonly auth?:
    | {
        /** The etcd user. */
        username: string;
        /** Its password (kept out of errors and logs). */
        password: string;
      }
    | undefined;
  /** The DIF's name: the default prefix is `/rina/<difName>/`. */
  readonly difName?: string | undefined;
  /** Every key lives under this prefix (it should end with `/`). A lone surrogate would be written as U+FFFD: refused. */
  readonly prefix?: string | undefined;
  /**
   * TTL of the enroller's etcd lease, in seconds: a dead enroller's
   * registration and member marks vanish this long after it died.
   * @default 10
   */
  readonly leaseTtlSecs?: number | undefined;
  /**
   * Bound on one etcd request, in ms, from when it is sent: past it the
   * enrollment in hand is answered "unavailable". A transaction may first
   * wait as long for a place among those in flight
   * (`maxTxnsInFlight`); one still waiting then is never sent.
   * @default 2000
   */
  readonly callTimeoutMs?: number | undefined;
  /**
   * The most transactions the store keeps in flight at etcd, counted in
   * bindings: a batch of binds, confirms or leaves takes a place per
   * binding it carries (it may overrun the window by its own weight less
   * one). The window
   * halves while etcd answers slower than `txnTargetMs` (unless etcd's
   * Status says it applies what it commits within `txnTargetMs`: the
   * answer was late for another reason, such as the machine's load),
   * never below 8 (or this, if smaller), and grows back by one per window
   * of quicker answers. Transactions beyond it wait
   * in the store, in order, up to `callTimeoutMs`. The reason: etcd renews
   * a lease only after applying everything committed before the keepalive,
   * and gives up after one second, so a backlog at etcd expires every
   * enroller's lease at once (docs/SCALING.md, "Where it breaks").
   * @default 64
   */
  readonly maxTxnsInFlight?: number | undefined;
  /**
   * The answer time, in ms, above which the store halves its window of
   * transactions in flight (`maxTxnsInFlight`), unless etcd would apply
   * its backlog within this time at the rate it applies (read from its
   * Status, at most four times a second, only while answers are slow).
   * Keep it well under the one second etcd waits for its backlog before
   * it refuses a lease renewal.
   * @default 500
   */
  readonly txnTargetMs?: number | undefined;
}

// The interface and the schema take the same options: a compile error otherwise.
true satisfies Same<EtcdAddressStoreOptions, z.input<typeof etcdStoreOptionsSchema>>;

/** Counters of an {@link EtcdAddressStore}, for tests and benchmarks. */
export interface EtcdStoreStats {
  /** Transactions sent: the sum of the six counters after it. */
  transactions: number;
  /** Transactions that bound names to addresses (new enrollments): one bind each, or up to 32: those asked for in one event-loop turn, and those that wait for a place in the window. */
  binds: number;
  /** Transactions that proved bindings again after a lapse (up to 32 bindings each). */
  confirms: number;
  /** Transactions that released a binding whose hold ended. */
  releases: number;
  /** Transactions that deleted this enroller's mark on a member that left it. */
  leaves: number;
  /** Transactions that deleted a stray mark of this enroller's (from a bind whose answer never came). */
  strayMarks: number;
  /** Transactions that registered the enroller under a new lease. */
  registrations: number;
  /** Binds refused because another enroller took the name or address first. */
  conflicts: number;
  /** Range reads (only {@link EtcdAddressStore.load} makes them). */
  rangeReads: number;
  /** Watch events applied. */
  watchEvents: number;
  /** Leases asked for after the lease was lost, failed attempts included (each retried with backoff). */
  leaseRenewals: number;
  /** Times the enroller's lease was lost (etcd said it expired, or did not answer in time): each one a fence. */
  leaseLapses: number;
  /**
   * Of {@link leaseLapses}, those where etcd did not answer whether the lease
   * was alive (the question of a doubt timed out or failed); the others, etcd
   * said the lease had expired (or the client gave it up after twice its TTL
   * with no answer).
   */
  leaseLapsesUnanswered: number;
  /**
   * Earlier leases (one lost, or one `close()` could not revoke) that etcd
   * still had when the keeper revoked them before proving anything under a
   * new one: after a lapse, a lease that was alive all the same (its answers
   * were late); the others had expired at etcd.
   */
  earlierLeasesAlive: number;
  /**
   * Times no keepalive was answered within the TTL and etcd was asked
   * whether the lease was alive all the same: at least `leaseDoubts -
   * leaseLapses` of them found it alive (no fence).
   */
  leaseDoubts: number;
  /**
   * Keepalives sent before their turn (a third of the TTL after the one
   * before) because that one was not answered alive within a sixth of the
   * TTL (at most 1 s): it failed, or an etcd member held it. The doubt's
   * questions are not counted.
   */
  leaseKeepalivesEarly: number;
  /** Times the window of transactions in flight halved (etcd answered slower than `txnTargetMs` and did not say it kept up, or failed). */
  txnWindowCuts: number;
  /** Transactions that waited in the store for a place in that window (binds sent together as one; a bind put back after its batch's wait ran out counts again). */
  txnsWaited: number;
  /** Waits given up in the store, never sent: no place in the window freed within `callTimeoutMs` (a batch of binds counts once; those of its binds with time left wait on). */
  txnsTimedOutWaiting: number;
  /** Answers slower than `txnTargetMs` that did not halve the window: etcd's Status said it applied what it committed in time. */
  txnsSlowEtcdNotBehind: number;
  /** Of `txnWindowCuts`, those for a failed transaction (etcd refused it, or it timed out). */
  txnWindowCutsFailed: number;
  /** Of `txnWindowCuts`, those for a slow answer while etcd's Status had said nothing lately (the rest: etcd said it was behind). */
  txnWindowCutsUnjudged: number;
  /** Times an etcd member that failed its last three calls was passed over (with `hosts` of several members, while another answers): calls sent to another member, and etcd3's reports of a stream's failure on a member already skipped. */
  etcdMembersSkipped: number;
  /** Status readings of etcd's raft progress (asked for by slow answers, at most four a second). */
  applyBacklogReadings: number;
  /** The largest apply backlog read: entries etcd had committed and not yet applied. */
  applyBacklogMax: number;
}

/** What a transaction of the store is for: the counter of {@link EtcdStoreStats} it counts in, besides `transactions`. */
export type TxnKind = 'binds' | 'confirms' | 'releases' | 'leaves' | 'strayMarks' | 'registrations';

/** Every counter of {@link EtcdStoreStats} at zero. */
export const zeroEtcdStats = (): EtcdStoreStats => ({
  transactions: 0,
  binds: 0,
  confirms: 0,
  releases: 0,
  leaves: 0,
  strayMarks: 0,
  registrations: 0,
  conflicts: 0,
  rangeReads: 0,
  watchEvents: 0,
  leaseRenewals: 0,
  leaseLapses: 0,
  leaseLapsesUnanswered: 0,
  earlierLeasesAlive: 0,
  leaseDoubts: 0,
  leaseKeepalivesEarly: 0,
  txnWindowCuts: 0,
  txnsWaited: 0,
  txnsTimedOutWaiting: 0,
  txnsSlowEtcdNotBehind: 0,
  txnWindowCutsFailed: 0,
  txnWindowCutsUnjudged: 0,
  etcdMembersSkipped: 0,
  applyBacklogReadings: 0,
  applyBacklogMax: 0,
});

/** The options as the schema leaves them. */
export type ResolvedEtcdStoreOptions = z.output<typeof etcdStoreOptionsSchema>;
