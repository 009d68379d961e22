/**
 * One enrollment attempt of a member: the exchange of docs/PROTOCOL.md over an
 * unreliable shim, bounded in time, retransmitting its requests until each is
 * answered.
 *
 * @module
 */
import { decodeEnrollmentInfo } from '../cdap/codec.js';
import { connectRequest, enrollmentMessage, type InvokeIds, isEnrollmentObject, Result, replyTo, retryHintOf } from '../cdap/messages.js';
import { type CdapMessage, type EnrollmentInfo, OpCode } from '../cdap/types.js';
import type { EnrollmentConfig } from '../config.js';
import { EnrollmentAbortedError, EnrollmentRejectedError, ProtocolError } from '../errors.js';
import { type RibObject, syncedNameProblem, wellKnown } from '../rib/rib.js';
import { type AuthOptions, memberAuth, type MemberAuthSession } from '../auth/auth.js';
import type { SecureChannel } from '../auth/channel.js';
import { type Clock, deadlineTimer } from '../util/clock.js';
import { stackless } from '../util/stackless.js';

/** What a successful attempt yields. */
export interface AttemptResult {
  readonly address: number;
  readonly difName: string | undefined;
  /** Other enrollers the enroller advertised (EnrollmentInfo field 18). */
  readonly alternates: readonly string[];
  /** The objects the enroller synced, in the order received. */
  readonly objects: RibObject[];
  /** The M_STOP to answer; its M_STOP_R is sent by the caller once the RIB holds the objects. */
  readonly stop: CdapMessage;
  /** With `hmac-sha256`: the channel of this enrollment, which every later PDU with this enroller goes through. */
  readonly channel: SecureChannel | undefined;
}

/**
 * At most this many RIB objects are kept in one attempt: a DIF's RIB sync is
 * a few objects, and a flood of distinct ones from the enroller's address
 * would otherwise grow until the attempt's time ran out.
 */
export const MAX_SYNCED_OBJECTS = 10_000;

/**
 * An attempt that ran out of its `timeoutMs`, or was answered "unavailable" or "busy": the only failures that are
 * retried. Internal (a run reports it as an `EnrollmentTimeoutError`), so it is built without a stack: see {@link timedOut}.
 */
export class AttemptTimeout extends Error {
  constructor(
    readonly bootstrap: string,
    options?: { cause?: unknown },
  ) {
    super(`no complete answer from "${bootstrap}" within the attempt's time`, options);
    this.name = 'AttemptTimeout';
  }

  /** The enroller answered "busy" (-5): alive and loaded, it asks the member to come back later. */
  get busy(): boolean {
    return this.cause instanceof EnrollmentRejectedError && this.cause.result === Result.BUSY;
  }

  /** The ms after which a "busy" enroller asked to be asked again (its `result_reason`), if it said. */
  get retryInMs(): number | undefined {
    return this.busy ? retryHintOf((this.cause as EnrollmentRejectedError).reason) : undefined;
  }
}

/** An {@link AttemptTimeout} of `bootstrap`, built without a stack (one per attempt that fails: see `stackless`). */
export function timedOut(bootstrap: string, cause?: unknown): AttemptTimeout {
  return stackless(() => new AttemptTimeout(bootstrap, { cause }));
}

/** What an attempt needs from its manager. */
export interface AttemptContext {
  readonly ipcpName: string;
  readonly bootstrap: string;
  /** The DIF to join, named in M_CONNECT; without it the enroller is named by its shim address. */
  readonly difName: string | undefined;
  /** How the member proves itself. */
  readonly auth: AuthOptions;
  readonly requestedAddress: number;
  readonly lowerDifs: readonly string[];
  readonly config: EnrollmentConfig;
  readonly ids: InvokeIds;
  /** Where the attempt's timers are set. */
  readonly clock: Clock;
  /**
   * Sends a message to the bootstrap, sealed by `channel` when there is one;
   * resolves once handed to the shim, rejects with the shim's error.
   */
  send(msg: CdapMessage, channel: SecureChannel | undefined): Promise<void>;
}

type Phase = 'connecting' | 'starting' | 'done';

