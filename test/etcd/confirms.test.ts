/**
 * The etcd store's confirms in batches (src/etcd/confirms.ts): confirms
 * asked together share transactions within etcd's per-branch limit, and each
 * gets the answer a transaction of its own would give, whatever the batch's
 * other bindings are; nothing is put twice in one transaction.
 */
import type { ICompare, IKeyValue, ITxnRequest } from 'etcd3';
import { EventEmitter } from 'eventemitter3';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { describeEnrollerEvent, type EnrollerEvents } from '../../src/enroller/events.js';
import { AddressLedger } from '../../src/enroller/ledger.js';
import { MemberRegistry } from '../../src/enroller/members.js';
import { CONFIRMS_PER_TXN, ConfirmBatcher } from '../../src/etcd/confirms.js';
import { EtcdKeys } from '../../src/etcd/keys.js';
import type { TxnResponse } from '../../src/etcd/lease.js';
import { ServedNames } from '../../src/etcd/served.js';
import { StoreError } from '../../src/index.js';
import type { AddressBinding, SharedAddressStore } from '../../src/store/address-store.js';
import { Telemetry } from '../../src/util/telemetry.js';
import { TICK_MS, Ticker } from '../../src/util/ticker.js';
import { ManualClock } from '../enroller/manual-clock.js';
import { recordingLogger } from '../support/logs.js';
import { keyValue } from '../support/scripted-etcd.js';

const PREFIX = '/rina/demo.DIF/';

/**
 * A batcher on an etcd of `table` (key -> value), answering each transaction
 * as etcd would: every compare holds, or the failure branch's reads.
 */
function batcher(
  table: Map<string, string>,
  opts: { leaseId?: string | undefined; fail?: (request: ITxnRequest) => Error | undefined; learnFails?: boolean; owner?: string } = {},
) {
  const keys = new EtcdKeys(PREFIX, () => opts.owner ?? 'e1');
  const txns: ITxnRequest[] = [];
  const learnt: Array<[string, string | undefined]> = [];
  const unanswered: string[] = [];
  const served = new ServedNames();
  let revision = 100;
  const b = new ConfirmBatcher({
    keys,
    served,
    leaseId: () => ('leaseId' in opts ? opts.leaseId : 'lease-1'),
    learn: (key, kv) => {
      if (opts.learnFails === true) throw new Error('the table cannot take it');
      learnt.push([key, kv?.value.toString()]);
    },
    dropped: (name, token) => {
      served.drop(name, token);
      unanswered.push(name);
    },
    txn: async (_what, request) => {
      txns.push(request);
      await Promise.resolve();
      const failure = opts.fail?.(request);
      if (failure !== undefined) throw failure;
      revision++;
      const holds = (c: ICompare) => table.get(String(c.key)) === String(c.value);
      if ((request.compare ?? []).every(holds)) {
        for (const op of request.success ?? []) table.set(String(op.request_put?.key), '');
        return { succeeded: true, header: { revision: String(revision) }, responses: [] } as unknown as TxnResponse;
      }
      const responses = (request.failure ?? []).map((op) => {
        const k = String(op.request_range?.key);
        const v = table.get(k);
        return { response_range: { kvs: v === undefined ? [] : ([keyValue('', k, v, revision)] as IKeyValue[]) } };
      });
      return { succeeded: false, header: { revision: String(revision) }, responses } as unknown as TxnResponse;
    },
  });
  return { b, txns, learnt, served, unanswered };
}

/** The bytes of the keys and values in a request's operation. */
const bufferBytes = (op: unknown): number =>
  Buffer.isBuffer(op)
    ? op.length
    : typeof op === 'object' && op !== null
      ? Object.values(op)
          .map(bufferBytes)
          .reduce((a, c) => a + c, 0)
      : 0;

/** A table binding m0..m(n-1) to addresses 1..n, both ways. */
function bound(n: number): Map<string, string> {
  const table = new Map<string, string>();
  for (let i = 0; i < n; i++) {
    table.set(`${PREFIX}names/m${i}`, String(i + 1));
    table.set(`${PREFIX}addresses/${i + 1}`, `m${i}`);
  }
  return table;
}

