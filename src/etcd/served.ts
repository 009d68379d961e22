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
 * @module
 */

/** The names served, each with the token of the latest bind or confirm of it, and the revision of each mark written. */
export class ServedNames {
  #last = 0;
  readonly #tokens = new Map<string, number>();
  readonly #written = new Map<string, number>();
  /** The calls of each name in flight (their tokens). */
  readonly #inFlight = new Map<string, Set<number>>();
  /** Names a call of which succeeded while they were served, not let go since. */
  readonly #succeeded = new Set<string>();

  /** Whether this enroller serves `name`. */
  has(name: string): boolean {
    return this.#tokens.has(name);
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

  /** The call of `token` succeeded: `name`, if still served and the call sent since it was last let go, stays served whatever becomes of other calls of it. */
  succeeded(name: string, token: number): void {
    // (a call sent before the name was last let go, or before a renewal, counts for nothing)
    const counts = this.#inFlight.get(name)?.has(token) === true;
    this.#settled(name, token);
    if (counts && this.#tokens.has(name)) this.#succeeded.add(name);
  }

  #settled(name: string, token: number): void {
    const calls = this.#inFlight.get(name);
    if (calls?.delete(token) === true && calls.size === 0) this.#inFlight.delete(name);
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

  /** `name` is served no more unless a call of it is in flight or one succeeded since it was last let go. */
  #letGoIfIdle(name: string): void {
    if (!this.#inFlight.has(name) && !this.#succeeded.has(name)) this.#tokens.delete(name);
  }

  /** This enroller lets `name` go (a leave), whatever took it. */
  forget(name: string): void {
    this.#tokens.delete(name);
    this.#succeeded.delete(name);
    this.#inFlight.delete(name);
  }

  /** A call wrote this enroller's mark on `name` at `revision` (the latest write wins, whichever answer came first). */
  wrote(name: string, revision: number): void {
    const before = this.#written.get(name);
    if (before === undefined || before < revision) this.#written.set(name, revision);
  }

  /** The revision at which this enroller last wrote its mark on `name`, if it knows of one. */
  written(name: string): number | undefined {
    return this.#written.get(name);
  }

  /**
   * The mark on `name` written at `revision` was deleted (by a leave, or a
   * release whose answer may never come): the success it stood for counts no
   * more, and the name is let go unless a call of it is in flight. A mark
   * written since is kept, and so is what it stands for.
   */
  deleted(name: string, revision: number): void {
    if (this.#written.get(name) !== revision) return;
    this.#written.delete(name);
    this.#succeeded.delete(name);
    this.#letGoIfIdle(name);
  }

  /**
   * A release of `name` committed at `revision`: its binding and the mark are
   * gone, and what succeeded before it counts no more; unless a bind or
   * confirm of the name was sent after the release was (`tokenAtSend`, the
   * name's token then): what that call did is its own (and if it failed
   * already, the name is let go now, as its failure would have done but for
   * the success the release undid).
   */
  released(name: string, tokenAtSend: number | undefined, revision: number): void {
    if ((this.#written.get(name) ?? 0) < revision) this.#succeeded.delete(name);
    if (this.#tokens.get(name) !== tokenAtSend) {
      this.#letGoIfIdle(name);
      return;
    }
    this.#tokens.delete(name);
    this.#written.delete(name);
    this.#succeeded.delete(name);
    this.#inFlight.delete(name);
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
    this.#succeeded.clear();
  }
}
