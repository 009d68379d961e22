/**
 * The etcd store's leaves: deleting this enroller's mark on a member that
 * left it, so that the name goes idle (and, after the hold, its address is
 * freed). A leave etcd did not answer is tried again until it works, the
 * store closes, or the name is served again: at first a second later, then
 * twice as long after each round that failed, up to {@link MAX_LEAVE_RETRY_MS};
 * the names of a round share transactions of up to {@link LEAVES_PER_TXN}.
 * At 100,000 members an overloaded etcd timed out leaves, and retrying each
 * name every second in a transaction of its own made leaves three times as
 * many transactions as binds.
 *
 * @module
 */
import type { ICompare, IRequestOp, ITxnRequest } from 'etcd3';
import { systemClock, type TimerHandle } from '../util/clock.js';
import type { EtcdKeys } from './keys.js';
import type { TxnResponse } from './lease.js';
import type { ServedNames } from './served.js';

/** The first wait before a failed leave is tried again, in ms. */
export const FIRST_LEAVE_RETRY_MS = 1000;

/** The longest wait between two rounds of retried leaves, in ms. */
export const MAX_LEAVE_RETRY_MS = 30_000;

/** The most marks one retry transaction deletes: a compare and a delete each, within etcd's 128 operations per branch. */
export const LEAVES_PER_TXN = 64;

/** What the leaves need of the store. */
export interface LeavesHost {
  readonly keys: EtcdKeys;
  /** The names this enroller serves (a name served again is not left), and the revision of each mark it wrote. */
  readonly served: ServedNames;
  /** The revision of this enroller's mark on `name` as last known (its own write or the watch), if it has one: only that mark is deleted. */
  markAt(name: string): number | undefined;
  txn(what: string, request: ITxnRequest): Promise<TxnResponse>;
  /** Whether the store is closed: its lease's revocation deleted every mark, nothing is left to try. */
  closed(): boolean;
}

/** Deletes this enroller's marks, and tries again those etcd did not answer. */
export class Leaves {
  readonly #host: LeavesHost;
  /** Names whose leave failed: tried again until done or served again. */
  readonly #unleft = new Set<string>();
  #timer: TimerHandle | undefined;
  #waitMs = FIRST_LEAVE_RETRY_MS;
  /** A round of retries is under way (the next is armed when it ends). */
  #retrying = false;
  /** Bumped by {@link stop}: a round of an earlier opening puts nothing back. */
  #epoch = 0;

  constructor(host: LeavesHost) {
    this.#host = host;
  }

  /** Deletes the mark on `name` now; if etcd does not answer, it is tried again later, and the first failure is thrown. */
  async leave(name: string): Promise<void> {
    this.#unleft.delete(name);
    try {
      await this.#delete([name]);
    } catch (err) {
      this.#unleft.add(name);
      this.#arm();
      throw err;
    }
  }

  /** Forgets the leaves still to try (the store closes: its lease's revocation deletes every mark). */
  stop(): void {
    this.#epoch++;
    this.#unleft.clear();
    systemClock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#waitMs = FIRST_LEAVE_RETRY_MS;
  }

  #arm(): void {
    if (this.#timer !== undefined || this.#retrying || this.#host.closed()) return;
    this.#timer = systemClock.setTimeout(() => {
      this.#timer = undefined;
      void this.#retry();
    }, this.#waitMs);
  }

  /** One round: the names not served again, a transaction per {@link LEAVES_PER_TXN}, one after another. */
  async #retry(): Promise<void> {
    const epoch = this.#epoch;
    const names = [...this.#unleft];
    this.#unleft.clear();
    this.#retrying = true;
    let failed = false;
    try {
      for (let i = 0; i < names.length; i += LEAVES_PER_TXN) {
        const chunk = names.slice(i, i + LEAVES_PER_TXN);
        try {
          await this.#delete(chunk);
        } catch {
          if (epoch !== this.#epoch) return; // closed meanwhile (and maybe opened again): not this opening's to retry
          failed = true;
          for (const name of chunk) this.#unleft.add(name);
        }
      }
    } finally {
      this.#retrying = false;
    }
    this.#waitMs = failed ? Math.min(2 * this.#waitMs, MAX_LEAVE_RETRY_MS) : FIRST_LEAVE_RETRY_MS;
    if (this.#unleft.size > 0) this.#arm();
  }

  /**
   * Deletes the marks on `names` in one transaction, each only at the
   * revision this enroller knows it by (one written since is a later
   * enrollment's). What it builds it reads as the transaction is made: a
   * name served again, or with no mark known, is left out (an unanswered
   * bind's mark, once the watch shows it, is deleted as a stray). Refused
   * (one was written again), each is deleted alone.
   */
  async #delete(asked: string[]): Promise<void> {
    const { keys, served } = this.#host;
    const names: string[] = [];
    const compare: ICompare[] = [];
    const success: IRequestOp[] = [];
    const at: number[] = [];
    for (const name of asked) {
      const revision = this.#host.markAt(name);
      if (served.has(name) || revision === undefined) continue;
      const key = Buffer.from(keys.mark(name));
      names.push(name);
      at.push(revision);
      compare.push({ key, target: 'Mod', result: 'Equal', mod_revision: revision });
      success.push({ request_delete_range: { key } });
    }
    if (names.length === 0) return;
    const res = await this.#host.txn(names.length === 1 ? 'leave' : `leave ${names.length} members`, { compare, success });
    if (res.succeeded) {
      // Each mark went as written at its revision, and none was written since (the compare): gone just after it.
      for (const [i, name] of names.entries()) served.markGone(name, (at[i] as number) + 1);
    } else if (names.length > 1) {
      await Promise.all(names.map((name) => this.#delete([name])));
    }
  }
}
