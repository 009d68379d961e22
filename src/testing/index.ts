/**
 * `rina-enrollment/testing`: a kit for unit tests of code that uses this
 * library. A mock shim that records what is sent and delivers what a test
 * says, and a scripted enroller that answers a member the way a test needs:
 * success with an address, a rejection, silence, a late or a malformed reply.
 *
 * Everything here runs on the global timers and on microtasks, so vitest's
 * (or jest's) fake timers drive it: `await vi.advanceTimersByTimeAsync(ms)`.
 *
 * @module rina-enrollment/testing
 */
import * as z from 'zod/mini';
import { decodeCdapMessage, encodeCdapMessage, encodeEnrollmentInfo } from '../cdap/codec.js';
import { createRequest, ENROLLMENT_OBJECT, KEEPALIVE_OBJECT, replyTo, Result } from '../cdap/messages.js';
import { type CdapMessage, isReply, OpCode } from '../cdap/types.js';
import { ConfigError, ShimError } from '../errors.js';
import { checkSend, receiveHandler, type Shim, type ShimHandler } from '../shim/shim.js';
import { lazySchema, parseWith } from '../util/schema.js';
import { checkScript, type EnrollerScript, type ScriptedOutcome, type ScriptedRequest } from './script.js';

export type { EnrollerScript, ScriptedOutcome, ScriptedRequest } from './script.js';

/** One PDU a {@link MockShim} was asked to send. */
export interface SentPdu {
  /** The shim address it was sent to. */
  readonly to: string;
  /** A copy of the bytes sent. */
  readonly pdu: Uint8Array;
  /** The PDU decoded, or undefined when it is not well-formed CDAP. */
  readonly message: CdapMessage | undefined;
}

/** A {@link Shim} for tests: records sends, delivers on demand, fails when told. */
export interface MockShim extends Shim {
  /** Every PDU sent so far, oldest first. */
  readonly sent: readonly SentPdu[];
  /** The decoded messages sent so far (well-formed ones only). */
  messages(): CdapMessage[];
  /** Delivers a PDU (or a message, encoded for you) to the handlers, as if `from` had sent it. */
  deliver(pdu: Uint8Array | CdapMessage, from: string): void;
  /** From now on, sends reject with a ShimError carrying `error` (pass `false` to stop failing); anything else is a ConfigError. */
  failSends(error?: Error | false): void;
  /**
   * Observes every send; returns the function that stops observing. A listener that throws does not fail the send
   * (the member under test sent it): its error is thrown on a microtask, where the test runner reports it.
   */
  onSend(listener: (sent: SentPdu) => void): () => void;
  /** Forgets what was sent. */
  clear(): void;
  /** True once closed. */
  readonly closed: boolean;
}

/** Options of {@link createMockShim}. */
export interface MockShimOptions {
  /**
   * The shim's own address.
   * @default 'member'
   */
  readonly localAddress?: string;
}

const mockShimOptions = lazySchema(() =>
  z.strictObject({
    localAddress: z.optional(z.string({ error: 'must be a string' }).check(z.minLength(1, { error: 'must not be empty' }))),
  }),
);

/** `pdu` decoded, or undefined when it is no CDAP message. */
function decode(pdu: Uint8Array): CdapMessage | undefined {
  try {
    return decodeCdapMessage(pdu);
  } catch {
    return undefined;
  }
}

/** Calls each listener with `sent`; one that throws does not stop the others or fail the send: its error is thrown on a microtask. */
function tell(listeners: ReadonlySet<(sent: SentPdu) => void>, sent: SentPdu): void {
  for (const listener of [...listeners]) {
    try {
      listener(sent);
    } catch (err) {
      queueMicrotask(() => {
        throw err; // the test's own listener failed, not the send
      });
    }
  }
}

/** What `failSends(error)` makes sends fail with (undefined: they do not); a ConfigError for anything but an Error or false. */
function failureOf(error: unknown): Error | undefined {
  if (error === false) return undefined;
  if (error instanceof Error) return error;
  throw new ConfigError([{ field: 'error', rule: 'must be an Error (the cause of the failed sends) or false' }]);
}

/**
 * Creates a {@link MockShim}. Deliveries are synchronous: call them from the test, not from a send. Its sends refuse
 * what every shim refuses (a destination that is not a non-empty string, a PDU that is not a Uint8Array) with
 * ShimError; options it does not know are a ConfigError.
 */
