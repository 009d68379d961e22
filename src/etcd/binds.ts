/**
 * The etcd store's binds, several to a transaction: those of one event-loop
 * turn, and those that wait for a place.
 *
 * A bind is one transaction of its own (compares, then its writes, or else
 * reads). The binds asked for in one turn of the event loop (the datagrams
 * one socket read brought, each answered by its own callback) go together,
 * when the turn's I/O is done (a `setImmediate`); and when the store's
 * window (src/etcd/txn-window.ts) is full, those that arrive meanwhile join
 * them while they wait. One transaction holds up to {@link BINDS_PER_TXN}
 * of them, each as a nested transaction with its own compares, writes and
 * reads, so each is answered exactly as it would have been alone, and the
 * whole takes one raft entry and one round trip, and a place in the window
 * per bind ({@link placesOf}: the window bounds etcd's work to apply);
 * a bind with none beside it goes alone, as before. Any other transaction
 * of the store hands the binds gathered so far to the window first ({@link
 * BindBatcher.flush}), so a bind asked for before it is never sent after it
 * (but for a registration, which goes past the window; and a bind asked
 * for after it may still join a batch that waits ahead of it, as binds
 * that wait always could). Measured against a three-member etcd 3.4 on a 2-vCPU
 * machine, eight transactions in flight: 490-930 binds a second one to a
 * transaction, 7,500-8,800 with 32 (the client's CPU per bind 436-610 µs
 * against 43-90); `npx tsx bench/etcd-binds.ts` measures it, and
 * docs/SCALING.md (item 14) has the figures.
 *
 * etcd refuses a transaction that writes a key twice, even in two nested
 * ones, so a bind writing a key that the waiting batch writes starts a new
 * batch instead of joining it; binds under different leases are not
 * batched together either. Each bind waits for a place no longer than its
 * own wait, whatever batch it is in (a bind put back after its batch's wait
 * ran out queues again, behind batches younger than it). Binds of a batch
 * that etcd refused whole for its size are sent one by one, behind the
 * transactions already waiting, and later batches are smaller (for the
 * store's life: etcd's limits do not change while it runs).
 *
 * @module
 */
import { setImmediate } from 'node:timers';
import type { IRequestOp, ITxnRequest } from 'etcd3';
import type { AddressBinding } from '../store/address-store.js';
import { TXN_TOO_LARGE } from './client.js';
import { deleteIfNames, type Entry, type EtcdKeys } from './keys.js';
import type { TxnResponse } from './lease.js';
import type { TxnKind } from './options.js';
import type { AddressTable } from './table.js';

/**
 * The most binds one transaction carries: each is one operation of the
 * outer transaction's branch, within etcd's default limit of 128 per branch
 * (`--max-txn-ops`), and a batch's apply stays short enough for the window's
 * latency target.
 */
export const BINDS_PER_TXN = 32;

/** The most bytes of keys and values one batch carries, about: a third of etcd's default request limit (`--max-request-bytes`, 1.5 MiB). */
export const BIND_BYTES_PER_TXN = 512 * 1024;

/**
 * The transaction of a bind: it compares the revisions of the name key and
 * the address key (and of the name's previous address) with what this
 * enroller last saw (`held`, `holder`: the table's entries of both), and
 * writes both, the mark, and the previous address's deletion; failing, it
 * reads both keys.
 */
export function bindRequest(
  keys: EtcdKeys,
  table: Pick<AddressTable, 'address'>,
  { name, address }: AddressBinding,
  { held, holder }: { held: Entry | undefined; holder: Entry | undefined },
  leaseId: string,
): ITxnRequest {
  const nameKey = keys.name(name);
  const addressKey = keys.address(address);
  const previous = held === undefined ? undefined : Number(held.value);
  const expect = (key: string, entry: Entry | undefined) =>
    entry === undefined
      ? { key: Buffer.from(key), target: 'Create' as const, result: 'Equal' as const, create_revision: 0 }
      : { key: Buffer.from(key), target: 'Mod' as const, result: 'Equal' as const, mod_revision: entry.modRevision };
  const compare = [expect(nameKey, held), expect(addressKey, holder !== undefined && holder.value === name ? holder : undefined)];
  const success: IRequestOp[] = [
    { request_put: { key: Buffer.from(nameKey), value: Buffer.from(String(address)) } },
    { request_put: { key: Buffer.from(addressKey), value: Buffer.from(name) } },
  ];
  if (previous !== undefined && previous !== address) {
    const previousKey = keys.address(previous);
    const was = table.address(previous);
    if (was !== undefined) compare.push(expect(previousKey, was));
    success.push(deleteIfNames(previousKey, name));
  }
  success.push({ request_put: { key: Buffer.from(keys.mark(name)), value: Buffer.alloc(0), lease: leaseId } });
  return {
    compare,
    success,
    failure: [{ request_range: { key: Buffer.from(nameKey) } }, { request_range: { key: Buffer.from(addressKey) } }],
  };
}

