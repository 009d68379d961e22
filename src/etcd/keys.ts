/**
 * The etcd store's keys, under a per-DIF prefix (names URI-encoded so that
 * a `/` in an IPCP name cannot reach another key), and how their values read.
 *
 * @module
 */
import type { IKeyValue, IRequestOp } from 'etcd3';

/** A `names/` or `addresses/` key as last seen. */
export interface Entry {
  /** Its value. */
  readonly value: string;
  /** The revision that created it. */
  readonly createRevision: number;
  /** The revision that last changed it. */
  readonly modRevision: number;
}

/** The next key after every key that starts with `prefix`. */
export function prefixEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix);
  end[end.length - 1] = (end[end.length - 1] ?? 0) + 1;
  return end;
}

/** A key segment encoded. */
export const enc = (s: string): string => encodeURIComponent(s);

/** A key segment decoded, or undefined for one no enroller wrote (bad %-escapes). */
export function dec(s: string | undefined): string | undefined {
  if (s === undefined || s === '') return undefined;
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

/** A DIF address as a key or value holds it, or undefined if it is not one. */
export function addressFrom(text: string | undefined): number | undefined {
  if (text === undefined || !/^[1-9][0-9]{0,15}$/.test(text)) return undefined;
  const address = Number(text);
  return Number.isSafeInteger(address) ? address : undefined;
}

/** A key-value as an {@link Entry}. */
export const entryOf = (kv: IKeyValue): Entry => ({
  value: kv.value.toString(),
  createRevision: Number(kv.create_revision),
  modRevision: Number(kv.mod_revision),
});

/** The keys of one store, for the enroller that owns it. */
export class EtcdKeys {
  /** The prefix, ending with `/`. */
  readonly prefix: string;
  readonly #owner: () => string | undefined;

  /** `owner`: the owning enroller's name, once the store is open. */
  constructor(prefix: string, owner: () => string | undefined) {
    this.prefix = prefix;
    this.#owner = owner;
  }

  /** `names/<ipcp name>`: its address. */
  name(name: string): string {
    return `${this.prefix}names/${enc(name)}`;
  }

  /** `addresses/<address>`: the IPCP name holding it. */
  address(address: number): string {
    return `${this.prefix}addresses/${address}`;
  }

  /** `members/<ipcp name>/`: the marks of the enrollers serving the name. */
  marksOf(name: string): string {
    return `${this.prefix}members/${enc(name)}/`;
  }

  /** `members/<ipcp name>/<this enroller>`: this enroller's mark on the name. */
  mark(name: string): string {
    return `${this.marksOf(name)}${enc(this.#owner() ?? '')}`;
  }

  /** `enrollers/<enroller>`: its registration. */
  enroller(name: string): string {
    return `${this.prefix}enrollers/${enc(name)}`;
  }
}

/**
 * Deletes the address key `key` only while it names `name`: a name's own
 * key may say an address another name holds (a stale second claim left in
 * etcd), and that other name's binding must not go with it.
 */
export function deleteIfNames(key: string, name: string): IRequestOp {
  return {
    request_txn: {
      compare: [{ key: Buffer.from(key), target: 'Value', result: 'Equal', value: Buffer.from(name) }],
      success: [{ request_delete_range: { key: Buffer.from(key) } }],
      failure: [],
    },
  };
}
