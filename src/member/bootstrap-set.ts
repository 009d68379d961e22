/**
 * The bootstraps a member knows (configured, explicit, advertised by an
 * enroller, or listed by DNS), in order of preference, with each one's
 * failures and backoff; and the choice of the one to try next. Like nats'
 * `Servers`: it decides nothing but which enroller, and keeps no timer.
 *
 * @module
 */
import { ShimError } from '../errors.js';
import { MAX_ALTERNATES } from '../cdap/messages.js';
import type { BootstrapStatus } from './events.js';

/** Where the member learnt of a bootstrap. */
export type BootstrapSource = BootstrapStatus['source'];

/** A bootstrap's status, as the set keeps it. */
export interface Bootstrap extends BootstrapStatus {
  failures: number;
  blockedUntil: number;
}

/** What the set needs from outside. */
export interface BootstrapSetInit {
  /** The member's own shim address: never a bootstrap of its own. */
  readonly localAddress: string;
  /** The clock's time. */
  now(): number;
  /** Randomness in [0, 1), for the order of advertised enrollers. */
  random(): number;
  /** The backoff after the n-th consecutive failure of one bootstrap. */
  backoff(failures: number): number;
}

/** The known bootstraps, in order of preference. */
export class BootstrapSet {
  readonly #init: BootstrapSetInit;
  /**
   * In order of preference. An array sized to fit, not a Map: a member knows a handful, and an idle
   * manager's one-entry Map would hold a table of ~150 B.
   */
  #known: readonly Bootstrap[] = [];
  /** Bootstraps that failed since the last lookup of the `srv:` entries or the last enrollment. */
  #failedSinceDiscovery: Set<string> | undefined; // made at the first failure

  constructor(init: BootstrapSetInit) {
    this.#init = init;
  }

  /** How many are known. */
  get size(): number {
    return this.#known.length;
  }

  /** Whether `address` is a known bootstrap. */
  has(address: string): boolean {
    return this.#find(address) !== undefined;
  }

  /** A copy of every status, in order. */
  list(): BootstrapStatus[] {
    return this.#known.map((b) => ({ ...b }));
  }

  /** The status of `address`, learnt now from `source` if it was not known. */
  learn(address: string, source: BootstrapSource): Bootstrap {
    let status = this.#find(address);
    if (status === undefined) {
      status = { address, failures: 0, blockedUntil: 0, source };
      this.#known = this.#known.concat(status);
    }
    return status;
  }

  #find(address: string): Bootstrap | undefined {
    for (const b of this.#known) if (b.address === address) return b;
    return undefined;
  }

