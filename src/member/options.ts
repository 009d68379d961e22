/**
 * The options of an `EnrollmentManager`: one zod schema, from which the
 * option type, the defaults and the validation all come.
 *
 * @module
 */
import { z } from 'zod';
import { authOptionsSchema } from '../auth/auth.js';
import { enrollmentConfigSchema } from '../config.js';
import type { Logger } from '../diagnostics.js';
import type { Rib } from '../rib/rib.js';
import type { Shim } from '../shim/shim.js';
import { clockSchema, dependency, randomSchema } from '../util/schema.js';
import { srvDiscoverySchema } from './srv.js';

/** A member's IPCP name: a non-empty, well-formed string. */
export const ipcpNameSchema = z
  .string({ error: 'must be a non-empty string' })
  .min(1, { error: 'must be a non-empty string' })
  .refine((name) => name.isWellFormed(), { error: 'must be well-formed Unicode (no lone surrogates)' });

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
    discovery: srvDiscoverySchema.optional(),
    /** The member's IPCP name; or call `setIpcpName` later. */
    ipcpName: ipcpNameSchema.optional(),
    /**
     * The DIF to join, sent as `dest_ap_name` of M_CONNECT: an enroller of
     * another DIF refuses it. Without it the member names the enroller by its
     * shim address, which our enrollers accept too.
     * @default undefined
     */
    difName: z.string({ error: 'must be a non-empty string' }).min(1, { error: 'must be a non-empty string' }).optional(),
    /**
     * Any subset of the configuration; the rest takes its defaults. Invalid values throw `ConfigError`.
     * @default {}
     */
    config: enrollmentConfigSchema.prefault({}),
    /**
     * The DIFs the member can be reached through, sent in M_START.
     * @default []
     */
    lowerDifs: z
      .array(z.string({ error: 'must be a DIF name (string)' }).min(1, { error: 'must not be empty' }), {
        error: 'must be an array of DIF names',
      })
      .readonly()
      .default([]),
    /**
     * Source of randomness in [0, 1) for the backoff jitter (inject a seeded one in tests).
     * @default Math.random
     */
    random: randomSchema.optional(),
    /**
     * Where time is read and timers are set (any subset of `now`,
     * `setTimeout`, `clearTimeout`, `setInterval`, `clearInterval`; the rest
     * is the system's). With `node:test` mock timers, pass
     * `{ now: () => Date.now() }` (they do not fake `performance.now()`).
     * @default performance.now() and the global timers
     */
    clock: clockSchema.optional(),
    /**
     * How the member proves itself to the enroller: `{ mechanism: 'passwd',
     * password }` (plaintext) or `{ mechanism: 'hmac-sha256', key }` (mutual;
     * needs `difName`). Kept out of `config`, errors and events.
     * @default { mechanism: 'none' }
     */
    auth: authOptionsSchema.default({ mechanism: 'none' }),
    /**
     * A pino-compatible logger (`debug`, `info`, `warn`, `error`, fields first).
     * @default undefined (silent)
     */
    logger: dependency<Logger>('Logger', ['debug', 'info', 'warn', 'error']).optional(),
  })
  .refine((o) => o.auth.mechanism !== 'hmac-sha256' || o.difName !== undefined, {
    path: ['difName'],
    error: 'is required with hmac-sha256 authentication (the proofs are bound to the DIF)',
  });

/**
 * Dependencies and settings of an `EnrollmentManager`.
 * @interface
 */
export type EnrollmentManagerOptions = z.input<typeof managerOptionsSchema>;

/** The options once validated, defaults applied. */
export type ManagerOptions = z.output<typeof managerOptionsSchema>;
