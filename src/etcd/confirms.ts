/**
 * The etcd store's confirms, in batches: an enroller back from a lapsed
 * lease proves every member's binding again, and one transaction per member
 * is what made a lapse cost etcd as much as the members' first enrollments.
 * Confirms asked together (in one run of the microtask queue, as a
 * revalidation asks them) go to etcd as one transaction of up to
 * {@link CONFIRMS_PER_TXN} bindings, with the same answer for each as a
 * transaction of its own would give.
 *
 * @module
 */
import type { ICompare, IKeyValue, IRequestOp, ITxnRequest } from 'etcd3';
import { StoreError } from '../errors.js';
import { TXN_TOO_LARGE } from './client.js';
import type { AddressBinding } from '../store/address-store.js';
import type { EtcdKeys } from './keys.js';
import type { TxnResponse } from './lease.js';
import type { ServedNames } from './served.js';

/**
 * The most bindings one transaction confirms: two compares each, and when
 * one fails, two reads each, within etcd's default limit of 128 operations
 * per branch (`--max-txn-ops`).
 */
export const CONFIRMS_PER_TXN = 32;

/**
 * The most bytes of keys and values one transaction carries, about: a third
 * of etcd's default request limit (`--max-request-bytes`, 1.5 MiB), so that
 * members with long names (a name can be as long as a PDU) cannot make a
 * batch that etcd refuses whole, and with it their neighbours' proofs.
 */
export const CONFIRM_BYTES_PER_TXN = 512 * 1024;

/** What one binding adds to a batch's request, about: its name and address keys twice each (compare, read), its mark's key (which carries the enroller's name), its name as a value, and the framing. */
const requestBytes = (keys: EtcdKeys, { name, address }: AddressBinding): number =>
  2 * (keys.name(name).length + keys.address(address).length) + keys.mark(name).length + name.length + 64;

/** What the batcher needs of the store. */
export interface ConfirmHost {
  readonly keys: EtcdKeys;
  /** The names this enroller serves (a confirmed name is one, from before its transaction is sent), and the revision of each mark it wrote. */
  readonly served: ServedNames;
  /** The lease marks are written under; undefined while there is none, or it is fenced. */
  leaseId(): string | undefined;
  txn(what: string, request: ITxnRequest): Promise<TxnResponse>;
  /** What a failed transaction read of a key, for the store's copy of the table. */
  learn(key: string, kv: IKeyValue | undefined, revision: number): void;
  /** The confirm of `name` under `token` failed or was refused: the store lets the name go as `ServedNames.drop` says, and deletes a mark of it the watch showed if it no longer serves the name. */
  dropped(name: string, token: number): void;
}

interface Pending {
  readonly binding: AddressBinding;
  /** The name's token in `served` since this confirm was first sent: a failure gives the name up only while it is still this one's. */
  token?: number;
  resolve(proven: boolean): void;
  reject(err: unknown): void;
}

/** Collects confirms and sends them as few transactions. */
export class ConfirmBatcher {
  readonly #host: ConfirmHost;
  #queue: Pending[] = [];
  readonly #names = new Set<string>();
  #bytes = 0;

  constructor(host: ConfirmHost) {
    this.#host = host;
  }

  /**
   * Marks `binding.name` served under the current lease if, and only if,
   * etcd binds it to `binding.address` now, both ways; sent with the other
   * confirms asked in the same run of microtasks.
   */
  confirm(binding: AddressBinding): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      const bytes = requestBytes(this.#host.keys, binding);
      // One put per key and transaction; within etcd's request limit.
      if (this.#names.has(binding.name) || this.#bytes + bytes > CONFIRM_BYTES_PER_TXN) this.#flush();
      if (this.#queue.length === 0) queueMicrotask(() => this.#flush());
      this.#queue.push({ binding, resolve, reject });
      this.#names.add(binding.name);
      this.#bytes += bytes;
      if (this.#queue.length >= CONFIRMS_PER_TXN) this.#flush();
    });
  }

  #flush(): void {
    const batch = this.#queue;
    if (batch.length === 0) return;
    this.#queue = [];
    this.#names.clear();
    this.#bytes = 0;
    this.#send(batch);
  }

