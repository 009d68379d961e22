/**
 * A batch of confirms refused for one changed binding is sent again, without
 * it (src/etcd/confirms.ts). Found by a review: the resend took the lease and
 * marked the names served as they were then, so a name let go meanwhile was
 * marked again under a lease renewed meanwhile (a live mark that nobody
 * serves: its address never freed). A resend goes only under the lease the
 * confirm was first sent under. Against a model etcd (compares, both
 * branches, leases, watch events), so the same tests pass with one
 * transaction per confirm.
 */
import type { ICompare, IKeyValue, ITxnRequest } from 'etcd3';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { EtcdAddressStore } from '../../src/etcd/index.js';
import type { TxnResponse } from '../../src/etcd/lease.js';
import { deferred, mockListener, ScriptedEtcd } from '../support/scripted-etcd.js';

const PREFIX = '/rina/demo.DIF/';

interface Cell {
  value: string;
  lease: string | undefined;
  create: number;
  mod: number;
}

/** A model etcd behind a ScriptedEtcd: compares, both branches, leases (a revoked lease's keys go; a put under it fails), watch events. */
function modelEtcd() {
  const etcd = new ScriptedEtcd();
  const table = new Map<string, Cell>();
  const revoked = new Set<string>();
  let revision = 100;
  let gate: ((r: ITxnRequest) => Promise<void> | undefined) | undefined;
  const emit = (kind: 'put' | 'delete', key: string, cell: Cell) => {
    const kv = {
      key: Buffer.from(key),
      value: Buffer.from(cell.value),
      mod_revision: String(cell.mod),
      create_revision: String(cell.create),
      lease: cell.lease ?? '0',
    } as unknown as IKeyValue;
    setTimeout(() => etcd.watches.at(-1)?.watcher.emit(kind, kv), 0); // the watch is another stream
  };
  const holds = (c: ICompare): boolean => {
    const cell = table.get(String(c.key));
    switch (c.target) {
      case 'Value':
        return cell !== undefined && cell.value === String(c.value);
      case 'Mod':
        return (cell?.mod ?? 0) === Number(c.mod_revision);
      case 'Create':
        if (c.range_end !== undefined) {
          const [from, to] = [String(c.key), String(c.range_end)];
          return ![...table.keys()].some((k) => k >= from && k < to);
        }
        return (cell?.create ?? 0) === Number(c.create_revision);
      case 'Lease':
        return cell?.lease === String(c.lease);
      default:
        throw new Error(`compare ${c.target}`);
    }
  };
  const txn = async (request: ITxnRequest): Promise<TxnResponse> => {
    etcd.txns.push({ request, deadline: undefined });
    await gate?.(request);
    const ok = (request.compare ?? []).every(holds);
    const ops = (ok ? request.success : request.failure) ?? [];
    for (const op of ops) {
      const lease = op.request_put?.lease;
      if (lease !== undefined && revoked.has(String(lease))) throw new Error('etcdserver: requested lease not found');
    }
    const rev = ops.some((op) => op.request_put || op.request_delete_range) ? ++revision : revision;
    const responses = ops.map((op) => {
      if (op.request_put) {
        const key = String(op.request_put.key);
        const before = table.get(key);
        const cell = {
          value: String(op.request_put.value),
          lease: op.request_put.lease === undefined ? undefined : String(op.request_put.lease),
          create: before?.create ?? rev,
          mod: rev,
        };
        table.set(key, cell);
        emit('put', key, cell);
        return { response_put: {} };
      }
      if (op.request_delete_range) {
        const key = String(op.request_delete_range.key);
        const cell = table.get(key);
        if (cell !== undefined) {
          table.delete(key);
          emit('delete', key, { ...cell, mod: rev });
        }
        return { response_delete_range: {} };
      }
      const key = String(op.request_range?.key);
      const cell = table.get(key);
      const kvs =
        cell === undefined
          ? []
          : [
              {
                key: Buffer.from(key),
                value: Buffer.from(cell.value),
                mod_revision: String(cell.mod),
                create_revision: String(cell.create),
              },
            ];
      return { response_range: { kvs } };
    });
    return { succeeded: ok, header: { revision: String(rev) }, responses } as unknown as TxnResponse;
  };
  const client = etcd.client as unknown as { kv: { txn: unknown }; leaseClient: { leaseRevoke: unknown } };
  client.kv.txn = (request: ITxnRequest) => txn(request);
  client.leaseClient.leaseRevoke = async ({ ID }: { ID: string }) => {
    revoked.add(String(ID));
    for (const [k, c] of [...table]) if (c.lease === String(ID)) table.delete(k);
    return {};
  };
  const bind = (name: string, address: number) => {
    revision++;
    table.set(`${PREFIX}names/${name}`, { value: String(address), lease: undefined, create: revision, mod: revision });
    table.set(`${PREFIX}addresses/${address}`, { value: name, lease: undefined, create: revision, mod: revision });
  };
  const kvs = () =>
    [...table].map(
      ([k, c]) =>
        ({
          key: Buffer.from(k),
          value: Buffer.from(c.value),
          mod_revision: String(c.mod),
          create_revision: String(c.create),
        }) as unknown as IKeyValue,
    );
  return { etcd, table, bind, kvs, setGate: (g: typeof gate) => (gate = g), revision: () => revision };
}

