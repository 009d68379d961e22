/**
 * What the etcd store knows of its own marks: the names this enroller serves
 * (their marks should exist; a mark of ours on any other name is stray) and
 * the revision at which it last wrote each mark.
 *
 * Calls on one name can be answered out of order: a confirm sent under a
 * lease that lapsed fails after the confirm sent under the next one; a
 * release's reply arrives after a new bind of the name was sent. So each
 * call that begins serving a name (a bind, a confirm) takes a token, and a
 * call answered late undoes nothing a newer call did: it gives the name up
 * only while the name is still its own.
 *
 * A success counts by its revision: once this enroller knows its mark on a
 * name was deleted at revision D (its release or leave committed, the watch
 * showed the deletion, or a table read lacks the mark), nothing committed
 * before D keeps the name served, whenever its answer comes.
 *
 * @module
 */

/** The names served, each with the token of the latest bind or confirm of it, and the revision of each mark written. */
export class ServedNames {
  #last = 0;
  readonly #tokens = new Map<string, number>();
  readonly #written = new Map<string, number>();
  /** The calls of each name in flight (their tokens). */
  readonly #inFlight = new Map<string, Set<number>>();
  /**
   * Of a name served, the revision of the latest call of it that succeeded,
   * sent since the name was last let go, and committed after the name's mark
   * was last known deleted: a mark of ours that etcd may still hold.
   */
  readonly #successAt = new Map<string, number>();
  /** While calls of a name are in flight: the latest revision at which its mark of ours was known deleted. */
  readonly #goneAt = new Map<string, number>();

  /** Whether this enroller serves `name`. */
  has(name: string): boolean {
    return this.#tokens.has(name);
  }

  /** The names served now. */
  names(): string[] {
    return [...this.#tokens.keys()];
  }

  /** The token of the latest call that began serving `name`; undefined while it is not served. */
  token(name: string): number | undefined {
    return this.#tokens.get(name);
  }

  /** A bind or confirm of `name` is sent: the name is served from now on, under the token returned. */
  take(name: string): number {
    const token = ++this.#last;
    this.#tokens.set(name, token);
    const calls = this.#inFlight.get(name);
    if (calls === undefined) this.#inFlight.set(name, new Set([token]));
    else calls.add(token);
    return token;
  }

  /**
   * The call of `token` committed at `revision`: `name`, if still served,
   * the call sent since it was last let go, and its mark not known deleted
   * since, stays served whatever becomes of other calls of it.
   */
  succeeded(name: string, token: number, revision: number): void {
    // (a call sent before the name was last let go, or before a renewal, counts for nothing)
    const counts = this.#inFlight.get(name)?.has(token) === true && revision > (this.#goneAt.get(name) ?? 0);
    this.#settled(name, token);
    if (counts && this.#tokens.has(name)) this.#successAt.set(name, Math.max(revision, this.#successAt.get(name) ?? 0));
    else this.#letGoIfIdle(name); // (its mark, deleted since, proves nothing)
  }

  #settled(name: string, token: number): void {
    const calls = this.#inFlight.get(name);
    if (calls?.delete(token) !== true || calls.size > 0) return;
    this.#inFlight.delete(name);
    this.#goneAt.delete(name); // (a call sent from now on commits after every deletion known now)
  }

  /**
   * The call of `token` failed or was refused: `name` is served no more,
   * unless another call of it is in flight (its answer decides), or one
   * succeeded since the name was last let go (a member served already stays
   * served, its mark its own).
   */
  drop(name: string, token: number): void {
    this.#settled(name, token);
    this.#letGoIfIdle(name);
  }

  /** `name` is served no more unless a call of it is in flight or one counts as succeeded. */
  #letGoIfIdle(name: string): void {
    if (this.#inFlight.has(name) || this.#successAt.has(name)) return;
    this.#tokens.delete(name);
  }

  /** This enroller lets `name` go (a leave), whatever took it. */
  forget(name: string): void {
    this.#tokens.delete(name);
    this.#successAt.delete(name);
    this.#inFlight.delete(name);
    this.#goneAt.delete(name);
  }

  /**
   * A call wrote this enroller's mark on `name` at `revision` (the latest
   * write wins, whichever answer came first; one before a known deletion is
   * no mark). Told before the call's {@link succeeded}.
   */
  wrote(name: string, revision: number): void {
    const before = this.#written.get(name);
    if (revision > (this.#goneAt.get(name) ?? 0) && (before === undefined || before < revision)) this.#written.set(name, revision);
  }

  /** The revision at which this enroller last wrote its mark on `name`, if it knows of one. */
  written(name: string): number | undefined {
    return this.#written.get(name);
  }

  /**
   * This enroller's mark on `name` was deleted at revision `deletedAt` (a
   * leave, a release, the watch showing it, or a table read without it):
   * what was written and succeeded before counts no more, and the name is
   * let go unless a call of it is in flight or succeeded after; a call
   * committed before, answered later, counts for nothing either.
   */
  markGone(name: string, deletedAt: number): void {
    if (this.#inFlight.has(name)) this.#goneAt.set(name, Math.max(deletedAt, this.#goneAt.get(name) ?? 0));
    if ((this.#written.get(name) ?? 0) < deletedAt) this.#written.delete(name);
    if ((this.#successAt.get(name) ?? 0) < deletedAt) this.#successAt.delete(name);
    this.#letGoIfIdle(name);
  }

  /**
   * A release of `name` committed at `revision`: its binding and the mark
   * are gone ({@link markGone}); the name is let go unless a bind or
   * confirm of it was sent after the release was (`tokenAtSend`, the name's
   * token then): what that call did is its own.
   */
  released(name: string, tokenAtSend: number | undefined, revision: number): void {
    this.markGone(name, revision);
    if (this.#tokens.get(name) !== tokenAtSend) return;
    this.#tokens.delete(name);
    this.#written.delete(name);
    this.forget(name);
  }

  /** Names served, for the tests' and the stats' eyes. */
  get size(): number {
    return this.#tokens.size;
  }

  /** Forgets everything (a new lease: nothing is vouched for until confirmed; or the store closes). */
  clear(): void {
    this.#tokens.clear();
    this.#written.clear();
    this.#inFlight.clear();
    this.#successAt.clear();
    this.#goneAt.clear();
  }
}
