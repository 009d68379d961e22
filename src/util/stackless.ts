/**
 * Errors built without a stack, for failures that are answers from a peer
 * rather than faults of the code that meets them.
 *
 * @module
 */

/**
 * `make()`'s error with no stack frames (its `stack` is `Name: message`).
 * V8 captures the stack at every `new Error`, some 8 µs here
 * (`Error.stackTraceLimit` frames); an overloaded enroller answers members
 * "busy" thousands of times a second, and each answer used to cost the
 * member two such errors, a tenth of a member host's CPU in the scale
 * scenario (bench/README.md, "Busy"). The frames would name only the
 * library's own datagram handler, never the caller's code. The user's
 * `Error.stackTraceLimit` is restored before this returns (or throws); where
 * it cannot be set (a frozen `Error`), the error is built as usual.
 */
export function stackless<T>(make: () => T): T {
  const limit = Error.stackTraceLimit;
  try {
    Error.stackTraceLimit = 0;
  } catch {
    return make(); // frozen (`node --frozen-intrinsics`, a locked-down realm): the error keeps its stack
  }
  try {
    return make();
  } finally {
    Error.stackTraceLimit = limit;
  }
}
