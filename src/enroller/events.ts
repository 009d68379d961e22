/**
 * What an enroller tells: its events, their log lines and channel, and its
 * counters.
 *
 * @module
 */
import { Result } from '../cdap/messages.js';
import { diagnosticsChannels } from '../diagnostics.js';
import type { Describe, Report } from '../util/telemetry.js';

/** One enrolled member, as {@link Enroller.members} lists it. */
export interface MemberInfo {
  /** The member's IPCP name. */
  readonly name: string;
  /** The DIF address assigned to it. */
  readonly address: number;
  /** The shim address it enrolled from. */
  readonly shimAddress: string;
  /** When its enrollment completed (M_STOP_R received). */
  readonly enrolledAt: Date;
  /** When the enroller last received a message from it. */
  readonly lastSeen: Date;
}

/** Events of an {@link Enroller}. */
export interface EnrollerEvents {
  /** A member completed its enrollment. */
  'member:enrolled': [member: MemberInfo];
  /** A member left with M_RELEASE. */
  'member:released': [member: MemberInfo];
  /** A member was silent for `leaseMs`: it left the member list; its address is held `holdMs`. */
  'member:gone': [member: MemberInfo];
  /** The hold of a gone or released member's address ended: the address may go to anyone. */
  'address:released': [
    binding: {
      /** The IPCP name that held the address. */
      name: string;
      /** The address, now free. */
      address: number;
    },
  ];
  /** An enrollment was refused; `name` is the IPCP name when it was known. */
  'enrollment:rejected': [
    rejection: {
      /** The shim address the request came from. */
      shimAddress: string;
      /** The IPCP name (`src_ap_name` of its M_CONNECT), when known. */
      name: string | undefined;
      /** Why, in words: the `result_reason` of the refusal. */
      reason: string;
      /** The result code of the refusal (docs/PROTOCOL.md: -1 refused, -3 name in use, -4 unavailable, -5 busy, -6 authentication). */
      result: number;
    },
  ];
}

/** Counters of an {@link Enroller}. */
export interface EnrollerStats {
  /** PDUs received. */
  received: number;
  /**
   * PDUs over the enroller's `maxPduBytes`, dropped unread. A shim with a bound of its own drops larger ones before
   * the enroller sees them: with `UdpShim` (8,192 bytes, as the enroller) read its `stats().oversizeDropped`.
   */
  oversize: number;
  /** PDUs over a sender's rate, dropped unread. */
  rateLimited: number;
  /** PDUs that were not well-formed CDAP. */
  malformed: number;
  /** With HMAC-SHA256: PDUs dropped without a valid tag (forged, altered, or from a peer without the session's key). */
  unauthenticated: number;
  /** With HMAC-SHA256: PDUs dropped with a valid tag whose sequence number was seen before (a replay, or a network duplicate). */
  replayed: number;
  /** Keepalives answered as enrolled. */
  keepalives: number;
  /** Keepalives left unanswered while the shared store asked etcd whether this enroller's lease was alive, or proved its members' bindings again under a new one. */
  keepalivesInDoubt: number;
  /** M_CONNECTs and M_STARTs answered "busy" (-5). */
  busy: number;
  /** M_CONNECTs and M_STARTs refused for authentication or the allow-list (-6). */
  authFailures: number;
  /**
   * Every other refusal (-1, -3, -4: a full pool or DIF, a name in use, a store that cannot bind). `busy`,
   * `authFailures` and `rejected` count each refusal once, in one of them, and each refusal is one
   * `enrollment:rejected` event.
   */
  rejected: number;
}

/** Every counter at zero. */
export const zeroStats = (): EnrollerStats => ({
  received: 0,
  oversize: 0,
  rateLimited: 0,
  malformed: 0,
  unauthenticated: 0,
  replayed: 0,
  keepalives: 0,
  keepalivesInDoubt: 0,
  busy: 0,
  authFailures: 0,
  rejected: 0,
});

/**
 * Counts a refusal of an M_CONNECT or an M_START, by its result, in exactly one counter: `busy`, `authFailures`, or
 * `rejected` for every other (each also emits one `enrollment:rejected`).
 */
export function countRefusal(stats: EnrollerStats, result: number): void {
  if (result === Result.BUSY) stats.busy++;
  else if (result === Result.AUTH_FAILED) stats.authFailures++;
  else stats.rejected++;
}

/** The log level and line of an enroller event. */
function logLine<E extends keyof EnrollerEvents>(event: E, info: EnrollerEvents[E][0]): ['info' | 'warn', () => string] {
  switch (event) {
    case 'member:enrolled': {
      const m = info as MemberInfo;
      return ['info', () => `member ${m.name} enrolled with address ${m.address} from ${m.shimAddress}`];
    }
    case 'member:released': {
      const m = info as MemberInfo;
      return ['info', () => `member ${m.name} left (address ${m.address} held)`];
    }
    case 'member:gone': {
      const m = info as MemberInfo;
      return ['warn', () => `member ${m.name} went silent (address ${m.address} held)`];
    }
    case 'address:released': {
      const b = info as { name: string; address: number };
      return ['info', () => `address ${b.address} of ${b.name} is free again`];
    }
    default: {
      const r = info as { shimAddress: string; name: string | undefined; reason: string };
      return ['warn', () => `refused ${r.name ?? 'a peer'} at ${r.shimAddress}: ${r.reason}`];
    }
  }
}

/**
 * The report table of the enroller named `enroller`: every event goes to
 * the `rina-enrollment:enroller` channel as `{ enroller, event, ...info }`,
 * and to the logger with its level and line.
 */
export function describeEnrollerEvent(enroller: string): Describe<EnrollerEvents> {
  return (event, args): Report => {
    const info = args[0] as EnrollerEvents[keyof EnrollerEvents][0];
    const [level, text] = logLine(event, info);
    return { channel: diagnosticsChannels.enroller, fields: { enroller, event, ...info }, level, text };
  };
}
