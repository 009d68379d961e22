/**
 * The enroller (bootstrap) side: admits members, assigns their addresses,
 * syncs its RIB to them and answers keepalives.
 *
 * @module
 */
import { EventEmitter } from 'eventemitter3';
import { z } from 'zod';
import { decodeCdapMessage, decodeEnrollmentInfo, encodeCdapMessage } from '../cdap/codec.js';
import {
  createRequest,
  DEFAULT_DT_CONSTANTS,
  enrollmentMessage,
  InvokeIds,
  isEnrollmentObject,
  KEEPALIVE_OBJECT,
  Result,
  replyTo,
} from '../cdap/messages.js';
import { type CdapMessage, type DataTransferConstants, type EnrollmentInfo, isReply, OpCode } from '../cdap/types.js';
import { authOptionsSchema, EnrollerAuth } from '../auth/auth.js';
import { type OpenFailure, type SecureChannel, splitTag } from '../auth/channel.js';
import { derivedRetransmitMs } from '../config.js';
import { dependency, integerAtLeast, nonNegative, parseWith, positive } from '../util/schema.js';
import { ConfigError, ProtocolError } from '../errors.js';
import { type Rib, RibNames, type RibObject } from '../rib/rib.js';
import type { Shim } from '../shim/shim.js';
import { isWildcardUdpAddress } from '../shim/udp-address.js';
import { diagnosticsChannels, log, type Logger, publish } from '../diagnostics.js';
import { safeEmit } from '../util/events.js';
import { sharedTicker, type TickerEntry } from '../util/ticker.js';
import { type AddressBinding, type AddressStore, type AddressStoreListener, MemoryAddressStore } from '../store/address-store.js';
import { AddressPool } from './address-pool.js';

const uint32 = () =>
  z
    .number({ error: 'must be a finite number' })
    .int({ error: 'must be an integer' })
    .min(0, { error: 'must be >= 0' })
    .max(0xffffffff, { error: 'must fit in 32 bits' })
    .optional();
const flag = () => z.boolean({ error: 'must be a boolean' }).optional();

/** DataTransferConstants as the wire carries them: uint32 fields, a uint64 threshold, booleans. */
const dtConstantsSchema = z.strictObject({
  /** `max_pdu_size` (field 1): the largest PDU (rlite: 65536). */
  maxPduSize: uint32(),
  /** `address_width` (field 2): bytes of a DIF address, 1 to 8 (rlite: 4); every address must fit it. */
  addressWidth: z
    .number({ error: 'must be a finite number' })
    .int({ error: 'must be an integer' })
    .min(1, { error: 'must be 1 to 8' })
    .max(8, { error: 'must be 1 to 8' })
    .optional(),
  /** `port_id_width` (field 3): width of a port id (rlite: 2). */
  portIdWidth: uint32(),
  /** `cep_id_width` (field 4): width of a connection-endpoint id (rlite: 2). */
  cepIdWidth: uint32(),
  /** `qos_id_width` (field 5): width of a QoS id (rlite: 2). */
  qosIdWidth: uint32(),
  /** `seq_num_width` (field 6): width of a sequence number (rlite: 4). */
  seqNumWidth: uint32(),
  /** `length_width` (field 7): width of the PDU length field (rlite: 2). */
  lengthWidth: uint32(),
  /** `seq_rollover_thresh` (field 8, uint64): the sequence-number rollover threshold (ours: 2^31). */
  seqRolloverThresh: z
    .bigint({ error: 'must be a bigint' })
    .min(0n, { error: 'must be >= 0' })
    .max(2n ** 64n - 1n, { error: 'must fit in 64 bits' })
    .optional(),
  /** `max_pdu_lifetime` (field 9): the maximum PDU lifetime (rlite: 4000). */
  maxPduLifetime: uint32(),
  /** `concatenation_enabled` (field 10): whether concatenation is on (default: false). */
  concatenationEnabled: flag(),
  /** `fragmentation_enabled` (field 11): whether fragmentation is on (default: false). */
  fragmentationEnabled: flag(),
  /** `integrity_enabled` (field 12): whether integrity protection is on (default: false). */
  integrityEnabled: flag(),
  /** `max_rtx_time` (field 13): the maximum retransmission time (rlite: 1000). */
  maxRtxTime: uint32(),
  /** `max_ack_delay` (field 14): the maximum acknowledgement delay (rlite: 200). */
  maxAckDelay: uint32(),
  /** `rate_width` (field 15): width of a rate field. */
  rateWidth: uint32(),
  /** `frame_width` (field 16): width of a frame field. */
  frameWidth: uint32(),
  /** `ctrl_seq_num_width` (field 17): width of a control sequence number (rlite: 4). */
  ctrlSeqNumWidth: uint32(),
}) satisfies z.ZodType<DataTransferConstants>;

const enrollerOptionsSchema = z
  .strictObject({
    /** The N-1 transport the enroller listens on. */
    shim: dependency<Shim>('Shim', ['send', 'onReceive', 'close']),
    /** The enroller's RIB; every object outside `/mgmt/` is synced to members. */
    rib: dependency<Rib>('Rib', ['read', 'write', 'delete', 'list']),
    /**
     * Where the address table is kept: a `FileAddressStore` makes it survive
     * restarts.
     * @default a MemoryAddressStore
     */
    store: dependency<AddressStore>('AddressStore', ['load', 'bind', 'release']).optional(),
    /** The enroller's own IPCP name (members connect to it, or to the DIF's name). */
    ipcpName: z.string({ error: 'must be a non-empty string' }).min(1, { error: 'must be a non-empty string' }),
    /** The DIF's name, returned to every member. */
    difName: z.string({ error: 'must be a non-empty string' }).min(1, { error: 'must be a non-empty string' }),
    /** The addresses the enroller may assign (inclusive), within `dtConstants.addressWidth` bytes. */
    addressPool: z.strictObject({
      /** The first address of the pool, >= 1. */
      first: integerAtLeast(1),
      /** The last address, included; >= `first`. */
      last: integerAtLeast(1),
    }),
    /**
     * Data-transfer constants sent in M_START_R.
     * @default rlite's defaults (address width 4 bytes, ...)
     */
    dtConstants: dtConstantsSchema.optional(),
    /**
     * First interval, in ms, at which M_STOP is sent again while its M_STOP_R
     * is missing; doubles up to 8 times that. Left unset it is
     * `min(250, pendingTimeoutMs / 4)`; set, it must be at most
     * `pendingTimeoutMs / 2` (else M_STOP would be sent only once).
     * @default min(250, pendingTimeoutMs / 4)
     */
    retransmitMs: positive().optional(),
    /**
     * A half-finished enrollment is forgotten after this many ms.
     * @default 30000
     */
    pendingTimeoutMs: positive().default(30_000),
    /**
     * A member silent (no keepalive, no message) for this many ms is gone:
     * it leaves the member list (`member:gone`). Match it to the members'
     * `connectionTimeoutSecs`.
     * @default 90000
     */
    leaseMs: positive().default(90_000),
    /**
     * A gone or released member's address stays bound to its name this many
     * ms before anyone else may get it, so a member back from a partition gets
     * the same address.
     * @default 300000
     */
    holdMs: nonNegative().default(300_000),
    /**
     * Shim addresses of other enrollers of the DIF, advertised in every
     * M_START_R (EnrollmentInfo field 18) so members can fail over to them.
     * @default []
     */
    alternates: z.array(z.string().min(1, { error: 'must not be empty' }), { error: 'must be an array of shim addresses' }).default([]),
    /**
     * The shim address members reach this enroller at, as a shared store
     * registers it for the other enrollers to advertise. Set it when the shim
     * listens on a wildcard address (`0.0.0.0:7000`).
     * @default the shim's `localAddress`
     */
    advertisedAddress: z.string().min(1, { error: 'must not be empty' }).optional(),
    /**
     * What members must prove: `{ mechanism: 'none' }`, `'passwd'` (plaintext,
     * trusted lower networks only) or `'hmac-sha256'` (mutual, pre-shared key).
     * @default { mechanism: 'none' }
     */
    auth: authOptionsSchema.default({ mechanism: 'none' }),
    /**
     * If set, only these IPCP names may enrol.
     * @default undefined (any name)
     */
    allowedNames: z.array(z.string().min(1, { error: 'must not be empty' }), { error: 'must be an array of IPCP names' }).optional(),
    /**
     * PDUs larger than this are dropped unread.
     * @default 8192
     */
    maxPduBytes: integerAtLeast(64).default(8192),
    /**
     * Enrollments in progress at once; a CONNECT beyond them is answered
     * "busy" (-5) and the member backs off.
     * @default 1024
     */
    maxPendingEnrollments: integerAtLeast(1).default(1024),
    /**
     * Members at most; an enrollment beyond is refused.
     * @default 1000000
     */
    maxMembers: integerAtLeast(1).default(1_000_000),
    /**
     * Per shim address, messages per second allowed on average (a token
     * bucket of `rateBurst` tokens); the excess is dropped unread.
     * @default 100
     */
    ratePerSecond: positive().default(100),
    /**
     * Size of each shim address's token bucket: the burst allowed above `ratePerSecond`.
     * @default 200
     */
    rateBurst: integerAtLeast(1).default(200),
    /**
     * Shim addresses whose rate the enroller remembers; beyond, the least
     * recently heard is forgotten, so a flood from many addresses cannot grow
     * memory without bound.
     * @default 10000
     */
    maxTrackedPeers: integerAtLeast(1).default(10_000),
    /**
     * A pino-compatible logger (`debug`, `info`, `warn`, `error`, fields first).
     * @default undefined (silent)
     */
    logger: dependency<Logger>('Logger', ['debug', 'info', 'warn', 'error']).optional(),
  })
  .refine((o) => o.retransmitMs === undefined || o.retransmitMs <= o.pendingTimeoutMs / 2, {
    path: ['retransmitMs'],
    error: (issue) => {
      const o = issue.input as { retransmitMs: number; pendingTimeoutMs: number };
      return (
        `must be at most half of pendingTimeoutMs (retransmitMs ${o.retransmitMs} > pendingTimeoutMs ${o.pendingTimeoutMs} / 2): ` +
        'M_STOP, sent after the first exchange, would go only once; leave retransmitMs unset to derive it as min(250, pendingTimeoutMs / 4)'
      );
    },
  })
  .refine((o) => o.addressPool.last >= o.addressPool.first, {
    path: ['addressPool', 'last'],
    error: 'must be >= addressPool.first',
  })
  .refine(
    (o) => {
      const width = (o.dtConstants ?? DEFAULT_DT_CONSTANTS).addressWidth ?? 4;
      return o.addressPool.last <= Math.min(Number.MAX_SAFE_INTEGER, 2 ** (8 * width) - 1);
    },
    { path: ['addressPool', 'last'], error: 'must fit in dtConstants.addressWidth bytes (4 by default)' },
  );