/**
 * Runs one attempt; the manager feeds it every message from the bootstrap
 * through {@link handle} while it runs.
 */
export class EnrollmentAttempt {
  readonly #ctx: AttemptContext;
  #phase: Phase = 'connecting';
  #request: CdapMessage;
  #retransmitMs: number;
  /** Retransmits the request; put off one event-loop turn when it fires late (see `deadlineTimer`). */
  #retransmitTimer: { clear(): void } | undefined;
  #deadline: { clear(): void } | undefined;
  #resolve: ((result: AttemptResult) => void) | undefined;
  #reject: ((err: unknown) => void) | undefined;
  #lastProblem: Error | undefined;
  #startReply: EnrollmentInfo | undefined;
  #stop: { msg: CdapMessage; info: EnrollmentInfo } | undefined;
  readonly #objects = new Map<number, RibObject>();
  #authSession: MemberAuthSession | undefined;
  #channel: SecureChannel | undefined;
  #answered = false;
  #slow = false;

  constructor(ctx: AttemptContext) {
    this.#ctx = ctx;
    this.#retransmitMs = ctx.config.retransmitMs;
    this.#request = this.#connect();
  }

  /** A fresh M_CONNECT, with fresh credentials (a new nonce for HMAC-SHA256). */
  #connect(): CdapMessage {
    this.#channel = undefined;
    this.#authSession = memberAuth(this.#ctx.auth, this.#ctx.ipcpName, this.#ctx.difName);
    const msg = connectRequest(this.#ctx.ids.next(), this.#ctx.ipcpName, this.#ctx.difName ?? this.#ctx.bootstrap);
    msg.authMech = this.#authSession.authMech;
    if (this.#authSession.authValue !== undefined) msg.authValue = this.#authSession.authValue;
    return msg;
  }

  /** Starts the exchange; settles once, on success, rejection, timeout or abort. */
  run(signal: AbortSignal): Promise<AttemptResult> {
    return new Promise<AttemptResult>((resolve, reject) => {
      if (signal.aborted) {
        reject(new EnrollmentAbortedError(undefined, { cause: signal.reason }));
        return;
      }
      const onAbort = (): void => this.#fail(new EnrollmentAbortedError(undefined, { cause: signal.reason }));
      // Removed when the attempt settles (an abort settles it too).
      signal.addEventListener('abort', onAbort);
      this.#resolve = (result) => {
        signal.removeEventListener('abort', onAbort);
        resolve(result);
      };
      this.#reject = (err) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      };
      // A process that was itself late reads the answers queued meanwhile before the attempt times out.
      this.#deadline = deadlineTimer(this.#ctx.clock, this.#ctx.config.timeoutMs, () => {
        this.#slow = this.#answered;
        this.#fail(timedOut(this.#ctx.bootstrap, this.#lastProblem));
      });
      this.#transmit();
    });
  }

  /**
   * Whether the attempt ran out of its time, or was answered "unavailable", after the enroller had accepted its
   * M_CONNECT: the enroller was alive then, and slow or its store failing for now, not gone. It may have bound an
   * address for this member, and it keeps the enrollment (one of its places) until the member comes back or its
   * pending timeout: the next M_CONNECT from this shim address takes both over (docs/PROTOCOL.md, step 1).
   */
  get slow(): boolean {
    return this.#slow;
  }

  /**
   * The channel PDUs from the bootstrap must come through (with
   * `hmac-sha256`, once M_CONNECT_R is accepted); undefined before, and
   * without that mechanism.
   */
  get channel(): SecureChannel | undefined {
    return this.#channel;
  }

  /** Feeds a message received from the bootstrap. */
  handle(msg: CdapMessage): void {
    if (this.#phase === 'done') return;
    switch (msg.opCode) {
      case OpCode.M_CONNECT_R:
        if (this.#phase === 'connecting' && msg.invokeId === this.#request.invokeId) this.#onConnectReply(msg);
        return;
      case OpCode.M_START_R:
        if (this.#phase === 'starting' && msg.invokeId === this.#request.invokeId) this.#onStartReply(msg);
        return;
      case OpCode.M_CREATE:
      case OpCode.M_WRITE:
        this.#onObject(msg);
        return;
      case OpCode.M_STOP:
        if (isEnrollmentObject(msg)) this.#onStop(msg);
        else this.#reply(msg);
        return;
      case OpCode.M_RELEASE:
        // The enroller is stopping (or forgot this enrollment): it will not
        // complete; fail now, as a timeout would later, so recovery moves on.
        this.#reply(msg);
        this.#fail(
          timedOut(
            this.#ctx.bootstrap,
            new EnrollmentRejectedError(Result.FAILED, 'the enroller released this enrollment (it is stopping)'),
          ),
        );
        return;
      default:
        // Anything else the enroller asks during enrollment (rlite's
        // operational_status M_START, ...) is acknowledged, never fatal.
        if (msg.opCode % 2 === 0) this.#reply(msg);
    }
  }

  /** Records a problem with a message; it becomes the cause of a timeout. */
  noteProblem(err: Error): void {
    this.#lastProblem = err;
  }

  #onConnectReply(msg: CdapMessage): void {
    if ((msg.result ?? 0) !== 0) {
      this.#refused(msg, 'M_CONNECT refused');
      return;
    }
    const accepted = this.#authSession?.accept(msg);
    if (accepted === false) {
      this.#fail(
        new EnrollmentRejectedError(
          Result.AUTH_FAILED,
          "this member refused the enroller's proof: the enroller does not hold this member's key (the keys differ on the two sides)",
        ),
      );
      return;
    }
    const authProof = accepted?.proof;
    this.#channel = accepted?.channel;
    this.#phase = 'starting';
    this.#answered = true;
    this.#request = enrollmentMessage(OpCode.M_START, this.#ctx.ids.next(), {
      address: this.#ctx.requestedAddress,
      lowerDifs: [...this.#ctx.lowerDifs],
      ...(authProof === undefined ? {} : { authProof }),
    });
    this.#retransmitMs = this.#ctx.config.retransmitMs;
    this.#transmit();
  }

  /**
   * A negative answer. "Unavailable" and "busy" are the enroller's trouble,
   * not a verdict on the member: they fail the attempt as a timeout would, so
   * it is retried after a backoff (elsewhere, when other bootstraps are
   * known; first at the same enroller once after "unavailable" at M_START:
   * see {@link slow}). Anything else is final.
   */
  #refused(msg: CdapMessage, fallback: string): void {
    const result = msg.result ?? Result.FAILED;
    const reason = msg.resultReason || fallback;
    const transient = result === Result.UNAVAILABLE || result === Result.BUSY;
    if (!transient) {
      this.#fail(new EnrollmentRejectedError(result, reason));
      return;
    }
    // The answer of a loaded enroller, which may come thousands of times a second: no stack for it (see `stackless`).
    this.#slow = this.#answered && result === Result.UNAVAILABLE;
    this.#fail(
      timedOut(
        this.#ctx.bootstrap,
        stackless(() => new EnrollmentRejectedError(result, reason)),
      ),
    );
  }

  #onStartReply(msg: CdapMessage): void {
    if (this.#startReply !== undefined) return; // a late duplicate: the first answer stands
    if (msg.result === Result.NOT_CONNECTED) {
      // The enroller lost our CDAP connection (it restarted, or forgot a slow
      // enrollment): connect again within this attempt.
      this.#phase = 'connecting';
      this.#request = this.#connect();
      this.#retransmitMs = this.#ctx.config.retransmitMs;
      this.#objects.clear();
      this.#stop = undefined;
      this.#transmit();
      return;
    }
    if ((msg.result ?? 0) !== 0) {
      this.#refused(msg, 'M_START refused');
      return;
    }
    const info = this.#readInfo(msg);
    if (info === undefined) return;
    const address = info.address ?? 0;
    const width = info.dtConstants?.addressWidth;
    if (address === 0 || (width !== undefined && address >= 2 ** (8 * width))) {
      this.noteProblem(new ProtocolError(`M_START_R assigned an invalid address ${address}`));
      return;
    }
    this.#startReply = info;
    this.#maybeComplete();
  }

  #onObject(msg: CdapMessage): void {
    const { objName, objClass, objValue, invokeId } = msg;
    // (as the RIB would refuse it, and never the member's own state: /mgmt/address is its address)
    const problem = syncedNameProblem(objName);
    if (problem !== undefined || objName === undefined || objClass === undefined || objValue === undefined) {
      this.#reply(msg, Result.FAILED, problem ?? 'a RIB object needs a class and a value');
      return;
    }
    const key = invokeId ?? -this.#objects.size - 1;
    if (this.#objects.size >= MAX_SYNCED_OBJECTS && !this.#objects.has(key)) {
      this.noteProblem(new ProtocolError(`the enroller synced more than ${MAX_SYNCED_OBJECTS} RIB objects`));
      this.#reply(msg, Result.FAILED, `more than ${MAX_SYNCED_OBJECTS} RIB objects`);
      return;
    }
    const value =
      objValue.strval !== undefined && objValue.strval === this.#ctx.difName ? { ...objValue, strval: this.#ctx.difName } : objValue;
    this.#objects.set(key, { name: wellKnown(objName), class: wellKnown(objClass), value });
    this.#reply(msg);
    this.#maybeComplete();
  }

  #onStop(msg: CdapMessage): void {
    const info = this.#readInfo(msg);
    if (info === undefined) return;
    this.#stop = { msg, info };
    this.#maybeComplete();
  }

  #readInfo(msg: CdapMessage): EnrollmentInfo | undefined {
    try {
      return decodeEnrollmentInfo(msg.objValue?.byteval ?? new Uint8Array());
    } catch (err) {
      this.noteProblem(err as Error);
      return undefined;
    }
  }

  /** Done once START_R, M_STOP and every RIB object M_STOP announces have arrived. */
  #maybeComplete(): void {
    const start = this.#startReply;
    const stop = this.#stop;
    // (START_R is taken only while starting, and nothing is handled once done.)
    if (start === undefined || stop === undefined) return;
    const expected = stop.info.ribObjectCount;
    if (expected !== undefined && this.#objects.size < expected) return;
    this.#phase = 'done';
    this.#clearTimers();
    this.#resolve?.({
      address: start.address ?? 0,
      // The DIF name given to the manager when the enroller names the same one: a member keeps one copy, not a decoded one besides.
      difName: start.difName === this.#ctx.difName ? this.#ctx.difName : start.difName,
      alternates: start.alternates ?? [],
      objects: [...this.#objects.values()],
      stop: stop.msg,
      channel: this.#channel,
    });
  }

  /**
   * Sends a message. A datagram lost on the way is the network's business,
   * retransmission covers it; a send the shim refuses (closed, oversize, bad
   * address) would be refused again, so it ends the attempt at once.
   */
  #send(msg: CdapMessage): void {
    this.#ctx.send(msg, this.#channel).catch((err: unknown) => this.#fail(err));
  }

  /**
   * Answers the enroller's request `msg`. One without an invoke id (or with 0) gets no answer: a reply must carry
   * the request's (docs/PROTOCOL.md §8), and that is no reason to end the attempt.
   */
  #reply(msg: CdapMessage, result?: number, reason?: string): void {
    if (msg.invokeId) this.#send(replyTo(msg, result, reason));
  }

  /**
   * Sends the current request and (re)arms its one retransmission timer. A timer that fires late (a busy
   * process) waits for the answers that queued meanwhile to be read first: an answer already here is no loss.
   */
  #transmit(): void {
    this.#retransmitTimer?.clear();
    this.#send(this.#request);
    this.#retransmitTimer = deadlineTimer(this.#ctx.clock, this.#retransmitMs, () => this.#transmit());
    this.#retransmitMs = Math.min(this.#retransmitMs * 2, this.#ctx.config.maxRetransmitMs);
  }

  /** Ends the attempt with `err`; after the first end (success or failure), the promise ignores it. */
  #fail(err: unknown): void {
    this.#phase = 'done';
    this.#clearTimers();
    this.#reject?.(err);
  }

  #clearTimers(): void {
    this.#retransmitTimer?.clear();
    this.#deadline?.clear();
    this.#retransmitTimer = undefined;
    this.#deadline = undefined;
  }
}