describe('ConfirmBatcher', () => {
  it('sends confirms asked together as transactions of at most CONFIRMS_PER_TXN bindings, within 128 operations per branch', async () => {
    const n = 2 * CONFIRMS_PER_TXN + 6;
    const { b, txns, served } = batcher(bound(n));
    const verdicts = await Promise.all(Array.from({ length: n }, (_, i) => b.confirm({ name: `m${i}`, address: i + 1 })));
    expect(verdicts).toEqual(Array(n).fill(true));
    expect(txns.map((t) => t.success?.length)).toEqual([CONFIRMS_PER_TXN, CONFIRMS_PER_TXN, 6]);
    for (const t of txns) {
      for (const branch of [t.compare, t.success, t.failure]) expect(branch?.length).toBeLessThanOrEqual(128);
    }
    expect(served.size).toBe(n);
    expect(served.written('m0')).toBe(101);
    expect(served.written(`m${n - 1}`)).toBe(103);
  });

  it("keeps a batch within etcd's request limit whatever the names' lengths: 8 KB member names, a 60 KB enroller name", async () => {
    const long = (i: number) => `${'x'.repeat(8000)}-${i}`;
    const table = new Map<string, string>();
    for (const [owner, name] of [
      ['e1', long],
      ['e'.repeat(60_000), (i: number) => `m${i}`],
    ] as const) {
      for (let i = 0; i < 40; i++) {
        table.set(`${PREFIX}names/${name(i)}`, String(i + 1));
        table.set(`${PREFIX}addresses/${i + 1}`, name(i));
      }
      const { b, txns } = batcher(table, { owner });
      const verdicts = await Promise.all(Array.from({ length: 40 }, (_, i) => b.confirm({ name: name(i), address: i + 1 })));
      expect(verdicts).toEqual(Array(40).fill(true));
      expect(txns.length).toBeGreaterThan(2);
      for (const t of txns) {
        const bytes = [...(t.compare ?? []), ...(t.success ?? []), ...(t.failure ?? [])].map(bufferBytes).reduce((a, c) => a + c, 0);
        expect(bytes).toBeLessThan(1.5 * 1024 * 1024); // etcd's default --max-request-bytes
      }
    }
  });

  it('an etcd with lower limits than its defaults, refusing a batch as too large, gets its bindings one by one', async () => {
    for (const refusal of ['too many operations in txn request', 'request is too large']) {
      const tooLarge = (request: ITxnRequest) =>
        (request.compare?.length ?? 0) > 2
          ? new StoreError(`etcd: cannot confirm 3 bindings: 3 INVALID_ARGUMENT: etcdserver: ${refusal}`)
          : undefined;
      const { b, txns, served } = batcher(bound(3), { fail: tooLarge });
      const verdicts = await Promise.all([0, 1, 2].map((i) => b.confirm({ name: `m${i}`, address: i + 1 })));
      expect(verdicts).toEqual([true, true, true]);
      expect(txns.map((t) => t.success?.length)).toEqual([3, 1, 1, 1]);
      expect(served.size).toBe(3);
    }
  });

  it('answers a binding changed meanwhile false and confirms the others of its batch in one more transaction', async () => {
    const table = bound(10);
    table.set(`${PREFIX}names/m3`, '77'); // m3 moved
    table.set(`${PREFIX}addresses/77`, 'm3');
    table.set(`${PREFIX}addresses/4`, 'x'); // its old address taken
    table.delete(`${PREFIX}names/m7`); // m7 released
    table.delete(`${PREFIX}addresses/8`);
    const { b, txns, learnt, served } = batcher(table);
    const verdicts = await Promise.all(Array.from({ length: 10 }, (_, i) => b.confirm({ name: `m${i}`, address: i + 1 })));
    expect(verdicts).toEqual([true, true, true, false, true, true, true, false, true, true]);
    expect(txns.map((t) => t.success?.length)).toEqual([10, 8]);
    expect(served.has('m3') || served.has('m7')).toBe(false);
    expect(learnt).toEqual([
      [`${PREFIX}names/m3`, '77'],
      [`${PREFIX}addresses/4`, 'x'],
      [`${PREFIX}names/m7`, undefined],
      [`${PREFIX}addresses/8`, undefined],
    ]);
    // Only the proven members' marks were written
    expect([...table.keys()].filter((k) => k.includes('/members/')).sort()).toHaveLength(8);
  });

  it('gives every binding the answer a transaction of its own would, whatever the batch (random tables and requests)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ name: fc.integer({ min: 0, max: 9 }), address: fc.integer({ min: 1, max: 12 }) }), { maxLength: 80 }),
        fc.array(fc.boolean(), { minLength: 10, maxLength: 10 }),
        async (asks, kept) => {
          const table = bound(10);
          kept.forEach((k, i) => {
            if (!k) table.set(`${PREFIX}addresses/${i + 1}`, 'someone-else');
          });
          const alone = (name: number, address: number) =>
            table.get(`${PREFIX}names/m${name}`) === String(address) && table.get(`${PREFIX}addresses/${address}`) === `m${name}`;
          const expected = asks.map(({ name, address }) => alone(name, address));
          const { b, txns } = batcher(table);
          const verdicts = await Promise.all(asks.map(({ name, address }) => b.confirm({ name: `m${name}`, address })));
          expect(verdicts).toEqual(expected);
          for (const t of txns) {
            const puts = (t.success ?? []).map((op) => String(op.request_put?.key));
            expect(new Set(puts).size).toBe(puts.length); // one put per key and transaction
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('rejects every confirm of a batch etcd did not answer, serving none of them; and every one asked with no lease', async () => {
    const { b, served, unanswered } = batcher(bound(3), { fail: () => new StoreError('etcd: cannot confirm 3 bindings: unavailable') });
    const asked = [0, 1, 2].map((i) => b.confirm({ name: `m${i}`, address: i + 1 }));
    for (const a of asked) await expect(a).rejects.toThrow(/unavailable/);
    expect(served.size).toBe(0);
    expect(unanswered).toEqual(['m0', 'm1', 'm2']); // (a mark the watch showed already is stray now)

    const table = bound(3);
    table.set(`${PREFIX}addresses/2`, 'x');
    const throwing = batcher(table, { learnFails: true }); // whatever fails in the store, no confirm is left unanswered
    const settled = await Promise.allSettled([0, 1, 2].map((i) => throwing.b.confirm({ name: `m${i}`, address: i + 1 })));
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected', 'rejected']);

    const none = batcher(bound(3), { leaseId: undefined });
    await expect(none.b.confirm({ name: 'm0', address: 1 })).rejects.toThrow(/has no lease now/);
    expect(none.txns).toHaveLength(0);
  });

  it("an enroller's revalidation reaches the store as full batches: 1,000 members proven in 32 transactions", async () => {
    const { b, txns } = batcher(bound(1000));
    const store: SharedAddressStore = {
      shared: true,
      load: () => [],
      bind: async () => true,
      release: async () => true,
      open: async () => undefined,
      leave: async () => undefined,
      close: async () => undefined,
      canVouch: () => true,
      confirm: async (binding: AddressBinding) => await b.confirm(binding), // as EtcdAddressStore's
    };
    const clock = new ManualClock();
    const ticker = new Ticker(TICK_MS, clock);
    const telemetry = new Telemetry(new EventEmitter<EnrollerEvents>(), recordingLogger().logger, describeEnrollerEvent('e1'), []);
    const host = { serves: () => true, running: () => true, memberCount: () => 0, leaseBack: () => undefined, rebound: () => undefined };
    const settings = { addressPool: { first: 1, last: 2000 }, holdMs: 1000, ipcpName: 'e1', localAddress: 'me', random: () => 0 };
    const ledger = new AddressLedger(store, settings, ticker, telemetry, host);
    const members = new MemberRegistry(
      { clock, ticker, leaseMs: 60_000, ipcpName: 'e1', running: () => true, takeOver: () => false },
      ledger,
      telemetry,
    );
    for (let i = 0; i < 1000; i++) members.enrol(`m${i}`, i + 1, `shim-${i}`, null);
    const proofs = await members.prove();
    expect(proofs.every(([, proven]) => proven)).toBe(true);
    expect(txns.map((t) => t.success?.length)).toEqual([...Array(31).fill(CONFIRMS_PER_TXN), 1000 - 31 * CONFIRMS_PER_TXN]);
  });
});