/**
 * Options of {@link Enroller}.
 * @interface
 */
export type EnrollerOptions = z.input<typeof enrollerOptionsSchema>;

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

/** Who hears of a stop, and through which channel. */
interface ReleaseTarget {
  readonly shimAddress: string;
  readonly member: MemberRecord | undefined;
  readonly channel: SecureChannel | null;
}

/**
 * Which channel opened a received PDU: `plain` without HMAC-SHA256; with it,
 * `unsealed` (M_CONNECT, or bytes that are not CDAP), `session` (the
 * enrollment in progress from the sender), `candidate` (a newer enrollment
 * from there, until it proves itself) or `member` (the member enrolled there).
 */
type Via = 'plain' | 'unsealed' | 'session' | 'candidate' | 'member';

/** A received PDU as authentication left it: the CDAP bytes, and the channel that opened them. */
interface Opened {
  readonly pdu: Uint8Array;
  readonly via: Via;
  readonly channel: SecureChannel | null;
}

/** `pdu` sealed by `channel`, or as it is without one. */
const sealed = (pdu: Uint8Array, channel: SecureChannel | null): Uint8Array => (channel === null ? pdu : channel.seal(pdu));

/** The op code of an unsealed PDU, or undefined when it is not CDAP (the decoder then answers it as malformed). */
function opCodeOf(pdu: Uint8Array): OpCode | undefined {
  try {
    return decodeCdapMessage(pdu).opCode;
  } catch {
    return undefined;
  }
}

/** A peer that holds a name here, enrolled or enrolling: what a liveness probe needs of it. */
interface Peer {
  readonly name: string;
  readonly shimAddress: string;
  /** `performance.now()` of its last message. */
  lastSeenAt: number;
}

/** One member's enrollment in progress, keyed by its shim address. */
interface Session extends Peer {
  /** Another holds the name: the newcomer contests it once its M_START proof is verified. */
  contested: boolean;
  /** The enroller's fence count when the address was bound: a fence since voids the binding for this enrollment. */
  fences: number;
  /** When the name's hold, cancelled by this enrollment, would have ended (performance.now()). */
  heldUntil?: number | undefined;
  readonly connectInvokeId: number;
  readonly connectReply: Uint8Array;
  readonly ids: InvokeIds;
  readonly createdAt: number;
  startInvokeId?: number | undefined;
  /** START_R, the M_CREATEs and M_STOP, encoded once and sent again for a repeated M_START. */
  burst?: Uint8Array[] | undefined;
  stopInvokeId?: number | undefined;
  address?: number | undefined;
  /** Checks the member's proof in M_START (HMAC-SHA256 authentication). */
  checkProof?: ((proof: Uint8Array | undefined) => boolean) | undefined;
  /** With HMAC-SHA256: the channel every PDU of this enrollment after M_CONNECT_R goes through. */
  readonly channel: SecureChannel | null;
  /** The name had no address before this enrollment: if it never completes, the address goes back. */
  newBinding?: boolean | undefined;
  lastSentAt: number;
  retransmitMs: number;
}

interface MemberRecord {
  name: string;
  address: number;
  shimAddress: string;
  enrolledAt: Date;
  lastSeen: Date;
  /** `performance.now()` of the last message. */
  lastSeenAt: number;
  /** The lease check, re-armed lazily when it fires. */
  lease: TickerEntry | undefined;
  /** With HMAC-SHA256: its enrollment's channel, which its keepalives, probes and M_RELEASE go through. */
  readonly channel: SecureChannel | null;
}

const now = (): number => performance.now();

/** How long an enrolled member has to answer a liveness probe before a newcomer with its name takes over, in ms. */
const PROBE_MS = 1000;

/** What a member whose M_START proof fails is told (-6): who refused whom. */
const MEMBER_PROOF_REFUSED = "authentication failed: the enroller refused the member's proof (the keys differ on the two sides)";

/** What an M_START is answered ("unavailable", -4) while the shared store cannot prove bindings current. */
const FENCED_REASON = 'the enroller cannot store addresses now: it lost its lease in the shared store';

/** How long stop() waits for the shim to take its M_RELEASEs, in ms. */
const RELEASE_SEND_MS = 1000;

/** How soon a release the store failed (etcd out of reach) is tried again, in ms. */
const RETRY_RELEASE_MS = 5000;

/** Proposals a shared store may refuse (taken by another enroller) before the member is told to come back. */
const MAX_BIND_TRIES = 8;

/** The public view of a member record. */
const info = (m: MemberRecord): MemberInfo => ({
  name: m.name,
  address: m.address,
  shimAddress: m.shimAddress,
  enrolledAt: new Date(m.enrolledAt),
  lastSeen: new Date(m.lastSeen),
});

/**
 * The bootstrap IPCP's enrollment service. It runs the exchange of
 * docs/PROTOCOL.md for any number of members at once; every retransmitted
 * request is answered idempotently.
 */
