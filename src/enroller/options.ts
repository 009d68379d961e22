/**
 * The enroller's options: one zod schema, from which the defaults and the
 * validation come, and the documented {@link EnrollerOptions} beside it (so
 * that the published typings carry each option's documentation), checked
 * against the schema at compile time.
 *
 * @module
 */
import * as z from 'zod/mini';
import { type AuthOptions, authOptionsSchema } from '../auth/auth.js';
import { dtConstantsSchema } from '../cdap/dt-constants.js';
import { DEFAULT_DT_CONSTANTS } from '../cdap/messages.js';
import type { DataTransferConstants } from '../cdap/types.js';
import { derivedRetransmitMs } from '../config.js';
import type { Logger } from '../diagnostics.js';
import type { Rib } from '../rib/rib.js';
import type { Shim } from '../shim/shim.js';
import type { AddressStore } from '../store/address-store.js';
import { type Clock, clockFrom } from '../util/clock.js';
import {
  clockSchema,
  dependency,
  integerAtLeast,
  lazySchema,
  nameSchema,
  nonNegative,
  parseWith,
  positive,
  randomSchema,
  type Same,
} from '../util/schema.js';

/** Enroller options, part: who the enroller is and what it hands out. */
const identityShape = () => ({
  shim: dependency<Shim>('Shim', ['send', 'onReceive', 'close']),
  rib: dependency<Rib>('Rib', ['read', 'write', 'delete', 'list']),
  store: z.optional(dependency<AddressStore>('AddressStore', ['load', 'bind', 'release'])),
  ipcpName: nameSchema(),
  difName: nameSchema(),
  addressPool: z.strictObject({ first: integerAtLeast(1), last: integerAtLeast(1) }),
  dtConstants: z.optional(dtConstantsSchema()),
});

/** Enroller options, part: its timers, and the addresses it advertises. */
const timingShape = () => ({
  retransmitMs: z.optional(positive()),
  pendingTimeoutMs: z._default(positive(), 30_000),
  leaseMs: z._default(positive(), 90_000),
  holdMs: z._default(nonNegative(), 300_000),
  alternates: z._default(
    z.array(z.string().check(z.minLength(1, { error: 'must not be empty' })), { error: 'must be an array of shim addresses' }),
    [],
  ),
  advertisedAddress: z.optional(z.string().check(z.minLength(1, { error: 'must not be empty' }))),
});

/** Enroller options, part: whom it admits, and how many at a time. */
const admissionShape = () => ({
  auth: z._default(authOptionsSchema, { mechanism: 'none' }),
  allowedNames: z.optional(
    z.array(z.string().check(z.minLength(1, { error: 'must not be empty' })), { error: 'must be an array of IPCP names' }),
  ),
  maxPduBytes: z._default(integerAtLeast(64), 8192),
  maxPendingEnrollments: z.optional(integerAtLeast(1)),
  maxStoreWaitMs: z._default(positive(), 1000),
  maxMembers: z._default(integerAtLeast(1), 1_000_000),
  releasePerSecond: z._default(integerAtLeast(1), 1000),
  ratePerSecond: z._default(positive(), 100),
  rateBurst: z._default(integerAtLeast(1), 200),
  maxTrackedPeers: z._default(integerAtLeast(1), 10_000),
});

/** Enroller options, part: what tests and operators inject. */
const injectedShape = () => ({
  logger: z.optional(dependency<Logger>('Logger', ['debug', 'info', 'warn', 'error'])),
  clock: z.optional(clockSchema),
  random: z.optional(randomSchema),
});

/** The enroller's options schema: the rules of each option (documented in {@link EnrollerOptions}). */
export const enrollerOptionsSchema = lazySchema(() =>
  z.strictObject({ ...identityShape(), ...timingShape(), ...admissionShape(), ...injectedShape() }).check(
    z.refine((o) => o.retransmitMs === undefined || o.retransmitMs <= o.pendingTimeoutMs / 2, {
      path: ['retransmitMs'],
      error: (issue) => {
        const o = issue.input as { retransmitMs: number; pendingTimeoutMs: number };
        return (
          `must be at most half of pendingTimeoutMs (retransmitMs ${o.retransmitMs} > pendingTimeoutMs ${o.pendingTimeoutMs} / 2): ` +
          'M_STOP, sent after the first exchange, would go only once; leave retransmitMs unset to derive it as min(250, pendingTimeoutMs / 4)'
        );
      },
    }),
    z.refine((o) => o.addressPool.last >= o.addressPool.first, {
      path: ['addressPool', 'last'],
      error: 'must be >= addressPool.first',
    }),
    z.refine(
      (o) => {
        const width = (o.dtConstants ?? DEFAULT_DT_CONSTANTS).addressWidth ?? 4;
        return o.addressPool.last <= Math.min(Number.MAX_SAFE_INTEGER, 2 ** (8 * width) - 1);
      },
      { path: ['addressPool', 'last'], error: 'must fit in dtConstants.addressWidth bytes (4 by default)' },
    ),
  ),
);

