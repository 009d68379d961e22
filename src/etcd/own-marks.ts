/**
 * This enroller's marks and what it serves, kept in line: a mark of ours on
 * a name it does not serve is a stray (a bind or confirm committed whose
 * answer never came) and is deleted; a name whose mark is gone is served no
 * more ({@link ServedNames.markGone}). The watch shows each change; a table
 * read again after the watch failed shows the outcome of what it missed.
 *
 * @module
 */
import type { ITxnRequest } from 'etcd3';
import type { EtcdKeys } from './keys.js';
import type { TxnResponse } from './lease.js';
import type { ServedNames } from './served.js';
import type { AddressTable } from './table.js';

/** What {@link OwnMarks} needs of its store. */
export interface OwnMarksHost {
  readonly keys: EtcdKeys;
  readonly served: ServedNames;
  table(): AddressTable;
  /** A transaction counted as a stray mark's deletion. */
  txn(request: ITxnRequest): Promise<TxnResponse>;
}

/** Strays found and deleted, and names whose marks went. */
export class OwnMarks {
  readonly #host: OwnMarksHost;

  constructor(host: OwnMarksHost) {
    this.#host = host;
  }

  /**
   * A mark of ours on `name` at `modRevision`: deleted unless the name is
   * served, and only at that revision (never one a later call wrote).
   */
  stray(name: string, modRevision: string | number): void {
    if (this.#host.served.has(name)) return;
    const key = Buffer.from(this.#host.keys.mark(name));
    this.#host
      .txn({
        compare: [{ key, target: 'Mod', result: 'Equal', mod_revision: String(modRevision) }],
        success: [{ request_delete_range: { key } }],
      })
      .catch(() => undefined);
  }

  /**
   * The bind or confirm of `name` under `token` failed or was refused: the
   * name is let go as {@link ServedNames.drop} says, and then, unless it is
   * still served, a mark of ours the watch has shown already (while the name
   * was served, so not taken for a stray then: a call that got no answer may
   * have written it) is stray now. One the watch shows later, the table finds.
   */
  dropped(name: string, token: number): void {
    this.#host.served.drop(name, token);
    this.strayIfShown(name);
  }

  /** Unless `name` is served, a mark of ours on it that the watch has shown (written after `since`) is stray. */
  strayIfShown(name: string, since = 0): void {
    const revision = this.#host.table().ownMark(name);
    if (revision !== undefined && revision > since) this.stray(name, revision);
  }

  /**
   * The table was read again at `revision` after its watch failed, which
   * showed it `marks` (our marks by name, at their revisions): a name served
   * without a mark there lost it meanwhile, and a mark there on a name not
   * served is a stray, whether the watch showed it or not.
   */
  readAgain(revision: number, marks: ReadonlyMap<string, number>): void {
    const { served } = this.#host;
    for (const name of served.names()) if (!marks.has(name)) served.markGone(name, revision);
    for (const [name, at] of marks) this.stray(name, at);
  }
}
