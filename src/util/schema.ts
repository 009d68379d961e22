/**
 * The zod building blocks every options schema of the library shares, and
 * the one way a schema's failure becomes a {@link ConfigError}. Nothing here
 * knows about members, enrollers or shims.
 *
 * @module
 */
import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';
import { type ConfigIssue, ConfigError } from '../errors.js';
import { type Clock, MAX_TIMER_MS } from './clock.js';

// zod/mini ships no messages of its own ("Invalid input"); the English ones say what was expected
// ("expected object, received undefined"), as classic zod does. zod keeps its configuration on
// globalThis, shared by every copy in the process (the bundle's inlined one included), so this sets
// English only where nothing chose a language yet, as classic zod itself does: an application's own
// choice stands, and applies to the library's messages too.
if (z.config().localeError === undefined) z.config(en());

/**
 * The check that a number is a safe integer, as classic zod's `.int()` (zod/mini's `z.int()` is a schema of
 * its own, whose error would replace "must be a finite number" for a non-number). Like `.int()`, a failure
 * ends the checks: 0.5 for "an integer >= 1" is one issue, not two.
 */
export const integer = z.refine<number>((n) => Number.isSafeInteger(n), { error: 'must be an integer', abort: true });

/** A finite number of ms >= 0 that a timer can wait (zod 4 numbers already refuse NaN and ±Infinity). */
export const nonNegative = (max = MAX_TIMER_MS) =>
  z
    .number({ error: 'must be a finite number' })
    .check(
      z.gte(0, { error: 'must be >= 0 (got a negative number)' }),
      z.lte(max, { error: `must be <= ${max} (the longest timer delay)` }),
    );
/** A finite number of ms > 0 that a timer can wait. */
export const positive = (max = MAX_TIMER_MS) =>
  z
    .number({ error: 'must be a finite number' })
    .check(z.positive({ error: 'must be > 0' }), z.lte(max, { error: `must be <= ${max} (the longest timer delay)` }));
/** An integer >= min. */
export const integerAtLeast = (min: number) =>
  z.number({ error: 'must be a finite number' }).check(integer, z.gte(min, { error: `must be >= ${min}` }));

/** `A` with its properties writable, all the way down: an options interface is readonly, a schema's input type is not. */
type Writable<A> = A extends (...args: never[]) => unknown ? A : A extends object ? { -readonly [K in keyof A]: Writable<A[K]> } : A;

/**
 * `true` when the options interface `A` declares exactly the options of the schema input `B` (names, optionality
 * and types); a type other than `true` otherwise. An interface written out beside its schema (so that the
 * published typings carry each option's documentation) asserts it: `const agree: Same<I, z.input<S>> = true`.
 */
export type Same<A, B> = (<T>() => T extends Writable<A> ? 1 : 2) extends <T>() => T extends Writable<B> ? 1 : 2 ? true : never;

/** The longest IPCP or DIF name an option takes, in UTF-16 characters (at most 3,072 bytes of UTF-8). */
export const MAX_NAME_LENGTH = 1024;

/**
 * A name (an IPCP's, a DIF's): a non-empty, well-formed string. A lone
 * surrogate would be sent as U+FFFD, so that the peer reads another name.
 */
export const nameSchema = (what = 'a non-empty string', empty = `must be ${what}`) =>
  z.string({ error: `must be ${what}` }).check(
    z.minLength(1, { error: empty }),
    // (a name is carried in every M_CONNECT, whose PDU must fit the shim: 8,192 bytes by default)
    z.maxLength(MAX_NAME_LENGTH, { error: `must be at most ${MAX_NAME_LENGTH} characters` }),
    z.refine((name) => name.isWellFormed(), { error: 'must be well-formed Unicode (no lone surrogates)' }),
  );

/** A dependency (shim, RIB, ...) checked by the methods the library calls on it. */
export const dependency = <T>(what: string, methods: readonly string[]) =>
  z.custom<T>(
    (value) =>
      value !== null && typeof value === 'object' && methods.every((m) => typeof (value as Record<string, unknown>)[m] === 'function'),
    { error: `must implement ${what} (${methods.join(', ')})` },
  );

/**
 * A schema built at its first use instead of at import: a fresh process
 * builds only the schemas of what it uses (a member never builds the
 * enroller's or the file store's), and a zod schema costs its construction
 * in every process that imports the library (bench scenario 8).
 */
export function lazySchema<S extends z.ZodMiniType>(build: () => S): () => S {
  let schema: S | undefined;
  return () => {
    schema ??= build();
    return schema;
  };
}

/**
 * Validates `input` against `schema` and returns the parsed value; throws
 * {@link ConfigError} naming every offending field and its rule.
 */
export function parseWith<S extends z.ZodMiniType>(schema: S, input: unknown, prefix = ''): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new ConfigError(issuesOf(result.error, prefix), { cause: result.error });
}

/** Each of a zod error's issues as the field it names (under `prefix`) and its rule. */
export function issuesOf(error: z.core.$ZodError, prefix = ''): ConfigIssue[] {
  return error.issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    const field = prefix === '' ? path : path === '' ? prefix : `${prefix}.${path}`;
    const rule =
      issue.code === 'unrecognized_keys'
        ? `unknown option${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`
        : issue.message;
    return { field: field === '' ? '(root)' : field, rule };
  });
}

const CLOCK_METHODS = ['now', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] as const;

/** A partial {@link Clock}: an object whose given members are functions. */
export const clockSchema = z.custom<Partial<Clock>>(
  (v) =>
    v !== null &&
    typeof v === 'object' &&
    CLOCK_METHODS.every((m) => (v as Record<string, unknown>)[m] === undefined || typeof (v as Record<string, unknown>)[m] === 'function'),
  { error: `must be a clock: an object with any of ${CLOCK_METHODS.join(', ')} as functions` },
);

/** A source of randomness in [0, 1). */
export const randomSchema = z.custom<() => number>((v) => typeof v === 'function', {
  error: 'must be a function returning a number in [0, 1)',
});

/**
 * The `signal` of an operation's options, checked before anything starts (a
 * call with options it cannot use changes no state), or the ConfigError that
 * says what is wrong: an option neither `signal` nor one of `others` too. A signal is what has `aborted`, `addEventListener` and
 * `removeEventListener`, as AbortSignal has: what a run uses of it.
 */
export function signalOf(options: unknown, others: readonly string[] = []): AbortSignal | undefined | ConfigError {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null) {
    return new ConfigError([
      { field: 'options', rule: `must be an object ({ signal? }), got ${options === null ? 'null' : typeof options}` },
    ]);
  }
  const known = ['signal', ...others];
  const unknown = Object.keys(options).filter((key) => !known.includes(key));
  if (unknown.length > 0) {
    // (a `timeout` or `timeoutMs` here would be silently ignored: time limits are the manager's config)
    const rule = `unknown option: ${known.length === 1 ? 'the only one is signal' : `the options are ${known.join(', ')}`}`;
    return new ConfigError(unknown.map((key) => ({ field: `options.${key}`, rule })));
  }
  const { signal } = options as { signal?: unknown };
  if (signal === undefined) return undefined;
  const s = signal as Partial<AbortSignal> | null;
  const usable = typeof s?.aborted === 'boolean' && typeof s.addEventListener === 'function' && typeof s.removeEventListener === 'function';
  if (typeof s === 'object' && usable) return signal as AbortSignal;
  return new ConfigError([{ field: 'options.signal', rule: 'must be an AbortSignal' }]);
}
