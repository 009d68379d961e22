/**
 * Every error this library throws is an {@link EnrollmentError}: callers branch
 * on `instanceof` or on the literal-typed `code`. The causing error, when there
 * is one, is forwarded as `cause`.
 *
 * @module
 */

/** The `code` of every error class, one per failure. */
export type EnrollmentErrorCode =
  | 'ENROLLMENT_TIMEOUT'
  | 'NO_BOOTSTRAP_PEERS'
  | 'ENROLLMENT_REJECTED'
  | 'ENROLLMENT_ABORTED'
  | 'ENROLLMENT_IN_PROGRESS'
  | 'MANAGER_CLOSED'
  | 'PROTOCOL_ERROR'
  | 'SHIM_ERROR'
  | 'RIB_ERROR'
  | 'STORE_ERROR'
  | 'NOT_ENROLLED'
  | 'IPCP_NAME_NOT_SET'
  | 'CONFIG_ERROR'
  | 'DISCOVERY_ERROR'
  | 'MISSING_DEPENDENCY';

/**
 * Base class of every error the library throws. Each subclass narrows `code`
 * to its own literal. `instanceof EnrollmentError` gives `code` as the union
 * of every code; {@link isEnrollmentError} narrows to {@link AnyEnrollmentError},
 * whose `code` then narrows to the class (`err.code === 'ENROLLMENT_REJECTED'`
 * gives `err.reason`).
 */
export class EnrollmentError extends Error {
  /** Stable, machine-readable identifier of the failure. */
  readonly code: EnrollmentErrorCode;

  constructor(code: EnrollmentErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'EnrollmentError';
  }
}

/**
 * `err` as one of the library's errors: its own as they are; anything else
 * (a user's RIB, store or shim throwing its own) wrapped in `Wrap`, the
 * message saying `what` failed, `err` the cause.
 */
