/**
 * The options of an `EnrollmentManager`: one zod schema, from which the
 * defaults and the validation come, and the documented
 * {@link EnrollmentManagerOptions} beside it, checked against it.
 *
 * @module
 */
import * as z from 'zod/mini';
import { type AuthOptions, authOptionsSchema } from '../auth/auth.js';
import { type EnrollmentConfigInput, enrollmentConfigSchema } from '../config.js';
import type { Logger } from '../diagnostics.js';
import type { Rib } from '../rib/rib.js';
import type { Shim } from '../shim/shim.js';
import type { Clock } from '../util/clock.js';
import { clockSchema, dependency, nameSchema, randomSchema, type Same } from '../util/schema.js';
import { type SrvDiscoveryOptions, srvDiscoverySchema } from './srv.js';

/** A member's IPCP name: a non-empty, well-formed string (the string's error is also its checks' unless they name one). */
export const ipcpNameSchema = nameSchema();

// Defaults shared by every manager that leaves them out (frozen: ten thousand managers hold one of each).
const NO_LOWER_DIFS: readonly string[] = Object.freeze([]);
const NO_AUTH = Object.freeze({ mechanism: 'none' as const });

/** The schema of {@link EnrollmentManagerOptions}. */
export const managerOptionsSchema = z
  .strictObject({
    shim: dependency<Shim>('Shim', ['send', 'onReceive', 'close']),
    rib: dependency<Rib>('Rib', ['read', 'write', 'delete', 'list']),
    discovery: z.optional(srvDiscoverySchema),
    ipcpName: z.optional(ipcpNameSchema),
    difName: z.optional(nameSchema()),
    config: z.prefault(enrollmentConfigSchema, {}),
    lowerDifs: z._default(
      z.readonly(
        z.array(nameSchema('a DIF name (string)', 'must not be empty'), {
          error: 'must be an array of DIF names',
        }),
      ),
      () => NO_LOWER_DIFS,
    ),
    random: z.optional(randomSchema),
    clock: z.optional(clockSchema),
    auth: z._default(authOptionsSchema, () => NO_AUTH),
    logger: z.optional(dependency<Logger>('Logger', ['debug', 'info', 'warn', 'error'])),
  })
  .check(
    z.refine((o) => o.auth.mechanism !== 'hmac-sha256' || o.difName !== undefined, {
      path: ['difName'],
      error: 'is required with hmac-sha256 authentication (the proofs are bound to the DIF)',
    }),
  );

/**
 * Dependencies and settings of an `EnrollmentManager`. (An interface written
 * out beside its schema, so that the published typings carry each option's
 * documentation; a compile-time check keeps the two the same.)
 */
export interface EnrollmentManagerOptions {
  /** The N-1 transport to the bootstrap. The caller keeps ownership: `close()` does not close it. */
  readonly shim: Shim;
  /** The member's RIB: enrollment writes the synced objects and `/mgmt/address` into it. */
  readonly rib: Rib;
  /**
   * How the `srv:` entries of `config.bootstraps` are resolved: a resolver
   * (`{ resolver }`, anything with `resolveSrv`, `resolve4` and `resolve6`,
   * such as a `node:dns/promises` Resolver), or the DNS servers to ask
   * (`{ dnsServers: ['127.0.0.1:5353'] }`), and the address family. One
   * lookup is bounded by `timeoutMs`.
   * @default {} (the system's DNS servers; the family of the shim's address)
   */
  readonly discovery?: SrvDiscoveryOptions | undefined;
  /** The member's IPCP name; or call `setIpcpName` later. */
  readonly ipcpName?: string | undefined;
  /**
   * The DIF to join, sent as `dest_ap_name` of M_CONNECT: an enroller of
   * another DIF refuses it. Without it the member names the enroller by its
   * shim address, which our enrollers accept too.
   * @default undefined
   */
  readonly difName?: string | undefined;
  /**
   * Any subset of the configuration; the rest takes its defaults. Invalid values throw `ConfigError`.
   * @default {}
   */
  readonly config?: EnrollmentConfigInput | undefined;
  /**
   * The DIFs the member can be reached through, sent in M_START.
   * @default []
   */
  readonly lowerDifs?: readonly string[] | undefined;
  /**
   * Source of randomness in [0, 1) for the backoff jitter (inject a seeded one in tests).
   * @default Math.random
   */
  readonly random?: (() => number) | undefined;
  /**
   * Where time is read and timers are set (any subset of `now`,
   * `setTimeout`, `clearTimeout`, `setInterval`, `clearInterval`; the rest
   * is the system's). With `node:test` mock timers, pass
   * `{ now: () => Date.now() }` (they do not fake `performance.now()`).
   * @default performance.now() and the global timers
   */
  readonly clock?: Partial<Clock> | undefined;
  /**
   * How the member proves itself to the enroller: `{ mechanism: 'passwd',
   * password }` (plaintext) or `{ mechanism: 'hmac-sha256', key }` (mutual;
   * needs `difName`). Kept out of `config`, errors and events.
   * @default { mechanism: 'none' }
   */
  readonly auth?: AuthOptions | undefined;
  /**
   * A pino-compatible logger (`debug`, `info`, `warn`, `error`, fields first).
   * @default undefined (silent)
   */
  readonly logger?: Logger | undefined;
}

// The interface and the schema take the same options: a compile error otherwise.
true satisfies Same<EnrollmentManagerOptions, z.input<typeof managerOptionsSchema>>;

/** The options once validated, defaults applied. */
export type ManagerOptions = z.output<typeof managerOptionsSchema>;