export function createMockShim(options: MockShimOptions = {}): MockShim {
  const localAddress = parseWith(mockShimOptions(), options, 'options').localAddress ?? 'member';
  const handlers = new Set<ShimHandler>();
  const sendListeners = new Set<(sent: SentPdu) => void>();
  const sent: SentPdu[] = [];
  let failure: Error | undefined;
  let closed = false;
  return {
    localAddress,
    get sent() {
      return sent;
    },
    get closed() {
      return closed;
    },
    messages: () => sent.flatMap((s) => (s.message === undefined ? [] : [s.message])),
    async send(to, pdu) {
      if (closed) throw new ShimError(`mock shim ${localAddress} is closed`);
      checkSend(to, pdu);
      if (failure !== undefined) throw new ShimError(`mock shim told to fail: ${failure.message}`, { cause: failure });
      const record: SentPdu = { to, pdu: pdu.slice(), message: decode(pdu) };
      sent.push(record);
      tell(sendListeners, record);
    },
    onReceive(handler) {
      const checked = receiveHandler(handler, 'mock shim');
      if (closed) throw new ShimError(`mock shim ${localAddress} is closed: nothing can be received on it`);
      handlers.add(checked);
      return () => {
        handlers.delete(handler);
      };
    },
    async close() {
      closed = true;
      handlers.clear();
    },
    deliver(pdu, from) {
      if (closed) return;
      const bytes = pdu instanceof Uint8Array ? pdu : encodeCdapMessage(pdu);
      for (const handler of [...handlers]) handler(bytes, from);
    },
    failSends(error = new Error('send failed')) {
      failure = failureOf(error);
    },
    onSend(listener) {
      if (typeof listener !== 'function') {
        throw new ShimError(`mock shim: onSend needs a function (sent) => void, got ${listener === null ? 'null' : typeof listener}`);
      }
      sendListeners.add(listener);
      return () => {
        sendListeners.delete(listener);
      };
    },
    clear() {
      sent.length = 0;
    },
  };
}

/** A running scripted enroller. */
export interface ScriptedEnroller {
  /** Every request the member sent to the enroller, decoded. */
  readonly received: readonly CdapMessage[];
  /**
   * Changes the script from now on (fields left out keep their value); throws ConfigError for one it cannot follow,
   * and once stopped.
   */
  update(script: EnrollerScript): void;
  /**
   * Stops answering for good (answers on their way and delayed ones included, their timers cleared): call it in a
   * test's teardown when the script delays answers. Create a new one to answer again.
   */
  stop(): void;
}

const MALFORMED = Uint8Array.of(0x10, 0xff, 0xff); // a truncated varint: not CDAP

/**
 * Answers, through `shim` (a {@link MockShim} the member under test uses),
 * what the member sends to `script.address`, as the script says. Throws
 * ConfigError for a script it cannot follow (an unknown field or outcome, a
 * rejection of its own M_CREATE or M_STOP, a negative delay, an empty
 * rejection reason), and for a second scripted enroller at the same address
 * on one shim while the first runs (both would answer).
 */
export function createScriptedEnroller(shim: MockShim, script: EnrollerScript = {}): ScriptedEnroller {
  const mock = shim as Partial<MockShim> | null;
  if (typeof mock?.onSend !== 'function' || typeof mock.deliver !== 'function') {
    throw new ConfigError([{ field: 'shim', rule: 'must be a MockShim from createMockShim() (onSend, deliver)' }]);
  }
  return new Scripted(shim, script);
}

/** The scripted enrollers running on each mock shim: two at one address would both answer every request. */
const running = new WeakMap<MockShim, Set<Scripted>>();

/** Throws the ConfigError of a second scripted enroller at `address` on `shim`. */
function checkAlone(shim: MockShim, address: string, self: Scripted | undefined): void {
  for (const other of running.get(shim) ?? []) {
    if (other !== self && other.address === address) {
      throw new ConfigError([
        { field: 'script.address', rule: `a scripted enroller at "${address}" already runs on this shim (stop() it first)` },
      ]);
    }
  }
}

/** The scripted enroller behind {@link createScriptedEnroller}. */
class Scripted implements ScriptedEnroller {
  readonly received: CdapMessage[] = [];
  readonly #shim: MockShim;
  readonly #off: () => void;
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  #s: Required<EnrollerScript>;
  #stopped = false;
  #nextId = 2;