/**
 * The places a transaction takes in the store's window (src/etcd/txn-window.ts):
 * one per binding it carries. A batch of binds (no compare of its own, a
 * nested transaction per bind), of confirms (a mark written per binding) and
 * of leaves (a mark deleted per member) weigh as many; any other
 * transaction, a bind alone included, one.
 */
export function placesOf(kind: TxnKind, request: ITxnRequest): number {
  const batched = kind === 'confirms' || kind === 'leaves' || (kind === 'binds' && (request.compare?.length ?? 0) === 0);
  return batched ? Math.max(1, request.success?.length ?? 0) : 1;
}

/**
 * etcd's refusals of a batch as a whole that the same binds sent one by one
 * would not get: a batch too large for its limits, or one writing a key
 * twice, which the batches' key check rules out (each bind is then sent
 * alone, and each gets its own answer). A lease etcd no longer has is not
 * one: a batch's binds share their lease, and each alone would be refused
 * for it as well.
 */
const alone = (message: string): boolean => TXN_TOO_LARGE.test(message) || message.includes('duplicate key given in txn request');

/**
 * Sends one transaction once a place is free, waiting at most `waitMs`:
 * `request` is called when it goes and says what it carries then. A wait
 * that ran out rejects with a `TxnNotSentError` whose `timedOut` is set.
 */
export type SendTxn = (request: () => ITxnRequest, waitMs: number) => Promise<TxnResponse>;

interface Pending {
  readonly request: ITxnRequest;
  /** The keys it writes, and its weight in bytes. */
  readonly keys: readonly string[];
  readonly bytes: number;
  /** Binds under different leases never share a batch: etcd would refuse the whole for one lease it no longer has. */
  readonly group: string;
  /** The clock's time past which it is not sent: its own wait, whatever batch it is in. */
  readonly deadline: number;
  resolve(res: TxnResponse): void;
  reject(err: unknown): void;
}

/** Binds waiting for one place, and the keys they write. */
interface Batch {
  readonly pending: Pending[];
  readonly keys: Set<string>;
  bytes: number;
}

/** Every key a request writes (puts and deletes, in nested transactions too: in both their branches). */
function writtenKeys(ops: readonly IRequestOp[], into: string[]): string[] {
  for (const op of ops) {
    const key = op.request_put?.key ?? op.request_delete_range?.key;
    if (key !== undefined) into.push(key.toString());
    const nested = op.request_txn;
    if (nested !== undefined) {
      writtenKeys(nested.success ?? [], into);
      writtenKeys(nested.failure ?? [], into);
    }
  }
  return into;
}

/** What a request weighs, about: its keys and values, and some framing per operation. */
function requestBytes(request: ITxnRequest): number {
  let bytes = 0;
  const add = (ops: readonly IRequestOp[] | undefined) => {
    for (const op of ops ?? []) {
      const put = op.request_put;
      bytes += 16 + (put?.key?.length ?? 0) + (put?.value?.length ?? 0) + (op.request_range?.key?.length ?? 0);
      bytes += op.request_delete_range?.key?.length ?? 0;
      if (op.request_txn !== undefined) bytes += requestBytes(op.request_txn);
    }
  };
  for (const c of request.compare ?? []) bytes += 16 + (c.key?.length ?? 0) + (c.value?.length ?? 0);
  add(request.success);
  add(request.failure);
  return bytes;
}

/**
 * Runs `fn` once the event loop's current turn has done its I/O callbacks: `node:timers`' own `setImmediate`, which
 * fake timers (vitest's, Jest's: they replace the global) leave alone, so a test's fake clock never holds a bind
 * back. Not a timer (no time passes for it), so not the store's clock's.
 */
const afterThisTurn = (fn: () => void): void => void setImmediate(fn);

/** Collects the binds of one event-loop turn, and those that wait for a place in the window, and sends them as one transaction. */
export class BindBatcher {
  readonly #send: SendTxn;
  readonly #waitMs: number;
  readonly #now: () => number;
  readonly #defer: (fn: () => void) => void;
  /** The batch waiting for a place, which a bind may still join; undefined once it went. */
  #open: Batch | undefined;
  /** The batch of this turn, not handed to the window yet (see {@link flush}). */
  #gathering: Batch | undefined;
  /** The most binds a batch takes: {@link BINDS_PER_TXN}, halved each time etcd refuses one for its size. */
  #cap = BINDS_PER_TXN;

  /**
   * `waitMs`: how long each bind waits for a place at most (the store's call timeout); `now`: the window's clock, in
   * ms (monotonic); `defer`: runs its function when the turn's binds are all asked for (the end of the turn's I/O).
   */
  constructor(send: SendTxn, waitMs: number, now: () => number, defer: (fn: () => void) => void = afterThisTurn) {
    this.#send = send;
    this.#waitMs = waitMs;
    this.#now = now;
    this.#defer = defer;
  }

