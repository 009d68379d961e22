/**
 * The member's public vocabulary: its state union, its events, and the
 * shapes its methods return.
 *
 * @module
 */
import type { AnyEnrollmentError } from '../errors.js';

/** Where the member stands; one discriminated union, read as `mgr.state`. */
export type EnrollmentState =
  | {
      /** Not enrolled and no enrollment running: before the first one, after a failure, or after a loss while not monitoring. */
      readonly type: 'idle';
    }
  | {
      /** An enrollment (`enrol()` / `enrolWithBootstrap()`) is running. */
      readonly type: 'enrolling';
      /** The shim address of the bootstrap of the current attempt. */
      readonly bootstrap: string;
      /** The current attempt's number in this enrollment, from 1. */
      readonly attempt: number;
    }
  | {
      /** Enrolled. */
      readonly type: 'enrolled';
      /** The shim address of the bootstrap it enrolled with. */
      readonly bootstrap: string;
      /** The DIF address assigned. */
      readonly address: number;
      /** The DIF's name. */
      readonly difName: string;
      /** `Date.now()` when the enrollment completed. */
      readonly since: number;
    }
  | {
      /** A re-enrollment (`reEnroll()`, or the monitor's recovery after a loss) is running. */
      readonly type: 'reenrolling';
      /** The bootstrap of the current attempt. */
      readonly bootstrap: string;
      /** The current attempt's number in this re-enrollment, from 1. */
      readonly attempt: number;
      /** The address held before, asked for again. */
      readonly previousAddress: number | undefined;
    }
  | {
      /** Closed by `close()`; final. */
      readonly type: 'closed';
    };

/**
 * Why the connection counts as lost.
 * @inline
 */
export type LossReason = 'timeout' | 'keepalive-refused' | 'released' | 'reenroll-failed';

/** Events of an {@link EnrollmentManager}. A listener that throws is reported as a process warning and does not break the manager. */
export interface EnrollmentEvents {
  /** Every change of {@link EnrollmentManager.state}. */
  'state:change': [state: EnrollmentState, previous: EnrollmentState];
  /** An enrollment or re-enrollment completed. */
  enrolled: [
    info: {
      /** The DIF address assigned. */
      address: number;
      /** The DIF's name: from M_START_R, else the synced `/dif/config/name`, else the bootstrap's shim address. */
      difName: string;
      /** The shim address of the bootstrap. */
      bootstrap: string;
    },
  ];
  /**
   * Once per outage: the bootstrap was silent for `connectionTimeoutSecs`
   * (`timeout`), refused a keepalive (`keepalive-refused`), released the
   * member (`released`), or a re-enrollment asked for failed while monitoring
   * (`reenroll-failed`).
   */
  'connection:lost': [
    info: {
      /** The shim address of the bootstrap lost. */
      bootstrap: string;
      /** Milliseconds since the last heartbeat. */
      silentMs: number;
      /** Why the connection counts as lost. */
      reason: LossReason;
    },
  ];
  /**
   * The enroller assigned another address than the one the member held
   * (it asked for it back, but the enroller has another pool, or gave it
   * away): the IPCP must renumber. `/mgmt/address` already holds the new one.
   */
  'address:change': [
    info: {
      /** The address held before. */
      previous: number;
      /** The address assigned now. */
      address: number;
      /** The shim address of the bootstrap that assigned it. */
      bootstrap: string;
    },
  ];
  /** A re-enrollment attempt starts; `nextDelayMs` is the backoff this bootstrap gets should it fail. */
  'reenroll:attempt': [
    info: {
      /** The attempt's number in this re-enrollment, from 1. */
      attempt: number;
      /** The shim address of the bootstrap tried. */
      bootstrap: string;
      /** The backoff, in ms, this bootstrap gets should the attempt fail. */
      nextDelayMs: number;
    },
  ];
  /** A re-enrollment completed; once per recovery. */
  'reenroll:success': [
    info: {
      /** Attempts the re-enrollment took. */
      attempts: number;
      /** The shim address of the bootstrap that enrolled the member. */
      bootstrap: string;
      /** The DIF address assigned now. */
      address: number;
      /** The address held before (asked for again), if any. */
      previousAddress: number | undefined;
      /** Milliseconds from the detection of the loss (or from the start of the re-enrollment) to being enrolled again. */
      recoveryMs: number;
    },
  ];
  /** A re-enrollment attempt failed; `retryInMs` is the wait before the next one, undefined when giving up. */
  'reenroll:failure': [
    info: {
      /** The attempt's number in this re-enrollment, from 1. */
      attempt: number;
      /** The shim address of the bootstrap tried, or the `srv:` entry whose lookup failed when no bootstrap was known. */
      bootstrap: string;
      /** Why the attempt failed (its `code` narrows it to its class: `error.code === 'ENROLLMENT_TIMEOUT'` gives `error.attempts`). */
      error: AnyEnrollmentError;
      /** Milliseconds before the next attempt, or undefined when giving up. */
      retryInMs: number | undefined;
    },
  ];
  /** A keepalive was answered. */
  'keepalive:rtt': [
    info: {
      /** Milliseconds from the keepalive M_READ to its M_READ_R. */
      rttMs: number;
      /** The shim address of the bootstrap that answered. */
      bootstrap: string;
    },
  ];
}

/** Options of the async operations. */
export interface OperationOptions {
  /** Aborts the wait; the enrollment itself stops when no caller waits for it any more. */
  readonly signal?: AbortSignal;
}

/** The handle of a running monitor. */
export interface ConnectionMonitor {
  /** Stops monitoring. Idempotent. */
  stop(): void;
  /** False once stopped (or when monitoring is disabled). */
  readonly running: boolean;
}

/**
 * What is known of one bootstrap: its failures, and until when it is left alone.
 * @inline
 */
export interface BootstrapStatus {
  /** The bootstrap's shim address. */
  readonly address: string;
  /** Consecutive failed attempts. */
  readonly failures: number;
  /** The clock's time (`performance.now()` unless a `clock` is given) before which recovery does not try it again. */
  readonly blockedUntil: number;
  /** Where the member learnt of it: `dns` for an enroller listed by an `srv:` entry of `config.bootstraps`. */
  readonly source: 'config' | 'explicit' | 'advertised' | 'dns';
}
