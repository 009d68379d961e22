/**
 * What the tests of races on a real etcd share: a client whose calls can be held on the wire, a second
 * enroller's store that frees what nobody marks, and a member enrolled over HMAC-SHA256 on an enroller.
 */
import { Etcd3, type ITxnRequest, type Lease } from 'etcd3';
import type { Enroller, EnrollerOptions, Shim } from '../../src/index.js';
import { EtcdAddressStore } from '../../src/etcd/index.js';
import { OpCode } from '../../src/index.js';
import type { TxnResponse } from '../../src/etcd/lease.js';
import type { AddressStoreListener } from '../../src/store/address-store.js';
import { ManualClock } from '../enroller/manual-clock.js';
import { etcdEndpoint } from './etcd.js';
import { stopReply, until, withEnroller } from './helpers.js';
import { HmacPeer } from './hmac-peer.js';

/** The key the HMAC tests share. */
export const KEY = 'correct horse battery staple';

/** A listener that hears nothing but the fences, which it records in `fenced`. */
export function quietListener(fenced: boolean[] = []): AddressStoreListener {
  return {
    bound: () => undefined,
    unbound: () => undefined,
    idle: () => undefined,
    enrollers: () => undefined,
    fenced: (f) => void fenced.push(f),
  };
}

/** A hook on a transaction: a promise holds it (before it is sent, or before its answer is returned). */
export type TxnHook = (req: ITxnRequest, res?: TxnResponse) => Promise<unknown> | undefined;

/**
 * A real client whose leases are recorded, whose transactions pass through `hooks.before` (before they are sent)
 * and `hooks.after` (with the answer, before it is returned), and whose lease revocations wait for `gateRevokes`.
 */
export function tappedClient() {
  const client = new Etcd3({ hosts: etcdEndpoint() });
  const leases: Lease[] = [];
  const lease = client.lease.bind(client);
  client.lease = ((ttl: number, opts?: object) => {
    const l = lease(ttl, opts as never);
    leases.push(l);
    return l;
  }) as typeof client.lease;
  const hooks: { before?: TxnHook | undefined; after?: TxnHook | undefined } = {};
  const txn = client.kv.txn.bind(client.kv);
  client.kv.txn = (async (req: ITxnRequest, opts?: object) => {
    await hooks.before?.(req);
    const res = await txn(req, opts as never);
    await hooks.after?.(req, res);
    return res;
  }) as typeof client.kv.txn;
  let revokeGate: Promise<void> | undefined;
  const revoke = client.leaseClient.leaseRevoke.bind(client.leaseClient);
  client.leaseClient.leaseRevoke = ((req: never, opts?: never) =>
    (revokeGate ?? Promise.resolve()).then(() => revoke(req, opts))) as typeof client.leaseClient.leaseRevoke;
  return { client, leases, hooks, gateRevokes: (gate: Promise<void> | undefined) => (revokeGate = gate) };
}

/** An enroller's store under `prefix` on a {@link tappedClient}, open and loaded, its fences recorded; `undo` closes it. */
export async function tappedStore(prefix: string, undo: Array<() => unknown>) {
  const tap = tappedClient();
  undo.push(() => tap.client.close());
  const e1 = new EtcdAddressStore({ client: tap.client, prefix, leaseTtlSecs: 10, callTimeoutMs: 2000 });
  const fenced: boolean[] = [];
  await e1.open({ name: 'e1', shimAddress: 'e1-shim' }, quietListener(fenced));
  undo.push(() => e1.close());
  await e1.load();
  /** How many times e1's fence was lifted (a lease granted anew). */
  const renewals = () => fenced.filter((f) => !f).length;
  /** e1's lease `i` is revoked at etcd and reported lost, as etcd3's keepalive would; resolves once a new one is granted. */
  const lapse = async (i: number) => {
    const l = tap.leases[i] as Lease;
    await tap.client.leaseClient.leaseRevoke({ ID: await l.grant() }).catch(() => undefined);
    const before = renewals();
    l.emit('lost', new Error('lease expired'));
    await until(() => renewals() > before, 2000, `renewal after lapse ${i + 1}`);
  };
  return { tap, e1, fenced, renewals, lapse };
}