export function libraryError(
  err: unknown,
  Wrap: new (message: string, options: { cause: unknown }) => EnrollmentError,
  what: string,
): EnrollmentError {
  if (err instanceof EnrollmentError) return err;
  return new Wrap(`${what}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

/** Every attempt of an enrollment ran out of time (`timeoutMs` each). */
export class EnrollmentTimeoutError extends EnrollmentError {
  declare readonly code: 'ENROLLMENT_TIMEOUT';
  /** How many attempts were made before giving up. */
  readonly attempts: number;

  constructor(attempts: number, bootstrap: string, options?: { cause?: unknown }) {
    // An attempt answered "unavailable" or "busy" ends like a timeout; say so, or the cause hides behind the word.
    const cause = options?.cause as { code?: unknown; result?: unknown; reason?: unknown; message?: unknown } | undefined;
    const answered =
      cause?.code === 'ENROLLMENT_REJECTED'
        ? `; the last answer was result ${String(cause.result)}: ${String(cause.reason)}`
        : cause?.code === 'SHIM_ERROR'
          ? `; the last attempt could not send: ${String(cause.message)}`
          : '';
    super(
      'ENROLLMENT_TIMEOUT',
      `enrollment with bootstrap "${bootstrap}" timed out after ${attempts} attempt${attempts === 1 ? '' : 's'}${answered}`,
      options,
    );
    this.name = 'EnrollmentTimeoutError';
    this.attempts = attempts;
  }
}

/** Re-enrollment was asked for, but no bootstrap is known (the member never enrolled). */
export class NoBootstrapPeersError extends EnrollmentError {
  declare readonly code: 'NO_BOOTSTRAP_PEERS';
  constructor(message = 'no bootstrap peer is known: enrol with a bootstrap first') {
    super('NO_BOOTSTRAP_PEERS', message);
    this.name = 'NoBootstrapPeersError';
  }
}

/**
 * The enroller answered with a negative result. Final: the library does not
 * retry a rejection.
 */
export class EnrollmentRejectedError extends EnrollmentError {
  declare readonly code: 'ENROLLMENT_REJECTED';
  /** The enroller's `result_reason`, or a description when it sent none. */
  readonly reason: string;
  /** The enroller's (negative) `result` code. */
  readonly result: number;

  constructor(result: number, reason: string, options?: { cause?: unknown }) {
    // The reason says who refused whom: almost always the enroller; for a wrong
    // HMAC key, this member refusing the enroller's proof.
    super('ENROLLMENT_REJECTED', `enrollment rejected (result ${result}): ${reason}`, options);
    this.name = 'EnrollmentRejectedError';
    this.result = result;
    this.reason = reason;
  }
}

/** The caller's `AbortSignal` fired, or the manager was closed, while an enrollment ran. */
export class EnrollmentAbortedError extends EnrollmentError {
  declare readonly code: 'ENROLLMENT_ABORTED';
  constructor(message = 'enrollment aborted by the caller', options?: { cause?: unknown }) {
    super('ENROLLMENT_ABORTED', message, options);
    this.name = 'EnrollmentAbortedError';
  }
}

/** An enrollment with another bootstrap is already running on this manager. */
export class EnrollmentInProgressError extends EnrollmentError {
  declare readonly code: 'ENROLLMENT_IN_PROGRESS';
  constructor(message: string) {
    super('ENROLLMENT_IN_PROGRESS', message);
    this.name = 'EnrollmentInProgressError';
  }
}

/** The manager was closed; it cannot be used again. */
export class ManagerClosedError extends EnrollmentError {
  declare readonly code: 'MANAGER_CLOSED';
  constructor(message = 'the enrollment manager is closed') {
    super('MANAGER_CLOSED', message);
    this.name = 'ManagerClosedError';
  }
}

/**
 * A PDU could not be decoded, or a message breaks the CDAP field rules
 * (on decode or on encode). When the op code and invoke id could be read they
 * are kept, so that a receiver can answer with a failure result.
 */
export class ProtocolError extends EnrollmentError {
  declare readonly code: 'PROTOCOL_ERROR';
  /** The op code of the offending message, when it could be read. */
  readonly opCode: number | undefined;
  /** The invoke id of the offending message, when it could be read. */
  readonly invokeId: number | undefined;

  constructor(message: string, options?: { cause?: unknown; opCode?: number | undefined; invokeId?: number | undefined }) {
    super('PROTOCOL_ERROR', message, options);
    this.name = 'ProtocolError';
    this.opCode = options?.opCode;
    this.invokeId = options?.invokeId;
  }
}

/** The shim (N-1 transport) refused or failed an operation. */
export class ShimError extends EnrollmentError {
  declare readonly code: 'SHIM_ERROR';
  /**
   * The destination a send was refused for, when the refusal is that address's (not one this shim can send to),
   * not the shim's (closed, a PDU too large): a member then moves on to its next bootstrap.
   */
  readonly destination: string | undefined;

  constructor(message: string, options?: { cause?: unknown; destination?: string | undefined }) {
    super('SHIM_ERROR', message, options);
    this.name = 'ShimError';
    this.destination = options?.destination;
  }
}

/** A RIB operation was given an invalid object or name. */
export class RibError extends EnrollmentError {
  declare readonly code: 'RIB_ERROR';
  constructor(message: string, options?: { cause?: unknown }) {
    super('RIB_ERROR', message, options);
    this.name = 'RibError';
  }
}

/** The enroller's address store could not read or write its table. */
export class StoreError extends EnrollmentError {
  declare readonly code: 'STORE_ERROR';
  constructor(message: string, options?: { cause?: unknown }) {
    super('STORE_ERROR', message, options);
    this.name = 'StoreError';
  }
}

/** The operation needs an enrolled member. */
export class NotEnrolledError extends EnrollmentError {
  declare readonly code: 'NOT_ENROLLED';
  constructor(message = 'the member is not enrolled') {
    super('NOT_ENROLLED', message);
    this.name = 'NotEnrolledError';
  }
}

/** Enrollment needs the member's IPCP name: pass `ipcpName` or call `setIpcpName()`. */
export class IpcpNameNotSetError extends EnrollmentError {
  declare readonly code: 'IPCP_NAME_NOT_SET';
  constructor() {
    super('IPCP_NAME_NOT_SET', 'the IPCP name is not set: pass ipcpName or call setIpcpName() before enrolling');
    this.name = 'IpcpNameNotSetError';
  }
}

/** One problem found in a configuration: the field and the rule it breaks. */
export interface ConfigIssue {
  /** Dotted path of the offending field, e.g. `timeoutMs` or `addressPool.last`. */
  readonly field: string;
  /** The rule the value breaks, in words. */
  readonly rule: string;
}

/** A configuration or option value is invalid. Names every offending field and its rule. */
export class ConfigError extends EnrollmentError {
  declare readonly code: 'CONFIG_ERROR';
  /** Every problem found, in schema order. */
  readonly issues: readonly ConfigIssue[];
  /** The first offending field (shortcut for `issues[0].field`). */
  readonly field: string;

  constructor(issues: readonly ConfigIssue[], options?: { cause?: unknown }) {
    const text = issues.map((i) => `${i.field}: ${i.rule}`).join('; ');
    super('CONFIG_ERROR', `invalid configuration: ${text}`, options);
    this.name = 'ConfigError';
    this.issues = issues;
    this.field = issues[0]?.field ?? '';
  }
}

/**
 * The enrollers of an `srv:` bootstrap entry could not be found: the DNS
 * lookup failed or timed out, the name has no SRV records, its targets have no
 * address, or the records say the service is not available here (target
 * `.`). `enrol()` rejects with it when there is no other bootstrap to try;
 * the monitor's recovery retries it with backoff.
 */
export class DiscoveryError extends EnrollmentError {
  declare readonly code: 'DISCOVERY_ERROR';
  /** The SRV name looked up, e.g. `_rina-enroll._udp.example.com`. */
  readonly srvName: string;

  constructor(srvName: string, message: string, options?: { cause?: unknown }) {
    super('DISCOVERY_ERROR', `cannot discover enrollers at ${srvName}: ${message}`, options);
    this.name = 'DiscoveryError';
    this.srvName = srvName;
  }
}

/**
 * A part of the library that needs an optional peer package was used without
 * it: `rina-enrollment/etcd` without `etcd3`, the CLI's `--metrics-listen`
 * without `prom-client`. The message says which command installs it.
 */
export class MissingDependencyError extends EnrollmentError {
  declare readonly code: 'MISSING_DEPENDENCY';
  /** The packages to install. */
  readonly packages: readonly string[];
  /** The command that installs them, e.g. `npm install etcd3`. */
  readonly installCommand: string;

  /** `feature`: what needs them, e.g. `rina-enrollment/etcd`. */
  constructor(feature: string, packages: readonly string[], options?: { cause?: unknown }) {
    const installCommand = `npm install ${packages.join(' ')}`;
    super(
      'MISSING_DEPENDENCY',
      `${feature} needs ${packages.join(' and ')}, an optional peer dependency of rina-enrollment: install it with \`${installCommand}\``,
      options,
    );
    this.name = 'MissingDependencyError';
    this.packages = packages;
    this.installCommand = installCommand;
  }
}

/** Any error the library throws, as a union its `code` discriminates. */
export type AnyEnrollmentError =
  | EnrollmentTimeoutError
  | NoBootstrapPeersError
  | EnrollmentRejectedError
  | EnrollmentAbortedError
  | EnrollmentInProgressError
  | ManagerClosedError
  | ProtocolError
  | ShimError
  | RibError
  | StoreError
  | NotEnrolledError
  | IpcpNameNotSetError
  | ConfigError
  | DiscoveryError
  | MissingDependencyError;

/**
 * Whether `err` is one of the library's errors, narrowed to {@link AnyEnrollmentError}: after it, a test of
 * `err.code` narrows `err` to that code's class and its fields.
 */
export function isEnrollmentError(err: unknown): err is AnyEnrollmentError {
  return err instanceof EnrollmentError;
}