  /**
   * The enroller's list of the other live enrollers is the member's view of
   * them: advertised ones it no longer lists are dropped (dead, or gone from
   * the DIF), and new ones are learnt in a random order, so that the members
   * of an enroller that dies spread over the others instead of all moving to
   * the first one listed. Returns the ones learnt now.
   */
  learnAdvertised(alternates: readonly string[], bootstrap: string): string[] {
    // never ourselves: an enroller that lists us would have us enrol with ourselves
    const listed = [...new Set(alternates)].filter((a) => a !== '' && a !== this.#init.localAddress);
    for (let i = listed.length - 1; i > 0; i--) {
      const j = Math.floor(this.#init.random() * (i + 1));
      [listed[i], listed[j]] = [listed[j] as string, listed[i] as string];
    }
    listed.length = Math.min(listed.length, MAX_ALTERNATES); // a random few of a longer list: it spreads the load all the same
    const keep = new Set([...listed, bootstrap]);
    const kept = this.#known.filter((status) => status.source !== 'advertised' || keep.has(status.address));
    const known = new Set(kept.map((status) => status.address));
    const fresh = listed.filter((a) => !known.has(a));
    this.#known = kept.concat(fresh.map((address) => ({ address, failures: 0, blockedUntil: 0, source: 'advertised' as const })));
    return fresh;
  }

  /** Forgets `address` (an advertised enroller the shim cannot send to). */
  forget(address: string): void {
    this.#known = this.#known.filter((status) => status.address !== address);
  }

  /**
   * Whether the run moves on from `status`'s bootstrap after `err`, as from one that does not answer. An enroller's
   * advice the shim refuses to send to (any `ShimError`) is forgotten. Any other entry the shim cannot send to (a
   * `ShimError` naming it as its `destination`: not of its kind of address; not a closed shim's), while others are
   * left to try: a typo in one configured entry ends no run.
   */
  unsendable(status: Bootstrap, err: unknown): boolean {
    if (!(err instanceof ShimError)) return false;
    if (status.source === 'advertised') {
      this.forget(status.address);
      return true;
    }
    return err.destination === status.address && this.#known.length > 1;
  }

  /**
   * Puts the bootstraps in the order `preferred` gives (the configuration,
   * with each `srv:` entry replaced by what it resolved to), then the others
   * (explicit, advertised) in the order learnt, never the member's own
   * address. One the DNS no longer lists is forgotten, unless it is `last`
   * (of the last enrollment); every status kept keeps its failures and
   * backoff.
   */
  arrange(preferred: ReadonlyArray<{ readonly address: string; readonly source: BootstrapSource }>, last: string | undefined): void {
    const previous = new Map(this.#known.map((b) => [b.address, b]));
    const next = new Map<string, Bootstrap>();
    const keep = (address: string, source: BootstrapSource): void => {
      // Never ourselves: one list of every enroller, deployed everywhere, may name this member too.
      if (next.has(address) || address === this.#init.localAddress) return;
      next.set(address, previous.get(address) ?? { address, failures: 0, blockedUntil: 0, source });
    };
    for (const { address, source } of preferred) keep(address, source);
    for (const [address, status] of previous) {
      if (status.source !== 'dns' || address === last) keep(address, status.source);
    }
    this.#known = [...next.values()].slice();
  }

  /**
   * The bootstrap to try next: the one free to try for the longest time
   * (the earliest `blockedUntil`; one that never failed has 0), `last` (the
   * one that worked last) first among equals, then the order learnt. When
   * none is free yet, that is the one unblocked soonest. Undefined when none
   * is known.
   *
   * First come, first served: a bootstrap tried and failed is blocked until
   * a time later than every bootstrap already free, so once a live enroller
   * is free to try, each other bootstrap is tried at most once before it.
   * That is what bounds recovery (see docs/RECOVERY.md); and a dead
   * bootstrap whose backoff ran out does not win over a live one that has
   * not failed.
   */
  pick(last: string | undefined): Bootstrap | undefined {
    let best = last === undefined ? undefined : this.#find(last);
    for (const b of this.#known) if (best === undefined || b.blockedUntil < best.blockedUntil) best = b;
    return best;
  }

  /**
   * Counts a failure of `status` and blocks it for `delayMs`, or for the
   * backoff its failures call for.
   */
  failed(status: Bootstrap, delayMs?: number): void {
    status.failures++;
    this.#failedSinceDiscovery ??= new Set();
    this.#failedSinceDiscovery.add(status.address);
    status.blockedUntil = this.#init.now() + (delayMs ?? this.#init.backoff(status.failures));
  }

  /** `status` worked: its failures and backoff are forgotten. */
  succeeded(status: Bootstrap): void {
    status.failures = 0;
    status.blockedUntil = 0;
  }

  /** Whether every known bootstrap failed since the last lookup (or enrollment): then a new lookup is due. */
  allFailedSinceDiscovery(): boolean {
    for (const { address } of this.#known) if (this.#failedSinceDiscovery?.has(address) !== true) return false;
    return true;
  }

  /** A new round: after a lookup, or an enrollment. */
  newRound(): void {
    this.#failedSinceDiscovery?.clear();
  }
}
