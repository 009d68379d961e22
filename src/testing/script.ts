/**
 * The scripted enroller's script: what it answers to each request, and what
 * it sends of its own (the RIB objects, M_STOP), checked by one schema so
 * that a script the enroller cannot follow is a {@link ConfigError} when it is
 * given, not a silent `'ok'` or a throw inside a later answer.
 *
 * @module
 */
import * as z from 'zod/mini';
import { encodeCdapMessage } from '../cdap/codec.js';
import { createRequest } from '../cdap/messages.js';
import type { RibObject } from '../rib/rib.js';
import { integer, lazySchema, nonNegative, parseWith } from '../util/schema.js';

/**
 * What the scripted enroller does with a request of its own, sent after
 * M_START_R (the RIB objects' M_CREATEs, M_STOP): `'ok'` sends it with
 * M_START_R, `'silence'` holds it back, `'malformed'` sends bytes that are not
 * CDAP in its place, `{ ok: true, delayMs }` sends it that long after
 * M_START_R. A request is not an answer, so it cannot be a rejection.
 */
export type ScriptedRequest =
  | 'ok'
  | 'silence'
  | 'malformed'
  | {
      /** Sends it, as `'ok'` does. */
      readonly ok: true;
      /** Delay after M_START_R, in milliseconds. */
      readonly delayMs: number;
    };

/**
 * What the scripted enroller does with one kind of request:
 * `'ok'` answers with success, `'silence'` answers nothing, `'malformed'`
 * answers with bytes that are not CDAP, `{ reject: reason }` answers with a
 * negative result; `delayMs` delays the answer (on the global timers), and
 * `{ ok: true, delayMs }` answers with success after it.
 */
export type ScriptedOutcome =
  | ScriptedRequest
  | {
      /** The `result_reason` of the negative answer. */
      readonly reject: string;
      /**
       * The answer's `result` (not 0, which is success).
       * @default -1
       */
      readonly result?: number;
      /**
       * Delay before the answer, in milliseconds.
       * @default 0
       */
      readonly delayMs?: number;
    };

/** The scripted enroller's behaviour; every field has a default that enrols the member. */
export interface EnrollerScript {
  /** The enroller's shim address. @default 'bootstrap' */
  readonly address?: string;
  /** The enroller's IPCP name. @default 'bootstrap' */
  readonly ipcpName?: string;
  /** The DIF's name. @default 'demo.DIF' */
  readonly difName?: string;
  /** The address assigned (any safe integer >= 0, so that a test can assign one its member must refuse). @default 1002 */
  readonly assign?: number;
  /** The RIB objects synced with M_CREATE. @default [] */
  readonly objects?: readonly RibObject[];
  /** The answer to M_CONNECT. @default 'ok' */
  readonly connect?: ScriptedOutcome;
  /** The answer to M_START (M_START_R with the address). @default 'ok' */
  readonly start?: ScriptedOutcome;
  /** The RIB objects' M_CREATEs (`'malformed'`: one PDU that is not CDAP in their place; nothing without objects). @default 'ok' */
  readonly create?: ScriptedRequest;
  /** M_STOP, which ends the enrollment. @default 'ok' */
  readonly stop?: ScriptedRequest;
  /** The answer to a keepalive M_READ. @default 'ok' */
  readonly keepalive?: ScriptedOutcome;
}

/** Whether `object` goes into an M_CREATE (its value one the codec can encode). */
function encodable(object: RibObject): boolean {
  try {
    encodeCdapMessage(createRequest(1, object));
    return true;
  } catch {
    return false;
  }
}

const scriptSchema = lazySchema(() => {
  const word = [z.literal('ok'), z.literal('silence'), z.literal('malformed')] as const;
  const okLater = z.strictObject({ ok: z.literal(true), delayMs: nonNegative() });
  const reject = z.strictObject({
    // (an empty result_reason is no result_reason on the wire: the member would see none)
    reject: z.string({ error: 'must be a string (the result_reason)' }).check(z.minLength(1, { error: 'must not be empty' })),
    result: z.optional(
      z.number({ error: 'must be a finite number' }).check(
        integer,
        z.refine((n) => n !== 0, { error: 'must not be 0 (success)' }),
      ),
    ),
    delayMs: z.optional(nonNegative()),
  });
  const answer = z.union([...word, reject, okLater], {
    error: "must be 'ok', 'silence', 'malformed', { reject, result?, delayMs? } or { ok: true, delayMs }",
  });
  const request = z.union([...word, okLater], {
    error: "must be 'ok', 'silence', 'malformed' or { ok: true, delayMs } (the enroller's own request: it cannot be rejected)",
  });
  const text = z.string({ error: 'must be a string' }).check(z.minLength(1, { error: 'must not be empty' }));
  const object = z
    .custom<RibObject>(
      (o) => typeof o === 'object' && o !== null && typeof (o as RibObject).name === 'string' && typeof (o as RibObject).class === 'string',
      { error: 'must be a RIB object ({ name, class, value })' },
    )
    .check(
      // sent in an M_CREATE at every M_START: one it cannot encode would throw there, where no test sees it
      z.refine((o) => encodable(o), { error: 'must be a RIB object the CDAP codec can encode in an M_CREATE (see its value)' }),
    );
  return z.strictObject({
    address: z.optional(text),
    ipcpName: z.optional(text),
    difName: z.optional(text),
    assign: z.optional(z.number({ error: 'must be a finite number' }).check(integer, z.gte(0, { error: 'must be >= 0' }))),
    objects: z.optional(z.array(object)),
    connect: z.optional(answer),
    start: z.optional(answer),
    create: z.optional(request),
    stop: z.optional(request),
    keepalive: z.optional(answer),
  });
});

/** `script` checked; throws {@link ConfigError} naming every field the scripted enroller could not follow. */
export function checkScript(script: EnrollerScript): EnrollerScript {
  return parseWith(scriptSchema(), script, 'script') as EnrollerScript;
}
