/**
 * A tiny in-memory etcd KV for ScriptedEtcd (test/support/scripted-etcd.ts): it evaluates the compares, puts,
 * deletes and range reads of a transaction, so that a scripted world answers binds as etcd would (written by a
 * review, 2026-12-06). Writes of other enrollers go through `write()`, which returns the events a watch would show.
 */
import type { IKeyValue, IRequestOp, ITxnRequest } from 'etcd3';
import type { TxnResponse } from '../../src/etcd/lease.js';

interface Kv {
  value: Buffer;
  create: number;
  mod: number;
  lease?: string;
}

/** A transaction's branch as judged: its ops, each nested transaction judged too. */
interface Plan {
  readonly ok: boolean;
  readonly ops: Array<IRequestOp | Plan>;
}

export class MiniEtcd {
  readonly kv = new Map<string, Kv>();
  revision = 10;

  kvOf(key: string): IKeyValue | undefined {
    const k = this.kv.get(key);
    if (k === undefined) return undefined;
    return {
      key: Buffer.from(key),
      value: k.value,
      create_revision: String(k.create),
      mod_revision: String(k.mod),
      lease: k.lease ?? '0',
      version: '1',
    } as unknown as IKeyValue;
  }

  all(): IKeyValue[] {
    return [...this.kv.keys()].sort().map((k) => this.kvOf(k) as IKeyValue);
  }

  #inRange(key: Buffer, end: Buffer | undefined): string[] {
    const k = key.toString();
    if (end === undefined || end.length === 0) return this.kv.has(k) ? [k] : [];
    const e = end.toString();
    return [...this.kv.keys()].filter((x) => x >= k && x < e);
  }

  /** One write outside any transaction (another enroller's), at a new revision; returns the kvs written/deleted for the watch. */
  write(puts: Array<[string, string, string?]>, deletes: string[] = []): { put: IKeyValue[]; deleted: IKeyValue[] } {
    const rev = ++this.revision;
    const deleted: IKeyValue[] = [];
    for (const d of deletes) {
      if (this.kv.delete(d))
        deleted.push({
          key: Buffer.from(d),
          value: Buffer.alloc(0),
          mod_revision: String(rev),
          create_revision: '0',
        } as unknown as IKeyValue);
    }
    const put: IKeyValue[] = [];
    for (const [k, v, lease] of puts) {
      const before = this.kv.get(k);
      this.kv.set(k, { value: Buffer.from(v), create: before?.create ?? rev, mod: rev, ...(lease ? { lease } : {}) });
      put.push(this.kvOf(k) as IKeyValue);
    }
    return { put, deleted };
  }

  txn = async (request: ITxnRequest): Promise<TxnResponse> => {
    // As etcd: every comparison, nested transactions' too, is judged on the state before the transaction writes.
    const plan = this.#plan(request);
    if (this.#writes(plan)) this.revision++;
    const responses = this.#apply(plan, this.revision);
    return { succeeded: plan.ok, responses, header: { revision: String(this.revision) } } as unknown as TxnResponse;
  };

  /** Which branch `request` (and each transaction nested in it) takes, judged now. */
  #plan(request: ITxnRequest): Plan {
    const ok = (request.compare ?? []).every((c) => {
      const keys = this.#inRange(c.key as Buffer, c.range_end as Buffer | undefined);
      const check = (k: Kv | undefined): boolean => {
        switch (c.target) {
          case 'Create':
            return String(k?.create ?? 0) === String(c.create_revision);
          case 'Mod':
            return String(k?.mod ?? 0) === String(c.mod_revision);
          case 'Value':
            return k?.value.equals(Buffer.from(c.value as Buffer)) === true;
          case 'Lease':
            return String(k?.lease ?? '0') === String(c.lease);
          default:
            throw new Error(`compare ${c.target}`);
        }
      };
      if (keys.length === 0) return c.target === 'Value' ? false : check(undefined);
      return keys.every((k) => check(this.kv.get(k)));
    });
    const ops = (ok ? request.success : request.failure) ?? [];
    return { ok, ops: ops.map((op) => (op.request_txn === undefined ? op : this.#plan(op.request_txn))) };
  }

  #writes(plan: Plan): boolean {
    return plan.ops.some((o) => ('ok' in o ? this.#writes(o) : o.request_put !== undefined || o.request_delete_range !== undefined));
  }

  #apply(plan: Plan, rev: number): unknown[] {
    return plan.ops.map((o) => {
      if ('ok' in o) return { response_txn: { succeeded: o.ok, responses: this.#apply(o, rev) } };
      if (o.request_put !== undefined) {
        const k = (o.request_put.key as Buffer).toString();
        const before = this.kv.get(k);
        const lease = o.request_put.lease;
        this.kv.set(k, {
          value: Buffer.from(o.request_put.value as Buffer),
          create: before?.create ?? rev,
          mod: rev,
          ...(lease !== undefined ? { lease: String(lease) } : {}),
        });
        return { response_put: {} };
      }
      if (o.request_delete_range !== undefined) {
        for (const k of this.#inRange(o.request_delete_range.key as Buffer, o.request_delete_range.range_end as Buffer | undefined))
          this.kv.delete(k);
        return { response_delete_range: {} };
      }
      if (o.request_range !== undefined) {
        const kvs = this.#inRange(o.request_range.key as Buffer, o.request_range.range_end as Buffer | undefined).map((k) => this.kvOf(k));
        return { response_range: { kvs, more: false, count: String(kvs.length) } };
      }
      return {};
    });
  }
}