/** A {@link tappedStore} (e1) and a second enroller's store under `prefix` (e2, on a client of its own). */
export async function tappedStores(prefix: string, undo: Array<() => unknown>) {
  const one = await tappedStore(prefix, undo);
  return { ...one, e2: await otherEnroller(prefix, undo) };
}

/** A promise and the function that resolves it: what holds a call on the wire until the test lets it go. */
export function gate(): { held: Promise<void>; open: () => void } {
  let open!: () => void;
  const held = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { held, open };
}

/** Whether a transaction puts `key`. */
export const putsKey = (key: string) => (r: ITxnRequest) => (r.success ?? []).some((op) => String(op.request_put?.key) === key);

/** Whether a transaction deletes `key`. */
export const deletesKey = (key: string) => (r: ITxnRequest) => (r.success ?? []).some((op) => String(op.request_delete_range?.key) === key);

/** Whether a transaction is a confirm of `name` (under `prefix`). */
export const isConfirm = (prefix: string, name: string) => (r: ITxnRequest) =>
  (r.compare ?? []).some((c) => c.target === 'Value' && String(c.key) === `${prefix}names/${name}`) &&
  (r.success ?? []).some((op) => String(op.request_put?.key ?? '').startsWith(`${prefix}members/${name}/`));

/** A second enroller's store under `prefix`, open and loaded; `undo` closes it. */
export async function otherEnroller(prefix: string, undo: Array<() => unknown>): Promise<EtcdAddressStore> {
  const e2 = new EtcdAddressStore({ hosts: etcdEndpoint(), prefix, callTimeoutMs: 2000 });
  await e2.open({ name: 'e2', shimAddress: 'e2-shim' }, quietListener());
  undo.push(() => e2.close());
  await e2.load();
  return e2;
}

/**
 * What another enroller does with a name it sees bound to `address` and marked by nobody: it frees it (its hold
 * aside) and gives the address to `x`. Whether it could free it, and whether `x` got the address.
 */
export async function freedElsewhere(e2: EtcdAddressStore, name: string, address: number) {
  await until(() => e2.addressOf(name) === address, 1000, `e2 sees ${name} at ${address}`);
  const freed = await e2.release(name);
  const taken = freed ? await e2.bind({ name: 'x', address }) : false;
  return { freed, taken };
}

/**
 * A started enroller with HMAC-SHA256 on an EtcdAddressStore under `prefix` (through `client`, if given), its member
 * leases on a ManualClock (1 s unless `options` say), on a MemoryNetwork; and the names of the members it tells gone.
 */
export async function hmacEnrollerOnEtcd(prefix: string, options: Partial<EnrollerOptions> = {}, client?: Etcd3) {
  const clock = new ManualClock();
  const store = new EtcdAddressStore({ ...(client === undefined ? { hosts: etcdEndpoint() } : { client }), prefix, callTimeoutMs: 2000 });
  const { enroller, net } = await withEnroller({ auth: { mechanism: 'hmac-sha256', key: KEY }, clock, store, leaseMs: 1000, ...options });
  const gone: string[] = [];
  enroller.on('member:gone', (m) => gone.push(m.name));
  return { enroller, net, store, clock, gone };
}

/** `name` connects from `shim` over HMAC-SHA256 and sends its M_START (invoke ids `firstId` and the next). */
export async function hmacStart(shim: Shim, name: string, firstId: number): Promise<HmacPeer> {
  const peer = new HmacPeer(shim, name, KEY);
  await peer.connect(firstId);
  await until(() => peer.proof !== undefined, 1000, 'M_CONNECT_R');
  await peer.start(firstId + 1);
  return peer;
}

/** `peer`'s enrollment on `enroller` completes: M_STOP answered, `peer` listed. */
export async function hmacComplete(enroller: Enroller, peer: HmacPeer): Promise<void> {
  await until(() => peer.ofType(OpCode.M_STOP).length > 0, 2000, 'M_STOP');
  await peer.send(stopReply(peer));
  await until(() => enroller.members().some((m) => m.name === peer.name), 1000, `${peer.name} enrolled`);
}

/** Reads `key` with a client of its own (the stores keep theirs). */
export async function readKey(key: string): Promise<string | null> {
  const client = new Etcd3({ hosts: etcdEndpoint() });
  try {
    return await client.get(key).string();
  } finally {
    client.close();
  }
}