/**
 * Options of {@link Enroller}. (An interface written out, not the type inferred from the schema below, so that the
 * published typings carry each option's documentation; the schema holds the rules, and a compile-time check keeps
 * the two the same.)
 */
export interface EnrollerOptions {
  /** The N-1 transport the enroller listens on. */
  readonly shim: Shim;
  /** The enroller's RIB; every object outside `/mgmt/` is synced to members. */
  readonly rib: Rib;
  /**
   * Where the address table is kept: a `FileAddressStore` makes it survive
   * restarts.
   * @default a MemoryAddressStore
   */
  readonly store?: AddressStore | undefined;
  /** The enroller's own IPCP name (members connect to it, or to the DIF's name). */
  readonly ipcpName: string;
  /** The DIF's name, returned to every member. */
  readonly difName: string;
  /** The addresses the enroller may assign (inclusive), within `dtConstants.addressWidth` bytes. */
  readonly addressPool: {
    /** The first address of the pool, >= 1. */
    first: number;
    /** The last address, included; >= `first`. */
    last: number;
  };
  /**
   * Data-transfer constants sent in M_START_R.
   * @default rlite's defaults (address width 4 bytes, ...)
   */
  readonly dtConstants?: z.input<ReturnType<typeof dtConstantsSchema>> | undefined;
  /**
   * First interval, in ms, at which M_STOP is sent again while its M_STOP_R
   * is missing; doubles up to 8 times that. Left unset it is
   * `min(250, pendingTimeoutMs / 4)`; set, it must be at most
   * `pendingTimeoutMs / 2` (else M_STOP would be sent only once).
   * @default min(250, pendingTimeoutMs / 4)
   */
  readonly retransmitMs?: number | undefined;
  /**
   * A half-finished enrollment whose member has sent nothing for this many
   * ms is forgotten (counted from its last message, not from M_CONNECT: a
   * slow but live member is not cut off mid-enrollment), and any
   * enrollment four times this after its M_CONNECT.
   * @default 30000
   */
  readonly pendingTimeoutMs?: number | undefined;
  /**
   * A member silent (no keepalive, no message) for this many ms is gone:
   * it leaves the member list (`member:gone`). Match it to the members'
   * `connectionTimeoutSecs`.
   * @default 90000
   */
  readonly leaseMs?: number | undefined;
  /**
   * A gone or released member's address stays bound to its name this many
   * ms before anyone else may get it, so a member back from a partition gets
   * the same address.
   * @default 300000
   */
  readonly holdMs?: number | undefined;
  /**
   * Shim addresses of other enrollers of the DIF, advertised in every
   * M_START_R (EnrollmentInfo field 18) so members can fail over to them.
   * @default []
   */
  readonly alternates?: string[] | undefined;
  /**
   * The shim address members reach this enroller at, as a shared store
   * registers it for the other enrollers to advertise. Set it when the shim
   * listens on a wildcard address (`0.0.0.0:7000`).
   * @default the shim's `localAddress`
   */
  readonly advertisedAddress?: string | undefined;
  /**
   * What members must prove: `{ mechanism: 'none' }`, `'passwd'` (plaintext,
   * trusted lower networks only) or `'hmac-sha256'` (mutual, pre-shared key).
   * @default { mechanism: 'none' }
   */
  readonly auth?: AuthOptions | undefined;
  /**
   * If set, only these IPCP names may enrol.
   * @default undefined (any name)
   */
  readonly allowedNames?: string[] | undefined;
  /**
   * PDUs larger than this are dropped unread.
   * @default 8192
   */
  readonly maxPduBytes?: number | undefined;
  /**
   * Enrollments in progress at once (about 1.8 KB of heap each); a CONNECT
   * beyond them is answered "busy" (-5) with when to ask again.
   * @default 8192 with a store of one enroller; 1024 with a shared store (etcd)
   */
  readonly maxPendingEnrollments?: number | undefined;
  /**
   * A CONNECT is answered "busy" (-5) while the address store completes
   * binds so slowly that one started now would wait longer than this (from
   * the binds in flight and the time between the store's last completions):
   * admitted, the member would give up before its address was stored. A
   * store of one enroller answers at once and never waits; this matters for
   * a shared store under load (etcd). The default is a fifth of a member's
   * default `timeoutMs`.
   * @default 1000
   */
  readonly maxStoreWaitMs?: number | undefined;
  /**
   * Members at most; an enrollment beyond is refused.
   * @default 1000000
   */
  readonly maxMembers?: number | undefined;
  /**
   * How many members a second {@link Enroller.stop} releases (M_RELEASE):
   * released, they all enrol again at once, elsewhere. This many at once
   * (enrollments in progress first), then as many again each second: a stop
   * with `n` members takes `ceil(n / releasePerSecond) - 1` seconds more,
   * and up to 1 s for the last sends. It waits on the enroller's clock (with
   * fake timers, advance them). At 100,000 members, one enroller releasing its
   * 12,032 at once collapsed the other nine (docs/SCALING.md, item 16).
   * @default 1000
   */
  readonly releasePerSecond?: number | undefined;
  /**
   * Per shim address, messages per second allowed on average (a token
   * bucket of `rateBurst` tokens); the excess is dropped unread.
   * @default 100
   */
  readonly ratePerSecond?: number | undefined;
  /**
   * Size of each shim address's token bucket: the burst allowed above `ratePerSecond`.
   * @default 200
   */
  readonly rateBurst?: number | undefined;
  /**
   * Shim addresses whose rate the enroller remembers; beyond, the least
   * recently heard is forgotten, so a flood from many addresses cannot grow
   * memory without bound.
   * @default 10000
   */
  readonly maxTrackedPeers?: number | undefined;
  /**
   * A pino-compatible logger (`debug`, `info`, `warn`, `error`, fields first).
   * @default undefined (silent)
   */
  readonly logger?: Logger | undefined;
  /**
   * Where the enroller reads the time and sets its timers (leases, holds,
   * liveness probes, M_STOP retransmission, rate buckets): any of `now`,
   * `setTimeout`, `clearTimeout`, `setInterval`, `clearInterval`; what is
   * left out is the system's. Its timers are unref'd. Inject one to drive
   * an enroller in tests (its periodic checks then run on a wheel of its own).
   * @default the system clock (`performance.now()` and the global timers, read at each call)
   */
  readonly clock?: Partial<Clock> | undefined;
  /**
   * Source of randomness in [0, 1): with a shared store, the point of the
   * pool from which a free address is probed (inject a seeded one in tests).
   * @default Math.random
   */
  readonly random?: (() => number) | undefined;
}