const putsMark = (name: string) => (r: ITxnRequest) =>
  (r.success ?? []).some((op) => String(op.request_put?.key) === `${PREFIX}members/${name}/e1`);

/**
 * A store (enroller e1) open and loaded on a model etcd binding n to 5 and m
 * to 6, whose first transaction writing n's mark waits for `slow`.
 */
async function openedWithSlowMark() {
  const m = modelEtcd();
  m.bind('n', 5);
  m.bind('m', 6);
  const store = new EtcdAddressStore({ client: m.etcd.client, prefix: PREFIX, leaseTtlSecs: 10, callTimeoutMs: 500 });
  const listener = mockListener();
  await store.open({ name: 'e1', shimAddress: '10.0.0.1:7000' }, listener);
  m.etcd.pages.push({ kvs: m.kvs(), more: false, revision: m.revision() });
  await store.load();
  const slow = deferred<void>();
  let held = false;
  m.setGate((r) => {
    if (held || !putsMark('n')(r)) return undefined;
    held = true;
    return slow.promise;
  });
  return { m, store, listener, slow, gated: () => held };
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
});
afterEach(() => {
  vi.useRealTimers();
});

it('a name left while its confirm was in flight is not marked again under the renewed lease (no live mark nobody serves)', async () => {
  // A revalidation under lease-1 asks n and m; the (first) transaction carrying n's mark is slow to be answered.
  const { m, store, listener, slow, gated } = await openedWithSlowMark();
  const n = store.confirm({ name: 'n', address: 5 }).catch(() => false);
  const mm = store.confirm({ name: 'm', address: 6 }).catch(() => false);
  await vi.advanceTimersByTimeAsync(0);
  expect(gated()).toBe(true);

  // Meanwhile: another enroller moves m; lease-1 is lost and lease-2 granted; member n is retired (the registry leaves it).
  m.table.set(`${PREFIX}names/m`, { value: '9', lease: undefined, create: 1, mod: m.revision() + 1 });
  m.etcd.leases[0]?.emit('lost');
  await vi.advanceTimersByTimeAsync(0);
  expect(listener.fenced.mock.calls).toEqual([[true], [false]]);
  await store.leave('n');

  slow.resolve();
  await Promise.all([n, mm]);
  await vi.advanceTimersByTimeAsync(10); // watch events, stray deletions

  const mark = m.table.get(`${PREFIX}members/n/e1`);
  const leaseOfMarkPuts = m.etcd.txns
    .filter((t) => putsMark('n')(t.request))
    .map((t) => String(t.request.success?.find((op) => String(op.request_put?.key) === `${PREFIX}members/n/e1`)?.request_put?.lease));
  expect(leaseOfMarkPuts).toEqual(['lease-1']);
  expect(await n).toBe(false); // not proven under lease-1, which is gone
  // n left: no mark of e1 on it may stay under the live lease (one txn per confirm: under lease-1, refused as revoked, or a stray)
  expect(mark).toBeUndefined();
  await store.close();
});

it('a confirm of an earlier opening, refused in a batch and resent after close() and open(), marks nothing in the new opening', async () => {
  const { m, store, listener, slow } = await openedWithSlowMark();
  const n = store.confirm({ name: 'n', address: 5 }).catch((e) => String(e));
  const mm = store.confirm({ name: 'm', address: 6 }).catch((e) => String(e));
  await vi.advanceTimersByTimeAsync(0);
  m.table.set(`${PREFIX}names/m`, { value: '9', lease: undefined, create: 1, mod: m.revision() + 1 });
  await store.close(); // the enroller stops (n told goodbye, forgotten) ...
  await store.open({ name: 'e1', shimAddress: '10.0.0.1:7000' }, listener); // ... and starts again
  m.etcd.pages.push({ kvs: m.kvs(), more: false, revision: m.revision() });
  await store.load();
  slow.resolve();
  expect(await n).toBe(false); // asked of the earlier opening
  expect(await mm).toBe(false); // moved
  await vi.advanceTimersByTimeAsync(10);
  const mark = m.table.get(`${PREFIX}members/n/e1`);
  expect(mark).toBeUndefined();
  await store.close();
});