  /**
   * Sends `batch`, for the first time (no `lease`) or again under the lease
   * it was first sent under; whatever goes wrong, no confirm of it is left
   * unanswered (those answered keep their answer).
   */
  #send(batch: Pending[], lease?: string): void {
    this.#sendNow(batch, lease).catch((err: unknown) => {
      for (const p of batch) p.reject(err);
    });
  }

  /**
   * One transaction: every binding as expected, then every mark written;
   * otherwise it reads both keys of each, answers those found changed, and
   * sends the rest again (fewer each time: at least one compare failed).
   */
  async #sendNow(batch: Pending[], again?: string): Promise<void> {
    const { keys, served } = this.#host;
    const leaseId = this.#host.leaseId();
    if (again !== undefined && leaseId !== again) {
      // Sent again only under the lease it was first sent under: a proof under a newer one is not this confirm's to
      // give. (Nor is a name let go since served again: the mark a resend writes for it is deleted as a stray.)
      for (const p of batch) this.#refuse(p);
      return;
    }
    if (leaseId === undefined) {
      const err = new StoreError('etcd: the enroller has no lease now (it is being renewed)');
      for (const p of batch) p.reject(err);
      return;
    }
    const compare: ICompare[] = [];
    const success: IRequestOp[] = [];
    const failure: IRequestOp[] = [];
    for (const p of batch) {
      const { binding } = p;
      const nameKey = Buffer.from(keys.name(binding.name));
      const addressKey = Buffer.from(keys.address(binding.address));
      compare.push(
        { key: nameKey, target: 'Value', result: 'Equal', value: Buffer.from(String(binding.address)) },
        { key: addressKey, target: 'Value', result: 'Equal', value: Buffer.from(binding.name) },
      );
      success.push({ request_put: { key: Buffer.from(keys.mark(binding.name)), value: Buffer.alloc(0), lease: leaseId } });
      failure.push({ request_range: { key: nameKey } }, { request_range: { key: addressKey } });
      // Served from the send on, as bind: the watch may show the new mark before the answer, and a mark of ours is not stray.
      if (again === undefined) p.token = served.take(binding.name);
    }
    const first = batch[0]?.binding as AddressBinding;
    const what =
      batch.length === 1
        ? `cannot confirm ${first.name} at ${first.address}`
        : `cannot confirm ${batch.length} bindings (${first.name}, ...)`;
    let res: TxnResponse;
    try {
      res = await this.#host.txn(what, { compare, success, failure });
    } catch (err) {
      if (batch.length > 1 && TXN_TOO_LARGE.test(String((err as Error | undefined)?.message))) {
        for (const p of batch) this.#send([p], leaseId); // an etcd with lower limits than its defaults
        return;
      }
      for (const p of batch) {
        this.#drop(p); // committed or not: a mark that made it is deleted when the watch shows it, or now if it did
        p.reject(err);
      }
      return;
    }
    if (res.succeeded) {
      const revision = Number(res.header.revision);
      for (const p of batch) {
        served.wrote(p.binding.name, revision); // (before succeeded: the call's own deletion check is needed)
        if (p.token !== undefined) served.succeeded(p.binding.name, p.token, revision);
        p.resolve(true);
      }
      return;
    }
    this.#sendAgain(batch, res, leaseId);
  }

  /** A batch refused: each binding read as changed is answered `false`, the others are confirmed again (under `lease` only). */
  #sendAgain(batch: Pending[], res: TxnResponse, lease: string): void {
    const { keys } = this.#host;
    const revision = Number(res.header.revision);
    const held: Pending[] = [];
    batch.forEach((p, i) => {
      const { name, address } = p.binding;
      const nameKv = res.responses[2 * i]?.response_range?.kvs[0];
      const addressKv = res.responses[2 * i + 1]?.response_range?.kvs[0];
      if (nameKv?.value.toString() === String(address) && addressKv?.value.toString() === name) {
        held.push(p);
        return;
      }
      this.#host.learn(keys.name(name), nameKv, revision);
      this.#host.learn(keys.address(address), addressKv, revision);
      this.#refuse(p);
    });
    if (held.length < batch.length) {
      if (held.length > 0) this.#send(held, lease);
      return;
    }
    // Refused, yet every binding read as expected: not etcd's answer to this request. False on any doubt.
    for (const p of held) this.#refuse(p);
  }

  /** A confirm answered `false`: its name let go as {@link #drop} says. */
  #refuse(p: Pending): void {
    this.#drop(p);
    p.resolve(false);
  }

  /** A confirm failed or was refused: its name is served no more, unless a newer bind or confirm took it since, or one succeeded before (see ServedNames.drop). */
  #drop({ binding, token }: Pending): void {
    if (token !== undefined) this.#host.dropped(binding.name, token);
  }
}
