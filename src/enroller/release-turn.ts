/**
 * Whose turn it is to release a name on a shared store. Every enroller
 * holds a name whose last member left, and the first whose hold ends
 * deletes the binding; since they all start the hold when the same watch
 * event reaches them, they all used to end it together, and N enrollers
 * sent N release transactions for one departure (N - 1 of them refused).
 * Now the live enrollers take turns, in an order each can compute alone
 * (rendezvous hashing of the name with each enroller's advertised address): the
 * first releases when its hold ends, each next one a stagger later, by when
 * it has seen the release and let the name go. An enroller that died, or
 * whose list differs for a moment, costs one stagger or one refused
 * transaction, never a binding freed early: every turn is at least the hold.
 *
 * @module
 */

/** The longest wait between two enrollers' turns, in ms (shorter holds stagger by the hold itself). */
export const MAX_RELEASE_STAGGER_MS = 1000;

/** FNV-1a (32 bits) of `name`, a NUL, then `enroller`. */
function rendezvous(name: string, enroller: string): number {
  let h = 0x811c9dc5;
  const mix = (s: string): void => {
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  };
  mix(name);
  h = Math.imul(h, 0x01000193); // the NUL between them
  mix(enroller);
  return h >>> 0;
}

/**
 * How many enrollers of `others` come before `self` in `name`'s order (0:
 * `self` releases first). Ties go by shim address, so no two enrollers that
 * see the same list share a turn.
 */
export function releaseTurn(name: string, self: string, others: readonly string[]): number {
  const mine = rendezvous(name, self);
  let before = 0;
  for (const other of others) {
    const theirs = rendezvous(name, other);
    if (theirs < mine || (theirs === mine && other < self)) before++;
  }
  return before;
}

/** How much later than its hold `self` releases `name`, in ms. */
export function releaseDelayMs(name: string, self: string, others: readonly string[], holdMs: number): number {
  return releaseTurn(name, self, others) * Math.min(holdMs, MAX_RELEASE_STAGGER_MS);
}