  /** Hands the binds gathered this turn to the window now: another transaction is about to go, and must go after them. */
  flush(): void {
    const batch = this.#gathering;
    if (batch === undefined) return;
    this.#gathering = undefined;
    this.#go(batch);
  }

  /**
   * Sends `request` (one bind's transaction), alone or with others of the
   * same `group` (its lease); its answer is what it would have been alone.
   */
  txn(request: ITxnRequest, group: string): Promise<TxnResponse> {
    return new Promise<TxnResponse>((resolve, reject) => {
      const keys = writtenKeys(request.success ?? [], writtenKeys(request.failure ?? [], []));
      const deadline = this.#now() + this.#waitMs;
      this.#add({ request, keys, bytes: requestBytes(request), group, deadline, resolve, reject });
    });
  }

  /** Adds `p` to the waiting batch if it fits there, else to a new one, which it sends. */
  #add(p: Pending): void {
    const open = this.#open;
    if (open !== undefined && this.#fits(open, p)) {
      open.pending.push(p);
      for (const key of p.keys) open.keys.add(key);
      open.bytes += p.bytes;
      if (open.pending.length >= this.#cap) this.#open = undefined; // full: it waits on, and nothing joins it
      return;
    }
    const batch: Batch = { pending: [p], keys: new Set(p.keys), bytes: p.bytes };
    this.flush(); // (a batch of this turn that p cannot join goes first: in order)
    this.#open = this.#cap > 1 ? batch : undefined;
    if (this.#open === undefined) {
      this.#go(batch);
      return;
    }
    this.#gathering = batch;
    this.#defer(() => {
      if (this.#gathering === batch) this.flush();
    });
  }

  /** Whether `p` may join `batch`: same lease, room, no key in common, and the batch's wait not longer than its own. */
  #fits(batch: Batch, p: Pending): boolean {
    const first = batch.pending[0] as Pending;
    return (
      first.group === p.group &&
      first.deadline <= p.deadline &&
      batch.bytes + p.bytes <= BIND_BYTES_PER_TXN &&
      !p.keys.some((key) => batch.keys.has(key))
    );
  }

  /** Sends `batch` when its place comes (at once if one is free); whatever goes wrong, every bind of it is answered. */
  #go(batch: Batch): void {
    const { pending } = batch;
    let sent = false;
    const request = () => {
      sent = true;
      if (this.#open === batch) this.#open = undefined; // it goes now: later binds start a new batch
      const only = pending.length === 1 ? pending[0] : undefined;
      if (only !== undefined) return only.request;
      return { compare: [], success: pending.map((p) => ({ request_txn: p.request })), failure: [] };
    };
    // It waits as long as its first bind may: the others joined later, and may wait on (see #failed).
    const waitMs = Math.max(0, (pending[0] as Pending).deadline - this.#now());
    let sending: Promise<TxnResponse>;
    try {
      sending = this.#send(request, waitMs);
    } catch (err) {
      sending = Promise.reject(err); // (a send that throws: its binds are answered with its error, from the turn's end too)
    }
    sending.then(
      (res) => this.#answered(pending, res),
      (err: unknown) => {
        if (this.#open === batch) this.#open = undefined;
        this.#failed(pending, err, sent);
      },
    );
  }

  #answered(pending: readonly Pending[], res: TxnResponse): void {
    if (pending.length === 1) {
      pending[0]?.resolve(res);
      return;
    }
    pending.forEach((p, i) => {
      const own = res.responses[i]?.response_txn;
      if (own === undefined) p.reject(new Error(`etcd answered a batch of ${pending.length} binds without bind ${i}'s answer`));
      else p.resolve({ ...own, header: res.header } as TxnResponse);
    });
  }

  /**
   * A batch failed. Never sent because its wait ran out: the binds that
   * joined it later still have time of their own, and wait on in a new
   * batch. Refused by etcd as a whole for what a bind alone would not be
   * refused for: each is sent alone, in the time it has left (and later
   * batches are smaller, after a refusal for size). Otherwise every bind
   * fails as the batch did.
   */
  #failed(pending: readonly Pending[], err: unknown, sent: boolean): void {
    const message = String((err as Error | undefined)?.message);
    const now = this.#now();
    if (!sent && (err as { timedOut?: unknown } | undefined)?.timedOut === true) {
      for (const p of pending) {
        if (p.deadline - now >= 1) this.#add(p);
        else p.reject(err);
      }
      return;
    }
    if (sent && pending.length > 1 && alone(message)) {
      if (TXN_TOO_LARGE.test(message)) this.#cap = Math.max(1, Math.min(this.#cap, Math.floor(pending.length / 2)));
      for (const p of pending) {
        this.#send(() => p.request, Math.max(0, p.deadline - now)).then(p.resolve, p.reject);
      }
      return;
    }
    for (const p of pending) p.reject(err);
  }
}