export class Enroller extends EventEmitter<EnrollerEvents> {
  readonly #shim: Shim;
  readonly #rib: Rib;
  readonly #ipcpName: string;
  readonly #difName: string;
  readonly #dtConstants: DataTransferConstants;
  readonly #retransmitMs: number;
  readonly #pendingTimeoutMs: number;
  readonly #leaseMs: number;
  readonly #holdMs: number;
  readonly #alternates: string[];
  readonly #advertisedAddress: string;
  /** Other live enrollers, as a shared store reports them. */
  #liveAlternates: string[] = [];
  readonly #ticker = sharedTicker;
  /** Address holds of gone or released members, by name. */
  readonly #holds = new Map<string, { entry: TickerEntry | undefined; ms: number }>();
  readonly #pool: AddressPool;
  readonly #store: AddressStore;
  readonly #auth: EnrollerAuth;
  readonly #allowed: ReadonlySet<string> | undefined;
  readonly #limits: { maxPduBytes: number; maxPending: number; maxMembers: number };
  readonly #rate: RateLimiter;
  readonly #sessionByName = new Map<string, string>();
  /** Liveness probes of enrolled members whose name a newcomer asks for, by name. */
  /** Liveness probes of peers holding a name a newcomer asks for, by the probed peer's shim address. */
  readonly #probes = new Map<string, { sentAt: number; again: TickerEntry | undefined }>();
  readonly #probeIds = new InvokeIds(1);
  readonly #logger: Logger | undefined;
  readonly #stats: EnrollerStats = {
    received: 0,
    oversize: 0,
    rateLimited: 0,
    malformed: 0,
    unauthenticated: 0,
    replayed: 0,
    keepalives: 0,
    busy: 0,
    authFailures: 0,
    rejected: 0,
  };
  readonly #sessions = new Map<string, Session>();
  /**
   * With HMAC-SHA256: an enrollment that connected from an address whose
   * previous enrollment is still in progress. An M_CONNECT proves nothing, so
   * it does not end the other one; its first PDU that its own channel opens
   * does (see #authenticate). One per address; forgotten after the pending timeout.
   */
  readonly #candidates = new Map<string, Session>();
  readonly #members = new Map<string, MemberRecord>();
  readonly #memberByShim = new Map<string, string>();
  #unsubscribe: (() => void) | undefined;
  /** Bumped by start() and stop(), so a start() overtaken by a stop() does not subscribe. */
  #generation = 0;
  /** Set (to a fresh token) while the shared store has fenced this enroller off, until its members are revalidated. */
  #fencing: number | undefined;
  #fences = 0;
  /** A stop() still telling its members goodbye and closing the store: start() waits for it. */
  #stopping: Promise<void> | undefined;
  #sweepTimer: ReturnType<typeof setInterval> | undefined;

  /** Throws `ConfigError` naming each invalid option. */
  constructor(options: EnrollerOptions) {
    super();
    const o = parseWith(enrollerOptionsSchema, options);
    this.#shim = o.shim;
    this.#rib = o.rib;
    this.#ipcpName = o.ipcpName;
    this.#difName = o.difName;
    this.#dtConstants = o.dtConstants ?? DEFAULT_DT_CONSTANTS;
    this.#retransmitMs = o.retransmitMs ?? derivedRetransmitMs(o.pendingTimeoutMs);
    this.#pendingTimeoutMs = o.pendingTimeoutMs;
    this.#leaseMs = o.leaseMs;
    this.#holdMs = o.holdMs;
    this.#advertisedAddress = o.advertisedAddress ?? o.shim.localAddress;
    if (o.store?.open !== undefined && isWildcardUdpAddress(this.#advertisedAddress)) {
      // Other enrollers would send members to it: nobody can reach a wildcard address.
      throw new ConfigError([
        {
          field: 'advertisedAddress',
          rule: `is required with a shared store while the shim listens on the wildcard ${this.#advertisedAddress}: give the address members reach this enroller at`,
        },
      ]);
    }
    this.#alternates = o.alternates.filter((a) => a !== o.shim.localAddress && a !== this.#advertisedAddress);
    this.#store = o.store ?? new MemoryAddressStore();
    // Enrollers sharing a store probe from random points, so they seldom race for one address, and keep a
    // bound name's address over the one it asks for: another enroller may be serving it with that address.
    this.#pool = new AddressPool(o.addressPool, this.#store.open === undefined ? {} : { random: Math.random, keepHeld: true });
    this.#auth = new EnrollerAuth(o.auth, o.ipcpName, o.difName);
    this.#allowed = o.allowedNames === undefined ? undefined : new Set(o.allowedNames);
    this.#limits = { maxPduBytes: o.maxPduBytes, maxPending: o.maxPendingEnrollments, maxMembers: o.maxMembers };
    this.#rate = new RateLimiter(o.ratePerSecond, o.rateBurst, o.maxTrackedPeers);
    this.#logger = o.logger;
  }

  /** The enroller's IPCP name. */
  get ipcpName(): string {
    return this.#ipcpName;
  }

  /** The DIF's name. */
  get difName(): string {
    return this.#difName;
  }

  /** True between {@link start} and {@link stop}. */
  get running(): boolean {
    return this.#unsubscribe !== undefined;
  }

  /**
   * Whether the enroller serves now: running, and (with a shared store) able
   * to prove the bindings it vouches for, its lease alive. `reason` says why
   * not. What a health check (`/healthz` of `rina-enroll --metrics-listen`) reports.
   */
  health(): {
    /** True while the enroller serves. */
    readonly ok: boolean;
    /** Why it does not, when it does not. */
    readonly reason?: string;
  } {
    if (!this.running) return { ok: false, reason: 'not running (stopped, or not started yet)' };
    if (this.#fencing !== undefined || this.#store.canVouch?.() === false) {
      return { ok: false, reason: 'the shared address store cannot prove bindings current (its lease is lost or cannot be renewed)' };
    }
    return { ok: true };
  }

  /**
   * Writes the DIF's name into the RIB (`/dif/config/name`, so it is synced)
   * and starts answering on the shim. Calling it twice is harmless.
   */
  async start(): Promise<void> {
    if (this.#unsubscribe !== undefined) return;
    const generation = ++this.#generation;
    await this.#stopping;
    if (generation !== this.#generation) return; // stop() (or another start()) ran meanwhile: it wins
    await this.#rib.write({ name: RibNames.difName, class: 'dif_config', value: { strval: this.#difName } });
    if (generation !== this.#generation) return; // stop() (or another start()) ran meanwhile: it wins
    await this.#store.open?.({ name: this.#ipcpName, shimAddress: this.#advertisedAddress }, this.#storeListener());
    let restored: AddressBinding[];
    let skipped: AddressBinding[];
    try {
      // The table as stored: every known name gets its old address back.
      restored = await this.#store.load();
      skipped = this.#pool.restore(restored);
    } catch (err) {
      await this.#store.close?.();
      throw err;
    }
    // stop() (or another start()) ran while the store opened: it wins.
    if (this.#unsubscribe !== undefined || generation !== this.#generation) {
      await this.#store.close?.();
      return;
    }
    if (skipped.length > 0) {
      const { first, last } = this.#pool.range;
      const listed = skipped.slice(0, 10).map((b) => `${JSON.stringify(b.name)}=${b.address}`);
      log(
        this.#logger,
        'warn',
        { enroller: this.#ipcpName, event: 'store:skipped', skipped: skipped.slice(0, 100) },
        `${skipped.length} stored binding${skipped.length === 1 ? '' : 's'} ignored (outside the pool ${first}-${last}, or an address bound twice): ` +
          `${listed.join(', ')}${skipped.length > listed.length ? ', ...' : ''}`,
      );
    }
    // A store of one enroller says nothing of who is alive. A restored name
    // nobody serves here may belong to a member that spoke to us just before
    // we went down and still counts itself enrolled: it is held for a whole
    // lease and then the hold, as if it went silent now, and released then
    // unless the member comes back.
    const unserved: string[] = [];
    if (this.#store.open === undefined) {
      const ignored = new Set(skipped.map((b) => b.name));
      for (const { name } of restored) {
        if (!ignored.has(name) && !this.#members.has(name) && !this.#holds.has(name)) unserved.push(name);
      }
    }
    if (this.#store.open !== undefined && this.#members.size > 0) {
      // Restarted after a stop(): the members we kept are ours again only if the store still binds them so.
      const kept = [...this.#members.values()];
      const verdicts = await Promise.all(kept.map((m) => this.#confirm(m)));
      if (this.#unsubscribe !== undefined || generation !== this.#generation) {
        await this.#store.close?.();
        return;
      }
      kept.forEach((m, i) => {
        if (verdicts[i] || this.#members.get(m.name) !== m) return;
        // Not proven ours: let it go as a member that went silent (its hold is armed again with the others below).
        this.#letGo(m);
      });
    }
    this.#unsubscribe = this.#shim.onReceive((pdu, from) => this.#onPdu(pdu, from));
    log(
      this.#logger,
      'info',
      {
        enroller: this.#ipcpName,
        event: 'enroller:started',
        shimAddress: this.#shim.localAddress,
        difName: this.#difName,
        pool: this.#pool.range,
        bindings: this.#pool.size,
        ...(this.#store.open === undefined ? {} : { sharedStore: true, otherEnrollers: this.#liveAlternates }),
      },
      `serving ${this.#difName} on ${this.#shim.localAddress}, pool ${this.#pool.range.first}-${this.#pool.range.last}` +
        (this.#store.open === undefined
          ? ''
          : `, address space shared (${this.#pool.size} bindings; other enrollers live: ${this.#liveAlternates.join(', ') || 'none'})`),
    );
    const t = now();
    for (const member of this.#members.values()) {
      member.lastSeenAt = t; // leases start again from a restart
      this.#armLease(member);
    }
    // Every hold runs again, whole, from a restart (as the members' leases do).
    for (const [name, { ms }] of [...this.#holds]) this.#hold(name, ms);
    for (const name of unserved) this.#hold(name, this.#leaseMs + this.#holdMs);
  }

  /**
   * Stops answering and clears every timer and half-finished enrollment,
   * then tells every member it serves, and every member whose enrollment
   * has its address, that it stops: M_RELEASE, sent twice (so that one lost
   * datagram does not leave a member waiting for its connection timeout),
   * no answer awaited, the sends bounded by 1 s. Those members fail over to
   * another enroller at once; the enroller forgets them and holds their
   * addresses (re-armed by a later {@link start}). Members it could not tell
   * (the shim is closed) stay listed, as do the address bindings. A
   * {@link start} called meanwhile waits for this to finish. The shim is the
   * caller's to close.
   */
  async stop(): Promise<void> {
    this.#generation++;
    const serving = this.#unsubscribe !== undefined;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#fencing = undefined; // a later start() opens the store afresh
    // Everything that runs on timers ends now, before anything is awaited.
    const leaving = serving ? this.#releaseTargets() : [];
    this.#sessions.clear();
    this.#candidates.clear();
    this.#sessionByName.clear();
    this.#updateSweep();
    for (const member of this.#members.values()) {
      this.#ticker.cancel(member.lease);
      member.lease = undefined;
    }
    for (const hold of this.#holds.values()) this.#ticker.cancel(hold.entry);
    for (const probe of this.#probes.values()) this.#ticker.cancel(probe.again);
    this.#probes.clear();
    const previous = this.#stopping;
    const stopping = (async () => {
      await previous;
      for (const member of await this.#sendReleases(leaving)) {
        if (this.#members.get(member.name) !== member) continue;
        this.#forget(member);
        this.#holds.set(member.name, { entry: undefined, ms: this.#holdMs }); // its hold runs from the next start()
      }
      await this.#store.close?.();
    })();
    this.#stopping = stopping;
    try {
      await stopping;
    } finally {
      if (this.#stopping === stopping) this.#stopping = undefined;
    }
  }

  /** Who hears of a stop: the members, and enrollments in progress that were told their address. */
  #releaseTargets(): ReleaseTarget[] {
    const targets = new Map<string, ReleaseTarget>();
    for (const member of this.#members.values()) {
      targets.set(member.shimAddress, { shimAddress: member.shimAddress, member, channel: member.channel });
    }
    for (const [shimAddress, session] of this.#sessions) {
      // An enrollment in progress from a member's address is the newer one: its channel is the one the member listens on.
      if (session.address !== undefined) {
        targets.set(shimAddress, { shimAddress, member: targets.get(shimAddress)?.member, channel: session.channel });
      }
    }
    return [...targets.values()];
  }

  /**
   * Sends M_RELEASE twice to each target, waiting at most {@link RELEASE_SEND_MS}
   * for the shim to take them; returns the members at least one went to.
   */
  async #sendReleases(targets: ReleaseTarget[]): Promise<MemberRecord[]> {
    if (targets.length === 0) return [];
    log(
      this.#logger,
      'info',
      { enroller: this.#ipcpName, event: 'enroller:releasing', members: targets.length },
      `stopping: releasing ${targets.length} member${targets.length === 1 ? '' : 's'} (M_RELEASE), so they fail over at once`,
    );
    const told = new Set<MemberRecord>();
    const sends: Array<Promise<void>> = [];
    for (let copy = 0; copy < 2; copy++) {
      for (const { shimAddress, member, channel } of targets) {
        const pdu = sealed(encodeCdapMessage({ opCode: OpCode.M_RELEASE, invokeId: this.#probeIds.next() }), channel);
        const sent = (async () => this.#shim.send(shimAddress, pdu))();
        sends.push(
          sent.then(
            () => {
              if (member !== undefined) told.add(member);
            },
            () => undefined,
          ),
        );
      }
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, RELEASE_SEND_MS);
      timer.unref?.();
    });
    await Promise.race([Promise.allSettled(sends), deadline]);
    clearTimeout(timer);
    return [...told];
  }

  /** How a shared store's news reaches the pool, the holds and the advertised alternates. */
  #storeListener(): AddressStoreListener {
    return {
      bound: ({ name, address }) => {
        this.#pool.set(name, address);
      },
      unbound: (name) => {
        this.#ticker.cancel(this.#holds.get(name)?.entry);
        this.#holds.delete(name);
        this.#pool.release(name);
      },
      // The name's last enroller let it go: its hold runs from now, here too (an older hold of ours restarts).
      idle: (name) => {
        if (!this.#members.has(name) && !this.#servingSession(name)) this.#hold(name);
      },
      enrollers: (shimAddresses) => {
        this.#liveAlternates = shimAddresses.filter((a) => a !== this.#shim.localAddress);
      },
      fenced: (fenced) => {
        if (fenced) this.#fence();
        else void this.#revalidate();
      },
    };
  }

  /**
   * The shared store lost this enroller's lease: another enroller may free
   * and give away any binding it served. Until it is proven again, no member
   * is answered as enrolled (keepalives are refused, so members enrol again)
   * and no enrollment completes (M_START: "unavailable").
   */
  #fence(): void {
    const already = this.#fencing !== undefined;
    this.#fencing = ++this.#fences; // a revalidation under way is void
    if (already) return;
    log(
      this.#logger,
      'warn',
      { enroller: this.#ipcpName, event: 'enroller:fenced', members: this.#members.size },
      `lost its lease in the shared store: it cannot prove its ${this.#members.size} members' addresses current; refusing them until the store is back`,
    );
  }

  /**
   * Proves `member`'s binding is still its own, through the store, and marks
   * it served again: compare-only (`confirm`) where the store has it; never
   * an overwrite of what another enroller did meanwhile. False on any doubt.
   */
  async #confirm(member: MemberRecord): Promise<boolean> {
    try {
      const binding = { name: member.name, address: member.address };
      if (this.#store.confirm !== undefined) return await this.#store.confirm(binding);
      return (await this.#store.bind(binding)) !== false;
    } catch {
      return false;
    }
  }

  /**
   * Whether this enroller may answer for its members now: not fenced, and the
   * shared store still proves its lease alive (asked at each answer: a process
   * resumed after a pause handles queued datagrams before its timers).
   */
  #vouching(): boolean {
    if (this.#fencing !== undefined) return false;
    if (this.#store.canVouch === undefined || this.#store.canVouch()) return true;
    this.#fence(); // the store's own timer will say so too; nothing is answered meanwhile
    return false;
  }

  /** Whether `session`'s address was bound under the lease in force, and that lease is still proven alive. */
  #proven(session: Session): boolean {
    return session.fences === this.#fences && this.#vouching();
  }

  /**
   * A new lease: every member still listed is confirmed through the store,
   * which checks the binding is still its own. Those whose binding is gone or
   * taken are let go (their next keepalive is refused, and they enrol again,
   * maybe with a new address); the others are answered again.
   */
  async #revalidate(): Promise<void> {
    const token = this.#fencing;
    if (token === undefined) return;
    const members = [...this.#members.values()];
    const verdicts = await Promise.all(members.map((m) => this.#confirm(m)));
    // Fenced again, or stopped, meanwhile; or the new lease is already in doubt: stay fenced.
    if (this.#fencing !== token || this.#store.canVouch?.() === false) return;
    let dropped = 0;
    members.forEach((m, i) => {
      const listed = this.#members.get(m.name) === m;
      if (verdicts[i] && listed) return;
      if (listed) {
        this.#letGo(m);
      } else if (verdicts[i] && !this.#members.has(m.name)) this.#leave(m.name); // refused meanwhile: its new mark goes too
      dropped++;
    });
    this.#fencing = undefined;
    log(
      this.#logger,
      'info',
      { enroller: this.#ipcpName, event: 'enroller:unfenced', confirmed: members.length - dropped, dropped },
      `the shared store is back: ${members.length - dropped} members' bindings confirmed, ${dropped} dropped (gone or taken meanwhile: they enrol again)`,
    );
  }

  /** Whether an enrollment in progress has reached M_START for `name` (its address is being bound, or was). */
  #servingSession(name: string): boolean {
    const pendingAt = this.#sessionByName.get(name);
    const session = pendingAt === undefined ? undefined : this.#sessions.get(pendingAt);
    return session !== undefined && (session.startInvokeId !== undefined || session.address !== undefined);
  }

  /** A store call whose failure only costs a retry later (leave, re-assert). */
  #storeCall(call: () => unknown): void {
    try {
      Promise.resolve(call()).catch(() => undefined);
    } catch {
      // a synchronous failure costs the same
    }
  }

  /** The enrolled members, in order of enrollment. */
  members(): MemberInfo[] {
    return [...this.#members.values()].map(info);
  }

  /** Enrollments in progress (CONNECT received, STOP_R not yet). */
  get pendingEnrollments(): number {
    return this.#sessions.size;
  }

  /** Counters of what the enroller received and refused. */
  stats(): EnrollerStats & {
    /** Enrollments in progress (as {@link pendingEnrollments}). */
    pending: number;
    /** Members enrolled now. */
    members: number;
    /** Shim addresses whose message rate is tracked, at most `maxTrackedPeers`. */
    trackedPeers: number;
    /** Addresses of the pool bound to a name (members, held ones, and with a shared store other enrollers' too). */
    bound: number;
    /** Addresses of the pool bound to nobody. */
    free: number;
  } {
    const bound = this.#pool.size;
    return {
      ...this.#stats,
      pending: this.#sessions.size,
      members: this.#members.size,
      trackedPeers: this.#rate.size,
      bound,
      free: this.#pool.capacity - bound,
    };
  }

  #onPdu(received: Uint8Array, from: string): void {
    this.#stats.received++;
    if (received.length > this.#limits.maxPduBytes) {
      this.#stats.oversize++;
      return;
    }
    if (!this.#rate.take(from)) {
      this.#stats.rateLimited++;
      return;
    }
    const opened: Opened | undefined =
      this.#auth.mechanism === 'hmac-sha256' ? this.#authenticate(received, from) : { pdu: received, via: 'plain', channel: null };
    if (opened === undefined) return;
    let msg: CdapMessage;
    try {
      msg = decodeCdapMessage(opened.pdu);
    } catch (err) {
      this.#stats.malformed++;
      this.#answerInvalid(err, from, opened.channel);
      return;
    }
    // A request without an invoke id cannot be answered (a reply must carry
    // one), and a retransmission of it could not be told from a new request.
    if (!isReply(msg.opCode) && !msg.invokeId) return;
    // A sign of life only from what the peer proves it sent: with HMAC-SHA256,
    // a PDU opened by that member's (or that enrollment's) own channel.
    const member = this.#memberAt(from);
    if (member !== undefined && (opened.via === 'plain' || opened.via === 'member')) {
      member.lastSeen = new Date();
      member.lastSeenAt = now();
    }
    const session = this.#sessions.get(from);
    if (session !== undefined && (opened.via === 'plain' || opened.via === 'session')) session.lastSeenAt = now();
    try {
      this.#dispatch(msg, from, member, opened);
    } catch {
      // Nothing a peer sends may stop the enroller: a handler that fails
      // simply does not answer, and the peer retransmits or gives up.
    }
  }

  /**
   * With HMAC-SHA256: the CDAP bytes of a PDU sealed by a channel this
   * enroller holds with `from`, and which one opened it: the enrollment in
   * progress from there (`session`; a newer one that connected meanwhile is
   * tried too, and takes its place once a PDU proves it), or the member
   * enrolled there (`member`). Undefined (dropped, and counted) for any other
   * PDU. Unsealed, only M_CONNECT passes (it opens a channel, and proves
   * nothing by itself), and what is not CDAP at all (answered unsealed, as
   * malformed). A sealed M_START that no channel opens (this enroller
   * restarted, or forgot the enrollment) is answered "not connected",
   * unsealed: the member connects again within its attempt.
   */
  #authenticate(pdu: Uint8Array, from: string): Opened | undefined {
    const split = splitTag(pdu);
    if (split === undefined) {
      const opCode = opCodeOf(pdu);
      if (opCode === OpCode.M_CONNECT || opCode === undefined) return { pdu, via: 'unsealed', channel: null };
      this.#stats.unauthenticated++;
      return undefined;
    }
    const session = this.#sessions.get(from);
    const candidate = this.#candidates.get(from);
    const member = this.#memberAt(from);
    const tries: Array<[Via, SecureChannel | null | undefined]> = [
      ['session', session?.channel],
      ['candidate', candidate?.channel],
      ['member', member?.channel],
    ];
    let failure: OpenFailure = 'unauthenticated';
    for (const [via, channel] of tries) {
      if (channel == null) continue;
      const result = channel.openParts(split);
      if ('body' in result) {
        if (via !== 'candidate' || candidate === undefined) return { pdu: result.body, via, channel };
        // The newer enrollment proved it holds the key: it replaces the one it found.
        this.#candidates.delete(from);
        if (session !== undefined) this.#abandon(from, session);
        this.#setSession(from, candidate);
        this.#updateSweep();
        return { pdu: result.body, via: 'session', channel };
      }
      if (result.failure === 'replayed') failure = 'replayed';
    }
    this.#stats[failure]++;
    if (failure === 'unauthenticated') {
      try {
        const msg = decodeCdapMessage(split.body);
        if (msg.opCode === OpCode.M_START && msg.invokeId) {
          this.#reply(from, msg, Result.NOT_CONNECTED, 'not connected: send M_CONNECT first', null);
        }
      } catch {
        // not even CDAP: dropped
      }
    }
    return undefined;
  }

  #dispatch(msg: CdapMessage, from: string, known: MemberRecord | undefined, opened: Opened): void {
    let member = known;
    const { via, channel } = opened;
    // With HMAC-SHA256 a PDU acts only on what its channel belongs to: the
    // enrollment's steps on the enrollment, a keepalive on the member (or on
    // the enrollment it completes). One withheld under an older channel and
    // delivered late cannot touch a newer enrollment.
    const enrollmentStep = via === 'plain' || via === 'session';
    switch (msg.opCode) {
      case OpCode.M_CONNECT:
        this.#onConnect(msg, from);
        return;
      case OpCode.M_START:
        if (enrollmentStep)
          this.#onStart(msg, from, channel).catch(() => this.#reply(from, msg, Result.FAILED, 'enroller failure', channel));
        return;
      case OpCode.M_STOP_R:
        if (enrollmentStep) this.#onStopReply(msg, from, channel);
        return;
      case OpCode.M_READ:
        if (via === 'unsealed') return;
        if (msg.objClass === KEEPALIVE_OBJECT.objClass && member === undefined) {
          // Only an enrolled member sends keepalives: one whose M_STOP went out
          // and whose M_STOP_R was lost has completed its enrollment.
          const session = this.#sessions.get(from);
          if (session?.stopInvokeId !== undefined && (via === 'plain' || via === 'session')) {
            this.#onStopReply({ opCode: OpCode.M_STOP_R, invokeId: session.stopInvokeId, result: 0 }, from, channel);
            member = this.#memberAt(from);
          }
        }
        if (msg.objClass === KEEPALIVE_OBJECT.objClass && member !== undefined && !this.#vouching()) {
          // Never answered as enrolled while its binding cannot be proven current: told
          // it is not enrolled here, it is not (it enrols again, here or elsewhere).
          this.#letGo(member);
          this.#reply(from, msg, Result.FAILED, 'not enrolled: this enroller lost its lease in the shared store; enrol again', channel);
        } else if (msg.objClass === KEEPALIVE_OBJECT.objClass && member !== undefined) {
          this.#stats.keepalives++;
          this.#reply(from, msg, Result.OK, undefined, channel);
        } else {
          const reason = member === undefined ? 'not enrolled' : `cannot read ${msg.objName ?? 'that object'}`;
          this.#reply(from, msg, Result.FAILED, reason, channel);
        }
        return;
      case OpCode.M_RELEASE:
        this.#onRelease(msg, from, channel);
        return;
      default:
        // Replies (M_CREATE_R for the RIB sync, ...) need no answer.
        if (!isReply(msg.opCode)) this.#reply(from, msg, Result.FAILED, 'operation not supported by the enroller', channel);
    }
  }

  /** A PDU that broke the rules: answer with a failure where a reply is due (through the channel that opened it, if any), never act on it. */
  #answerInvalid(err: unknown, from: string, channel: SecureChannel | null): void {
    if (!(err instanceof ProtocolError)) return;
    const { opCode, invokeId } = err;
    if (opCode === undefined || isReply(opCode as OpCode) || invokeId === undefined || invokeId === 0) return;
    const request: CdapMessage = { opCode: opCode as OpCode, invokeId };
    if (opCode === OpCode.M_CONNECT) {
      request.srcApName = 'unknown';
      request.destApName = this.#ipcpName;
    }
    this.#reply(from, request, Result.FAILED, err.message, channel);
  }

  #onConnect(msg: CdapMessage, from: string): void {
    const name = msg.srcApName ?? '';
    const existing = this.#sessions.get(from);
    const repeated = [existing, this.#candidates.get(from)].find(
      (s) => s !== undefined && s.connectInvokeId === msg.invokeId && s.name === name,
    );
    if (repeated !== undefined) {
      this.#sendBytes(from, repeated.connectReply, null);
      return;
    }
    // The answers to M_CONNECT go unsealed: the member has no channel yet (M_CONNECT_R carries the enroller's proof).
    const reject = (reason: string, result: number = Result.FAILED): void => {
      this.#stats.rejected++;
      this.#reply(from, msg, result, reason, null);
      this.#emit('enrollment:rejected', { shimAddress: from, name, reason, result });
    };
    // A member names the DIF or this IPCP; one that knows neither names our shim address.
    if (msg.destApName !== this.#ipcpName && msg.destApName !== this.#difName && msg.destApName !== this.#shim.localAddress) {
      reject(`unknown destination "${msg.destApName}": this is "${this.#ipcpName}" of DIF "${this.#difName}"`);
      return;
    }
    if (this.#allowed !== undefined && !this.#allowed.has(name)) {
      this.#stats.authFailures++;
      reject(`IPCP name "${name}" is not allowed to enrol`, Result.AUTH_FAILED);
      return;
    }
    const verdict = this.#auth.connect(msg);
    if (!verdict.ok) {
      this.#stats.authFailures++;
      reject(verdict.reason, Result.AUTH_FAILED);
      return;
    }
    if (existing === undefined && this.#sessions.size + this.#candidates.size >= this.#limits.maxPending) {
      this.#stats.busy++;
      reject(`busy: ${this.#sessions.size + this.#candidates.size} enrollments in progress, try again later`, Result.BUSY);
      return;
    }
    // Nothing is done to another holder of the name for a newcomer that has
    // not proven itself yet: with HMAC-SHA256 the proof comes in M_START, and
    // the name is contested there.
    const contested = verdict.checkProof !== undefined && this.#rivalsOf(name, from).length > 0;
    if (!contested) {
      const claim = this.#claim(name, from);
      if (claim !== undefined) {
        if (claim.result === Result.BUSY) this.#stats.busy++;
        reject(claim.reason, claim.result);
        return;
      }
    }
    // Our own IPCP name answers, whatever name the member used: the HMAC proofs are bound to it.
    const connectReply = encodeCdapMessage({
      ...replyTo(msg, Result.OK),
      srcApName: this.#ipcpName,
      authMech: verdict.authMech,
      authValue: verdict.authValue,
    });
    const session: Session = {
      name,
      contested,
      fences: this.#fences,
      shimAddress: from,
      lastSeenAt: now(),
      connectInvokeId: msg.invokeId ?? 0,
      connectReply,
      ids: new InvokeIds(2),
      createdAt: now(),
      lastSentAt: now(),
      retransmitMs: this.#retransmitMs,
      checkProof: verdict.checkProof,
      channel: verdict.channel ?? null,
    };
    if (existing !== undefined && session.channel !== null) {
      // Unproven, it does not end the enrollment in progress here (see #candidates).
      this.#candidates.set(from, session);
    } else {
      if (existing !== undefined) this.#abandon(from, existing);
      this.#setSession(from, session);
    }
    this.#updateSweep();
    this.#sendBytes(from, connectReply, null);
  }

  async #onStart(msg: CdapMessage, from: string, channel: SecureChannel | null): Promise<void> {
    const session = this.#sessions.get(from);
    if (!isEnrollmentObject(msg)) {
      this.#reply(from, msg, Result.FAILED, `cannot start ${msg.objName ?? 'that object'}`, channel);
      return;
    }
    if (session === undefined) {
      this.#reply(from, msg, Result.NOT_CONNECTED, 'not connected: send M_CONNECT first', channel);
      return;
    }
    if (session.startInvokeId === msg.invokeId) {
      if (!this.#proven(session)) {
        // Bound under a lease that lapsed since: it must not complete on that binding.
        this.#unavailable(from, msg, session);
        return;
      }
      // A retransmitted M_START: the same answer, the same address.
      for (const pdu of session.burst ?? []) this.#sendBytes(from, pdu, session.channel);
      return;
    }
    let info: EnrollmentInfo;
    try {
      info = decodeEnrollmentInfo(msg.objValue?.byteval ?? new Uint8Array());
    } catch (err) {
      this.#reply(from, msg, Result.FAILED, (err as Error).message, channel);
      return;
    }
    if (session.checkProof !== undefined && !session.checkProof(info.authProof)) {
      this.#stats.authFailures++;
      this.#reply(from, msg, Result.AUTH_FAILED, MEMBER_PROOF_REFUSED, channel);
      this.#abandon(from, session);
      this.#emit('enrollment:rejected', {
        shimAddress: from,
        name: session.name,
        reason: MEMBER_PROOF_REFUSED,
        result: Result.AUTH_FAILED,
      });
      return;
    }
    if (!this.#members.has(session.name) && this.#members.size >= this.#limits.maxMembers) {
      this.#stats.rejected++;
      this.#reply(from, msg, Result.FAILED, `the DIF is full: ${this.#limits.maxMembers} members`, channel);
      return;
    }
    if (!this.#vouching()) {
      this.#fenced(from, msg, session);
      return;
    }
    if (session.contested) {
      // Proven now: the newcomer contests the name (a busy answer keeps the session; it asks again).
      const claim = this.#claim(session.name, from);
      if (claim !== undefined) {
        if (claim.result === Result.BUSY) this.#stats.busy++;
        else this.#stats.rejected++;
        this.#reply(from, msg, claim.result, claim.reason, channel);
        this.#emit('enrollment:rejected', { shimAddress: from, name: session.name, reason: claim.reason, result: claim.result });
        return;
      }
      session.contested = false;
      this.#sessionByName.set(session.name, from);
    }
    session.fences = this.#fences;
    session.startInvokeId = msg.invokeId ?? 0;
    session.burst = undefined;
    const heldBefore = this.#pool.addressOf(session.name);
    let assignment = this.#pool.assign(session.name, info.address ?? 0);
    // Durable before anyone hears of it: a crash from here on loses an
    // address nobody was told, never one somebody holds. A shared store may
    // refuse because another enroller took the name or the address first: it
    // has told the pool what it found, and the pool proposes again.
    for (let tries = 1; assignment.ok; tries++) {
      let stored: unknown;
      try {
        stored = await this.#store.bind({ name: session.name, address: assignment.address });
      } catch (err) {
        if (this.#pool.addressOf(session.name) === assignment.address) {
          if (heldBefore === undefined) this.#pool.release(session.name);
          else this.#pool.set(session.name, heldBefore);
        }
        session.startInvokeId = undefined;
        const reason = `the enroller cannot store addresses now: ${(err as Error).message}`;
        this.#reply(from, msg, Result.UNAVAILABLE, reason, channel);
        this.#emit('enrollment:rejected', { shimAddress: from, name: session.name, reason, result: Result.UNAVAILABLE });
        return;
      }
      if (this.#sessions.get(from) !== session) {
        // Replaced or stopped meanwhile: whatever was bound for it is let go like an abandoned enrollment's.
        if (stored !== false && !this.#members.has(session.name) && !this.#servingSession(session.name)) {
          if (heldBefore === undefined) this.#release(session.name);
          else {
            this.#leave(session.name);
            if (!this.#holds.has(session.name)) this.#hold(session.name);
          }
        }
        return;
      }
      if (stored !== false) {
        if (!this.#proven(session)) {
          // The lease lapsed while the bind was in flight: the binding is not proven.
          session.address = assignment.address;
          session.newBinding = heldBefore === undefined;
          this.#unavailable(from, msg, session);
          return;
        }
        break;
      }
      if (tries === MAX_BIND_TRIES) {
        session.startInvokeId = undefined;
        this.#reply(from, msg, Result.BUSY, `busy: ${tries} addresses were taken by other enrollers meanwhile, try again`, channel);
        return;
      }
      assignment = this.#pool.assign(session.name, info.address ?? 0);
    }
    if (!assignment.ok) {
      const reply = encodeCdapMessage(replyTo(msg, Result.FAILED, assignment.reason));
      session.burst = [reply];
      this.#sendBytes(from, reply, session.channel);
      this.#emit('enrollment:rejected', { shimAddress: from, name: session.name, reason: assignment.reason, result: Result.FAILED });
      return;
    }
    session.address = assignment.address;
    session.newBinding = heldBefore === undefined;
    // The name is back: its hold ends here (an abandoned session holds it again, at least for what was left).
    const hold = this.#holds.get(session.name);
    if (hold?.entry !== undefined) session.heldUntil = Math.max(session.heldUntil ?? 0, hold.entry.at);
    this.#ticker.cancel(hold?.entry);
    this.#holds.delete(session.name);
    let objects: RibObject[];
    try {
      objects = (await this.#rib.list()).filter((o) => !o.name.startsWith(RibNames.localPrefix));
    } catch (err) {
      this.#reply(from, msg, Result.FAILED, `enroller RIB failure: ${(err as Error).message}`, channel);
      session.startInvokeId = undefined;
      return;
    }
    if (this.#sessions.get(from) !== session) return; // replaced or stopped meanwhile
    if (!this.#proven(session)) {
      this.#unavailable(from, msg, session);
      return;
    }
    const startReply = enrollmentMessage(
      OpCode.M_START_R,
      session.startInvokeId,
      { address: assignment.address, difName: this.#difName, dtConstants: this.#dtConstants, alternates: this.#advertised() },
      Result.OK,
    );
    const creates = objects.map((o) => createRequest(session.ids.next(), o));
    session.stopInvokeId = session.ids.next();
    const stop = enrollmentMessage(OpCode.M_STOP, session.stopInvokeId, { startEarly: true, ribObjectCount: creates.length });
    try {
      session.burst = [startReply, ...creates, stop].map(encodeCdapMessage);
    } catch (err) {
      this.#reply(from, msg, Result.FAILED, `cannot encode the RIB: ${(err as Error).message}`, channel);
      session.startInvokeId = undefined;
      return;
    }
    session.lastSentAt = now();
    for (const pdu of session.burst) this.#sendBytes(from, pdu, session.channel);
  }

  #onStopReply(msg: CdapMessage, from: string, channel: SecureChannel | null): void {
    const session = this.#sessions.get(from);
    if (session === undefined && (msg.result ?? 0) === 0 && this.#memberAt(from) === undefined) {
      // It believes it completed an enrollment we no longer hold (forgotten, or
      // taken over by another incarnation of its name): tell it it holds nothing here.
      this.#sendRelease(from, channel);
      return;
    }
    if (session === undefined || session.stopInvokeId === undefined || session.stopInvokeId !== msg.invokeId) return;
    if ((msg.result ?? 0) === 0 && !this.#proven(session)) {
      // Its address was bound under a lease that lapsed since: not proven, so not completed; it enrols again.
      this.#sendRelease(from, channel);
      this.#abandon(from, session);
      this.#updateSweep();
      return;
    }
    this.#deleteSession(from);
    this.#updateSweep();
    if ((msg.result ?? 0) !== 0 || session.address === undefined) return;
    const previous = this.#members.get(session.name);
    if (previous !== undefined) this.#forget(previous);
    const staleName = this.#memberByShim.get(from);
    const stale = staleName === undefined ? undefined : this.#members.get(staleName);
    if (stale !== undefined) {
      this.#letGo(stale);
    }
    this.#ticker.cancel(this.#holds.get(session.name)?.entry);
    this.#holds.delete(session.name);
    const record: MemberRecord = {
      name: session.name,
      address: session.address,
      shimAddress: from,
      enrolledAt: new Date(),
      lastSeen: new Date(),
      lastSeenAt: now(),
      lease: undefined,
      channel: session.channel,
    };
    this.#members.set(session.name, record);
    this.#memberByShim.set(from, session.name);
    this.#armLease(record);
    this.#emit('member:enrolled', info(record));
  }

  #onRelease(msg: CdapMessage, from: string, channel: SecureChannel | null): void {
    const session = this.#sessions.get(from);
    if (session !== undefined) this.#abandon(from, session);
    this.#updateSweep();
    const member = this.#memberAt(from);
    if (member !== undefined) {
      this.#letGo(member);
      this.#emit('member:released', info(member));
    }
    this.#reply(from, msg, Result.OK, undefined, channel);
  }

  /** Answers an M_START "unavailable": the shared store cannot prove a binding now. */
  #fenced(from: string, msg: CdapMessage, session: Session): void {
    this.#reply(from, msg, Result.UNAVAILABLE, FENCED_REASON, session.channel);
    this.#emit('enrollment:rejected', { shimAddress: from, name: session.name, reason: FENCED_REASON, result: Result.UNAVAILABLE });
  }

  /** As {@link #fenced}, and the enrollment is let go (its address was bound under a lease that lapsed). */
  #unavailable(from: string, msg: CdapMessage, session: Session): void {
    this.#fenced(from, msg, session);
    this.#abandon(from, session);
    this.#updateSweep();
  }

  /** Tells `to` it holds nothing here (any more): M_RELEASE (unsealed when this enroller holds no channel with it: a member with authentication then drops it, and finds out by its keepalives). */
  #sendRelease(to: string, channel: SecureChannel | null): void {
    this.#send(to, { opCode: OpCode.M_RELEASE, invokeId: this.#probeIds.next() }, channel);
  }

  /** The enrollers members may fail over to: the configured ones and the live ones a shared store reports. */
  #advertised(): string[] {
    if (this.#liveAlternates.length === 0) return this.#alternates;
    return [...new Set([...this.#alternates, ...this.#liveAlternates])];
  }

  #setSession(from: string, session: Session): void {
    this.#sessions.set(from, session);
    // A contested session does not hold the name until it wins it (see #claim).
    if (!session.contested) this.#sessionByName.set(session.name, from);
  }

  /** The others that hold `name` (an enrollment in progress, an enrolled member) from another shim address than `from`. */
  #rivalsOf(name: string, from: string): Array<{ peer: Peer; gone: () => void; doing: string }> {
    const rivals: Array<{ peer: Peer; gone: () => void; doing: string }> = [];
    const rivalShim = this.#sessionByName.get(name);
    const rivalSession = rivalShim === undefined || rivalShim === from ? undefined : this.#sessions.get(rivalShim);
    if (rivalSession !== undefined) {
      rivals.push({ peer: rivalSession, gone: () => this.#abandon(rivalSession.shimAddress, rivalSession), doing: 'enrolling' });
    }
    const holder = this.#members.get(name);
    if (holder !== undefined && holder.shimAddress !== from) {
      rivals.push({
        peer: holder,
        gone: () => {
          this.#letGo(holder); // the newcomer's enrollment ends the hold; if it never completes, the address is freed
          this.#emit('member:gone', info(holder));
        },
        doing: 'enrolled',
      });
    }
    return rivals;
  }

  /**
   * Whether the newcomer at `from` may have `name`: two live IPCPs with one
   * name would share one address, so the first keeps it. But an IPCP that
   * crashed (enrolled, or halfway through enrolling) and restarts comes back
   * from a new address: every other holder is asked whether it is still
   * there (one probe per shim address, all at once). Undefined when the name
   * is the newcomer's (a silent holder was let go); else the refusal.
   */
  #claim(name: string, from: string): { result: number; reason: string } | undefined {
    const rivals = this.#rivalsOf(name, from);
    const byShim = new Map<string, 'alive' | 'gone' | 'checking'>();
    for (const { peer } of rivals) if (!byShim.has(peer.shimAddress)) byShim.set(peer.shimAddress, this.#probe(peer.shimAddress));
    const verdicts = rivals.map(({ peer }) => byShim.get(peer.shimAddress));
    const alive = rivals.find((_, i) => verdicts[i] === 'alive');
    if (alive !== undefined)
      return { result: Result.NAME_IN_USE, reason: `IPCP name "${name}" is ${alive.doing} from another shim address` };
    const checking = rivals.find((_, i) => verdicts[i] === 'checking');
    if (checking !== undefined) {
      return {
        result: Result.BUSY,
        reason: `busy: IPCP name "${name}" is ${checking.doing} from ${checking.peer.shimAddress}; checking whether that IPCP is still alive, try again`,
      };
    }
    // None answered: this is their new incarnation, which takes the name (and its address) over.
    for (const rival of rivals) rival.gone();
    return undefined;
  }

  #deleteSession(from: string): void {
    const session = this.#sessions.get(from);
    if (session === undefined) return;
    this.#sessions.delete(from);
    if (this.#sessionByName.get(session.name) === from) this.#sessionByName.delete(session.name);
  }

  /** Forgets a half-finished enrollment; an address it bound for a new name goes back to the pool. */
  #abandon(from: string, session: Session): void {
    if (this.#sessions.get(from) === session) this.#deleteSession(from);
    if (session.address === undefined || this.#members.has(session.name) || this.#holds.has(session.name)) return;
    if (session.newBinding) {
      this.#release(session.name);
    } else {
      this.#leave(session.name);
      // An address it had before: held for it again, and never for less than what was left of its hold.
      this.#hold(session.name, Math.max(this.#holdMs, (session.heldUntil ?? 0) - now()));
    }
  }

  /** Tells a shared store this enroller no longer serves `name`. */
  #leave(name: string): void {
    if (this.#store.leave !== undefined) this.#storeCall(() => this.#store.leave?.(name));
  }

  /**
   * Frees `name`'s address: in the store first, then in the pool, unless the
   * name came back meanwhile. A store that fails or refuses (another
   * enroller serves the name) keeps the binding, and so does the pool.
   */
  #release(name: string, onReleased?: (address: number) => void): void {
    const retry = (): void => {
      // The store failed (etcd out of reach): try again soon, not after a whole hold.
      if (this.running && !this.#members.has(name) && !this.#servingSession(name))
        this.#hold(name, Math.min(this.#holdMs, RETRY_RELEASE_MS));
    };
    const address = this.#pool.addressOf(name);
    if (address === undefined) return;
    const inUse = (): boolean => {
      const now = this.#pool.addressOf(name);
      return this.#members.has(name) || this.#servingSession(name) || (now !== undefined && now !== address);
    };
    let result: unknown;
    try {
      result = this.#store.release(name);
    } catch {
      return;
    }
    const done = (released: unknown): void => {
      if (released === false || inUse()) return;
      this.#pool.release(name);
      onReleased?.(address);
    };
    if (result instanceof Promise) result.then(done, retry);
    else done(result);
  }

  /** Lets a member go as one that went silent: off the list, no longer served here, its address held. */
  #letGo(member: MemberRecord): void {
    this.#forget(member);
    this.#leave(member.name);
    this.#hold(member.name);
  }

  /** Removes a member from the list and stops its lease. */
  #forget(member: MemberRecord): void {
    this.#ticker.cancel(member.lease);
    member.lease = undefined;
    if (this.#members.get(member.name) === member) this.#members.delete(member.name);
    if (this.#memberByShim.get(member.shimAddress) === member.name) this.#memberByShim.delete(member.shimAddress);
  }

  /**
   * Whether the peer at `shimAddress`, which holds a name (enrolled, or
   * enrolling) that a newcomer asks for, is still there: a keepalive M_READ
   * goes to it (twice, in case one is lost); anything it sends from then on
   * proves it alive, and silence for `PROBE_MS` proves it gone. `checking`
   * until then.
   */
  #probe(shimAddress: string): 'alive' | 'gone' | 'checking' {
    const t = now();
    const probe = this.#probes.get(shimAddress);
    if (probe === undefined || t - probe.sentAt > PROBE_MS * 10) {
      this.#ticker.cancel(probe?.again);
      const sent: { sentAt: number; again: TickerEntry | undefined } = { sentAt: t, again: undefined };
      this.#probes.set(shimAddress, sent);
      const ask = (): void => {
        sent.again = undefined;
        if (this.#probes.get(shimAddress) !== sent || this.#heardAt(shimAddress) === undefined) return;
        this.#send(
          shimAddress,
          { opCode: OpCode.M_READ, invokeId: this.#probeIds.next(), ...KEEPALIVE_OBJECT },
          this.#channelFor(shimAddress),
        );
      };
      ask();
      sent.again = this.#ticker.after(PROBE_MS / 2, ask);
      return 'checking';
    }
    if ((this.#heardAt(shimAddress) ?? Number.NEGATIVE_INFINITY) > probe.sentAt) {
      this.#probes.delete(shimAddress);
      return 'alive';
    }
    if (t - probe.sentAt < PROBE_MS) return 'checking';
    this.#ticker.cancel(probe.again);
    this.#probes.delete(shimAddress);
    return 'gone';
  }

  /** When the enrolled or enrolling peer at `shimAddress` last sent anything; undefined when there is none. */
  #heardAt(shimAddress: string): number | undefined {
    const session = this.#sessions.get(shimAddress);
    const member = this.#memberAt(shimAddress);
    if (session === undefined) return member?.lastSeenAt;
    return member === undefined ? session.lastSeenAt : Math.max(session.lastSeenAt, member.lastSeenAt);
  }

  /** Checks the member's lease when it would expire; re-arms itself while the member speaks. */
  #armLease(member: MemberRecord): void {
    this.#ticker.cancel(member.lease);
    const check = (): void => {
      member.lease = undefined;
      if (this.#members.get(member.name) !== member || !this.running) return;
      if (now() - member.lastSeenAt >= this.#leaseMs) {
        this.#letGo(member);
        this.#emit('member:gone', info(member));
      } else {
        member.lease = this.#ticker.schedule(member.lastSeenAt + this.#leaseMs, check);
      }
    };
    member.lease = this.#ticker.schedule(member.lastSeenAt + this.#leaseMs, check);
  }

  /** Keeps `name`'s address bound for `holdMs` (or `ms`), then frees it unless the name enrolled again. */
  #hold(name: string, ms = this.#holdMs): void {
    this.#ticker.cancel(this.#holds.get(name)?.entry);
    const entry = this.#ticker.after(ms, () => {
      this.#holds.delete(name);
      if (this.#members.has(name) || this.#servingSession(name)) return;
      this.#release(name, (address) => this.#emit('address:released', { name, address }));
    });
    this.#holds.set(name, { entry, ms });
  }

  #memberAt(shimAddress: string): MemberRecord | undefined {
    const name = this.#memberByShim.get(shimAddress);
    return name === undefined ? undefined : this.#members.get(name);
  }

  /** Sends M_STOP again to members whose M_STOP_R is missing; forgets enrollments older than the pending timeout. */
  #sweep(): void {
    const t = now();
    for (const [from, candidate] of this.#candidates) {
      if (t - candidate.createdAt > this.#pendingTimeoutMs) this.#candidates.delete(from);
    }
    for (const [from, session] of this.#sessions) {
      if (t - session.createdAt > this.#pendingTimeoutMs) {
        this.#abandon(from, session);
        continue;
      }
      const stop = session.burst?.at(-1);
      if (session.stopInvokeId === undefined || stop === undefined) continue;
      if (t - session.lastSentAt < session.retransmitMs) continue;
      session.lastSentAt = t;
      session.retransmitMs = Math.min(session.retransmitMs * 2, this.#retransmitMs * 8);
      this.#sendBytes(from, stop, session.channel);
    }
    this.#updateSweep();
  }

  /** One interval timer, running only while enrollments are in progress. */
  #updateSweep(): void {
    const pending = this.#sessions.size + this.#candidates.size;
    if (pending > 0 && this.#sweepTimer === undefined && this.running) {
      this.#sweepTimer = setInterval(() => this.#sweep(), this.#retransmitMs);
      this.#sweepTimer.unref?.();
    } else if ((pending === 0 || !this.running) && this.#sweepTimer !== undefined) {
      clearInterval(this.#sweepTimer);
      this.#sweepTimer = undefined;
    }
  }

  /** Every event goes to listeners, to the `rina-enrollment:enroller` channel, and to the logger. */
  #emit<E extends keyof EnrollerEvents>(event: E, ...args: EnrollerEvents[E]): void {
    const fields = { enroller: this.#ipcpName, event, ...(args[0] as object) };
    publish(diagnosticsChannels.enroller, fields);
    if (this.#logger !== undefined) {
      const [level, text] = describeEnrollerEvent(event, args[0] as never);
      log(this.#logger, level, fields, text);
    }
    safeEmit(this as EventEmitter<EnrollerEvents>, event, ...(args as never));
  }

  /** Answers `request`, sealed by `channel`: the one that opened the request (null: unsealed, as it came). */
  #reply(to: string, request: CdapMessage, result: number, reason: string | undefined, channel: SecureChannel | null): void {
    this.#send(to, replyTo(request, result, reason), channel);
  }

  #send(to: string, msg: CdapMessage, channel: SecureChannel | null): void {
    let pdu: Uint8Array;
    try {
      pdu = encodeCdapMessage(msg);
    } catch {
      return; // a reply we cannot build (e.g. to a request without invoke id) is not sent
    }
    this.#sendBytes(to, pdu, channel);
  }

  #sendBytes(to: string, pdu: Uint8Array, channel: SecureChannel | null): void {
    // A datagram that cannot be sent is a lost datagram: the peer retransmits.
    this.#shim.send(to, sealed(pdu, channel)).catch(() => undefined);
  }

  /**
   * The channel an unsolicited PDU (a liveness probe) to `to` goes through
   * with HMAC-SHA256: that of the enrollment in progress from there (the
   * newer), else that of the member enrolled there; null (unsealed) when
   * there is neither, and always without HMAC-SHA256.
   */
  #channelFor(to: string): SecureChannel | null {
    return this.#sessions.get(to)?.channel ?? this.#memberAt(to)?.channel ?? null;
  }
}

/** Counters of an {@link Enroller}. */
export interface EnrollerStats {
  /** PDUs received. */
  received: number;
  /** PDUs over `maxPduBytes`, dropped unread. */
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
  /** CONNECTs answered "busy". */
  busy: number;
  /** CONNECTs or STARTs refused for authentication or the allow-list. */
  authFailures: number;
  /** Other refusals. */
  rejected: number;
}

/**
 * A token bucket per shim address, in a map bounded by `maxPeers`: the least
 * recently heard address is forgotten first (a Map keeps insertion order, and
 * every message re-inserts its sender).
 */
class RateLimiter {
  readonly #perMs: number;
  readonly #burst: number;
  readonly #maxPeers: number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(perSecond: number, burst: number, maxPeers: number) {
    this.#perMs = perSecond / 1000;
    this.#burst = burst;
    this.#maxPeers = maxPeers;
  }

  get size(): number {
    return this.#buckets.size;
  }

  take(peer: string): boolean {
    const t = now();
    const bucket = this.#buckets.get(peer) ?? { tokens: this.#burst, at: t };
    this.#buckets.delete(peer);
    bucket.tokens = Math.min(this.#burst, bucket.tokens + (t - bucket.at) * this.#perMs);
    bucket.at = t;
    const allowed = bucket.tokens >= 1;
    if (allowed) bucket.tokens -= 1;
    this.#buckets.set(peer, bucket);
    if (this.#buckets.size > this.#maxPeers) {
      const oldest = this.#buckets.keys().next().value;
      if (oldest !== undefined) this.#buckets.delete(oldest);
    }
    return allowed;
  }
}

function describeEnrollerEvent<E extends keyof EnrollerEvents>(event: E, info: EnrollerEvents[E][0]): ['info' | 'warn', string] {
  switch (event) {
    case 'member:enrolled': {
      const m = info as MemberInfo;
      return ['info', `member ${m.name} enrolled with address ${m.address} from ${m.shimAddress}`];
    }
    case 'member:released': {
      const m = info as MemberInfo;
      return ['info', `member ${m.name} left (address ${m.address} held)`];
    }
    case 'member:gone': {
      const m = info as MemberInfo;
      return ['warn', `member ${m.name} went silent (address ${m.address} held)`];
    }
    case 'address:released': {
      const b = info as { name: string; address: number };
      return ['info', `address ${b.address} of ${b.name} is free again`];
    }
    default: {
      const r = info as { shimAddress: string; name: string | undefined; reason: string };
      return ['warn', `refused ${r.name ?? 'a peer'} at ${r.shimAddress}: ${r.reason}`];
    }
  }
}
