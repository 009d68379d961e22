/**
 * The options of an `EnrollmentManager`: one zod schema, from which the
 * option type, the defaults and the validation all come.
 *
 * @module
 */
import * as z from 'zod/mini';
import { authOptionsSchema } from '../auth/auth.js';
import { enrollmentConfigSchema } from '../config.js';
import type { Logger } from '../diagnostics.js';
import type { Rib } from '../rib/rib.js';
import type { Shim } from '../shim/shim.js';
import { clockSchema, dependency, nameSchema, randomSchema } from '../util/schema.js';
import { srvDiscoverySchema } from './srv.js';

/** A member's IPCP name: a non-empty, well-formed string (the string's error is also its checks' unless they name one). */
export const ipcpNameSchema = nameSchema();

// Defaults shared by every manager that leaves them out (frozen: ten thousand managers hold one of each).
const NO_LOWER_DIFS: readonly string[] = Object.freeze([]);
const NO_AUTH = Object.freeze({ mechanism: 'none' as const });

/** The schema of {@link EnrollmentManagerOptions}. */
export const managerOptionsSchema = z
  .strictObject({
    /** The N-1 transport to the bootstrap. The caller keeps ownership: `close()` does not close it. */
    shim: dependency<Shim>('Shim', ['send', 'onReceive', 'close']),
    /** The member's RIB: enrollment writes the synced objects and `/mgmt/address` into it. */
    rib: dependency<Rib>('Rib', ['read', 'write', 'delete', 'list']),
    /**
     * How the `srv:` entries of `config.bootstraps` are resolved: a resolver
     * (`{ resolver }`, anything with `resolveSrv`, `resolve4` and `resolve6`,
     * such as a `node:dns/promises` Resolver), or the DNS servers to ask
     * (`{ dnsServers: ['127.0.0.1:5353'] }`), and the address family. One
     * lookup is bounded by `timeoutMs`.
     * @default {} (the system's DNS servers; the family of the shim's address)
     */
    discovery: z.optional(srvDiscoverySchema),
    /** The member's IPCP name; or call `setIpcpName` later. */
    ipcpName: z.optional(ipcpNameSchema),
    /**
     * The DIF to join, sent as `dest_ap_name` of M_CONNECT: an enroller of
     * another DIF refuses it. Without it the member names the enroller by its
     * shim address, which our enrollers accept too.
     * @default undefined
     */
    difName: z.optional(nameSchema()),
    /**
     * Any subset of the configuration; the rest takes its defaults. Invalid values throw `ConfigError`.
     * @default {}
     */
    config: z.prefault(enrollmentConfigSchema, {}),
    /**
     * The DIFs the member can be reached through, sent in M_START.
     * @default []
     */
    lowerDifs: z._default(
      z.readonly(
        z.array(nameSchema('a DIF name (string)', 'must not be empty'), {
          error: 'must be an array of DIF names',
        }),
      ),
      () => NO_LOWER_DIFS,
    ),
    /**
     * Source of randomness in [0, 1) for the backoff jitter (inject a seeded one in tests).
     * @default Math.random
     */
    random: z.optional(randomSchema),
    /**
     * Where time is read and timers are set (any subset of `now`,
     * `setTimeout`, `clearTimeout`, `setInterval`, `clearInterval`; the rest
     * is the system's). With `node:test` mock timers, pass
     * `{ now: () => Date.now() }` (they do not fake `performance.now()`).
     * @default performance.now() and the global timers
     */
    clock: z.optional(clockSchema),
    /**
     * How the member proves itself to the enroller: `{ mechanism: 'passwd',
     * password }` (plaintext) or `{ mechanism: 'hmac-sha256', key }` (mutual;
     * needs `difName`). Kept out of `config`, errors and events.
     * @default { mechanism: 'none' }
     */
    auth: z._default(authOptionsSchema, () => NO_AUTH),
    /**
     * A pino-compatible logger (`debug`, `info`, `warn`, `error`, fields first).
     * @default undefined (silent)
     */
    logger: z.optional(dependency<Logger>('Logger', ['debug', 'info', 'warn', 'error'])),
  })
  .check(
    z.refine((o) => o.auth.mechanism !== 'hmac-sha256' || o.difName !== undefined, {
      path: ['difName'],
      error: 'is required with hmac-sha256 authentication (the proofs are bound to the DIF)',
    }),
  );

/**
 * Dependencies and settings of an `EnrollmentManager`.
 * @interface
 */
export type EnrollmentManagerOptions = z.input<typeof managerOptionsSchema>;

/** The options once validated, defaults applied. */
export type ManagerOptions = z.output<typeof managerOptionsSchema>;