  constructor(shim: MockShim, script: EnrollerScript) {
    this.#shim = shim;
    const s: Required<EnrollerScript> = {
      address: 'bootstrap',
      ipcpName: 'bootstrap',
      difName: 'demo.DIF',
      assign: 1002,
      objects: [],
      connect: 'ok',
      start: 'ok',
      create: 'ok',
      stop: 'ok',
      keepalive: 'ok',
      ...checkScript(script),
    };
    checkAlone(shim, s.address, undefined);
    this.#s = s;
    running.set(shim, (running.get(shim) ?? new Set()).add(this));
    this.#off = shim.onSend(({ to, message }) => {
      if (this.#stopped || to !== this.#s.address || message === undefined) return;
      this.received.push(message);
      if (!isReply(message.opCode)) this.#onRequest(message);
    });
  }

  /** Its shim address now. */
  get address(): string {
    return this.#s.address;
  }

  update(next: EnrollerScript): void {
    if (this.#stopped) {
      throw new ConfigError([
        { field: 'script', rule: 'cannot change: this scripted enroller was stopped (create a new one to answer again)' },
      ]);
    }
    const s = { ...this.#s, ...checkScript(next) };
    checkAlone(this.#shim, s.address, this);
    this.#s = s;
  }

  stop(): void {
    this.#stopped = true;
    running.get(this.#shim)?.delete(this);
    this.#off();
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }

  #onRequest(message: CdapMessage): void {
    const s = this.#s;
    switch (message.opCode) {
      case OpCode.M_CONNECT:
        this.#answer(s.connect, message, () => [{ ...replyTo(message), srcApName: s.ipcpName }]);
        return;
      case OpCode.M_START:
        this.#answer(s.start, message, () => this.#startBurst(message));
        return;
      case OpCode.M_READ:
        if (message.objClass === KEEPALIVE_OBJECT.objClass) this.#answer(s.keepalive, message, () => [replyTo(message)]);
        return;
      case OpCode.M_RELEASE:
        this.#answer('ok', message, () => [replyTo(message)]);
        return;
      default:
        this.#answer('ok', message, () => [replyTo(message, Result.FAILED, 'not supported by the scripted enroller')]);
    }
  }

  /**
   * M_START_R with the address; after it, the RIB objects' M_CREATEs and
   * M_STOP, each as the script has them (on later microtasks, in that order,
   * when both are `'ok'`).
   */
  #startBurst(message: CdapMessage): CdapMessage[] {
    const s = this.#s;
    const creates = s.objects.map((o) => createRequest(this.#nextId++, o));
    this.#request(s.create, creates);
    this.#request(s.stop, [
      {
        opCode: OpCode.M_STOP,
        invokeId: this.#nextId++,
        ...ENROLLMENT_OBJECT,
        objValue: { byteval: encodeEnrollmentInfo({ startEarly: true, ribObjectCount: creates.length }) },
      },
    ]);
    const info = encodeEnrollmentInfo({ address: s.assign, difName: s.difName });
    return [{ opCode: OpCode.M_START_R, invokeId: message.invokeId, ...ENROLLMENT_OBJECT, result: Result.OK, objValue: { byteval: info } }];
  }

  /** Sends `messages`, requests of the enroller's own, as `outcome` says (`'malformed'`: one PDU that is not CDAP instead). */
  #request(outcome: ScriptedRequest, messages: readonly CdapMessage[]): void {
    if (outcome === 'silence' || messages.length === 0) return;
    this.#later(outcome, () => {
      const address = this.#s.address;
      if (outcome === 'malformed') this.#shim.deliver(MALFORMED, address);
      else for (const msg of messages) this.#shim.deliver(msg, address);
    });
  }

  #answer(outcome: ScriptedOutcome, request: CdapMessage, success: () => CdapMessage[]): void {
    if (outcome === 'silence') return;
    this.#later(outcome, () => {
      const address = this.#s.address;
      if (outcome === 'malformed') {
        this.#shim.deliver(MALFORMED, address);
        return;
      }
      if (typeof outcome === 'object' && 'reject' in outcome) {
        this.#shim.deliver(replyTo(request, outcome.result ?? Result.FAILED, outcome.reject), address);
        return;
      }
      for (const msg of success()) this.#shim.deliver(msg, address);
    });
  }

  /** Answers on a microtask (or after the outcome's delay), never inside the member's own send. */
  #later(outcome: ScriptedOutcome, send: () => void): void {
    const delay = typeof outcome === 'object' ? (outcome.delayMs ?? 0) : 0;
    const run = () => {
      if (!this.#stopped) send();
    };
    if (delay > 0) {
      const t = setTimeout(() => {
        this.#timers.delete(t);
        run();
      }, delay);
      t.unref?.(); // a scripted answer never keeps a test process alive
      this.#timers.add(t);
    } else {
      queueMicrotask(run);
    }
  }
}

/**
 * Yields to the microtask queue `rounds` times, so that the answers queued
 * there run (the mock shim's and the scripted enroller's zero-delay answers
 * travel on microtasks) and a test can assert after an exchange without
 * advancing any timer. 50 rounds see a whole enrollment through with a few
 * dozen RIB objects; each object takes a few more, and so does every `await`
 * of a RIB of your own: pass more rounds, or call it again, for those. With
 * fake timers, `vi.advanceTimersByTimeAsync(ms)` does this as it goes.
 *
 * @param rounds - how many times to yield to the microtask queue
 * @default rounds 50
 */
export async function settle(rounds = 50): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
}