// The interface and the schema take the same options: a compile error otherwise.
true satisfies Same<EnrollerOptions, z.input<ReturnType<typeof enrollerOptionsSchema>>>;

/** The options as the schema leaves them: defaults applied, everything checked. */
export type ResolvedEnrollerOptions = z.output<ReturnType<typeof enrollerOptionsSchema>>;

/**
 * The default bound on enrollments in progress. With a store of one enroller, what the enroller itself completes
 * in a quarter of a member's attempt; with a shared store, each enrollment is an etcd transaction, and the store,
 * shared by every enroller, completes far fewer: 8,192 in progress at each of 10 enrollers made a 20,000-member
 * join on etcd collapse where 1,024 did not (bench/README.md, "Busy").
 */
export const DEFAULT_MAX_PENDING = { single: 8192, shared: 1024 } as const;

/** The options every part of the enroller reads: the resolved ones, and what follows from them. */
export interface EnrollerSettings extends Omit<ResolvedEnrollerOptions, 'clock' | 'random' | 'maxPendingEnrollments'> {
  /** As set, or {@link DEFAULT_MAX_PENDING} for the store. */
  readonly maxPendingEnrollments: number;
  /** As set, or `min(250, pendingTimeoutMs / 4)`. */
  readonly retransmitMs: number;
  /** As set, or rlite's defaults. */
  readonly dtConstants: DataTransferConstants;
  /** As set, or the shim's `localAddress`. */
  readonly advertisedAddress: string;
  /** The configured alternates, each once, without this enroller's own addresses. */
  readonly alternates: string[];
  /** The clock, whole. */
  readonly clock: Clock;
  /** The randomness. */
  readonly random: () => number;
}

/** Validates `options` (throws `ConfigError` naming each invalid one) and derives the settings. */
export function resolveEnrollerOptions(options: EnrollerOptions): EnrollerSettings {
  const o = parseWith(enrollerOptionsSchema(), options);
  const advertisedAddress = o.advertisedAddress ?? o.shim.localAddress;
  return {
    ...o,
    retransmitMs: o.retransmitMs ?? derivedRetransmitMs(o.pendingTimeoutMs),
    // (a store with open() is shared: see sharedCapabilities)
    maxPendingEnrollments: o.maxPendingEnrollments ?? DEFAULT_MAX_PENDING[o.store?.open === undefined ? 'single' : 'shared'],
    dtConstants: o.dtConstants ?? DEFAULT_DT_CONSTANTS,
    advertisedAddress,
    alternates: [...new Set(o.alternates.filter((a) => a !== o.shim.localAddress && a !== advertisedAddress))],
    clock: clockFrom(o.clock),
    random: o.random ?? Math.random,
  };
}
