/**
 * A member that asks again (a new M_CONNECT from the same shim address, as
 * a member whose attempt timed out does) keeps the address bound for its
 * earlier enrollment: the store is not asked to release it and bind it
 * again, two transactions per retry that an overloaded enroller's members
 * used to add to its load (the scale benchmark, docs/SCALING.md).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type AddressBinding,
  type CdapMessage,
  type EnrollerOptions,
  decodeEnrollmentInfo,
  ENROLLMENT_OBJECT,
  MemoryAddressStore,
  MemoryNetwork,
  OpCode,
} from '../../src/index.js';
import type { AddressStoreListener } from '../../src/store/address-store.js';
import { cleanup, connectMsg, member, RawPeer, settle, startedPeer, startMsg, withEnroller } from '../support/helpers.js';
import { SharedMemoryStore } from './shared-memory-store.js';

/** A store of one enroller that records its binds and releases; a bind waits for `gate` when one is set. */
class CountingStore extends MemoryAddressStore {
  readonly calls: string[] = [];
  gate: Promise<void> | undefined;
  onBind: (() => void) | undefined;
  override async bind(b: AddressBinding): Promise<void> {
    this.calls.push(`bind ${b.name}=${b.address}`);
    this.onBind?.();
    await this.gate;
    super.bind(b);
  }
  override release(name: string): void {
    this.calls.push(`release ${name}`);
    super.release(name);
  }
}

/** The result and address of the last M_START_R `peer` received. */
function lastStartReply(peer: RawPeer) {
  const reply = peer.ofType(OpCode.M_START_R).at(-1);
  return { result: reply?.result ?? 0, address: decodeEnrollmentInfo(reply?.objValue?.byteval ?? new Uint8Array()).address };
}

/** Completes `peer`'s enrollment: the M_STOP_R of its last M_STOP. */
async function complete(peer: RawPeer): Promise<void> {
  const stop = peer.ofType(OpCode.M_STOP).at(-1);
  const reply: CdapMessage = { opCode: OpCode.M_STOP_R, invokeId: stop?.invokeId, ...ENROLLMENT_OBJECT, result: 0 };
  await peer.send('bootstrap', reply);
  await settle();
}

/** A raw member `name` at shim address `from` that has connected (invoke id 1) and started (2): its address is bound. */
async function bound(store: CountingStore | SharedMemoryStore, name = 'm', from = 'm-shim', options: Partial<EnrollerOptions> = {}) {
  const env = await withEnroller({ store, ...options });
  const peer = await startedPeer(env.net, name, new RawPeer(env.net.attach(from)));
  const first = lastStartReply(peer);
  expect(first.result).toBe(0);
  return { ...env, peer, first };
}

/**
 * A shared store whose first bind waits until `refuse()`, then is refused (another enroller bound the address
 * first, and the store's listener heard of it); `m` at m-shim connected and started meanwhile: its bind waits.
 */
async function bindInFlight() {
  const store = new SharedMemoryStore();
  let refuse = (): void => undefined;
  store.script.push(
    new Promise<'taken'>((resolve) => {
      refuse = () => resolve('taken');
    }),
  );
  const { enroller, net } = await withEnroller({ store });
  const peer = await startedPeer(net, 'm');
  return { store, enroller, peer, refuse };
}

afterEach(cleanup);

describe('AddressAssigner: a member asking again keeps its binding', () => {
  it.each([
    ['a store of one enroller', () => new CountingStore()],
    ['a shared store', () => new SharedMemoryStore()],
  ])('%s: asked again after its address was bound, the member gets the same address, bound once and never released', async (_, make) => {
    const store = make();
    const { enroller, peer, first } = await bound(store);
    await peer.send('bootstrap', connectMsg(3, 'm'));
    await settle();
    await peer.send('bootstrap', startMsg(4));
    await settle();
    expect(lastStartReply(peer)).toEqual(first);
    expect(store.calls.filter((c) => c.startsWith('bind') || c.startsWith('release'))).toEqual([
      store instanceof CountingStore ? `bind m=${first.address}` : 'bind m',
    ]);
    await complete(peer);
    expect(enroller.members()).toMatchObject([{ name: 'm', address: first.address, shimAddress: 'm-shim' }]);
  });

  it('asked again while the bind is still in the store, the member gets the address that bind stores, and it is stored once', async () => {
    const store = new CountingStore();
    let open = (): void => undefined;
    store.gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const { enroller, net } = await withEnroller({ store });
    const peer = new RawPeer(net.attach('m-shim'));
    await peer.send('bootstrap', connectMsg(1, 'm'));
    await settle();
    await peer.send('bootstrap', startMsg(2));
    await settle();
    expect(peer.ofType(OpCode.M_START_R)).toEqual([]); // the bind waits
    await peer.send('bootstrap', connectMsg(3, 'm'));
    await settle();
    open();
    await settle();
    expect(peer.ofType(OpCode.M_START_R)).toEqual([]); // the replaced enrollment's M_START is not answered
    await peer.send('bootstrap', startMsg(4));
    await settle();
    expect(lastStartReply(peer)).toEqual({ result: 0, address: 1002 });
    expect(store.calls).toEqual(['bind m=1002']);
    await complete(peer);
    expect(enroller.members()).toMatchObject([{ name: 'm', address: 1002 }]);
  });

  it('with a shared store, replaced by another name while a bind the store then refuses is in flight: nothing bound, so nothing released', async () => {
    const { store, peer, refuse } = await bindInFlight();
    await peer.send('bootstrap', connectMsg(3, 'other')); // another name from that address, while the bind of m waits
    await settle();
    refuse();
    await settle();
    expect(store.calls).toEqual(['bind m']); // m holds nothing here: no release of what another enroller bound
  });

  it('with a shared store, asked again while a bind the store then refuses is in flight: nothing is taken over, the member gets another address', async () => {
    const { store, enroller, peer, refuse } = await bindInFlight();
    await peer.send('bootstrap', connectMsg(3, 'm')); // asked again while the bind of 1002 waits
    await settle();
    refuse(); // another enroller bound 1002 first
    await settle();
    await peer.send('bootstrap', startMsg(4));
    await settle();
    const reply = lastStartReply(peer);
    expect(reply.result).toBe(0);
    expect(reply.address).not.toBe(1002);
    expect(store.calls.filter((c) => c.startsWith('release'))).toEqual([]); // the other enroller's binding is not touched
    await complete(peer);
    expect(enroller.members()).toMatchObject([{ name: 'm', address: reply.address }]);
  });

  it('with a shared store, a name bound already keeps its address over the one it asks for (another enroller may serve it with it)', async () => {
    const store = new SharedMemoryStore();
    store.bind({ name: 'm', address: 1005 });
    const { net } = await withEnroller({ store });
    const peer = new RawPeer(net.attach('m-shim'));
    await peer.send('bootstrap', connectMsg(1, 'm'));
    await settle();
    await peer.send('bootstrap', startMsg(2, 1010)); // free, in the pool
    await settle();
    expect(lastStartReply(peer)).toEqual({ result: 0, address: 1005 });
  });

  it('another name from the same shim address does not take the binding over: the first name, told its address, is held, not kept', async () => {
    const store = new CountingStore();
    const { enroller, peer, first } = await bound(store, 'a');
    await peer.send('bootstrap', connectMsg(3, 'b'));
    await settle();
    await peer.send('bootstrap', startMsg(4));
    await settle();
    const second = lastStartReply(peer);
    expect(second.result).toBe(0);
    expect(second.address).not.toBe(first.address);
    // (M_START_R and M_STOP told `a` its address: held for holdMs, as a departed member's)
    expect(store.calls).toEqual([`bind a=${first.address}`, `bind b=${second.address}`]);
    await complete(peer);
    expect(enroller.members()).toMatchObject([{ name: 'b' }]);
  });

  it('a fence between the two enrollments voids the binding taken over: it is stored again', async () => {
    const store = new SharedMemoryStore();
    const { peer, first } = await bound(store);
    await peer.send('bootstrap', connectMsg(3, 'm'));
    await settle();
    store.vouch = false; // the lease is in doubt: the M_START is refused, the enroller fenced
    await peer.send('bootstrap', startMsg(4));
    await settle();
    expect(lastStartReply(peer).result).toBe(-4);
    store.vouch = true;
    (store.listener as AddressStoreListener).fenced?.(false); // a new lease: no member to prove, the fence lifts
    await settle();
    await peer.send('bootstrap', startMsg(5));
    await settle();
    expect(lastStartReply(peer)).toEqual(first);
    expect(store.callsOf('bind')).toEqual(['bind m', 'bind m']);
    expect(store.callsOf('release')).toEqual([]);
  });

  it('a bind that fails after a fence leaves nothing to keep: the next M_START stores the address again before anyone is told', async () => {
    const store = new SharedMemoryStore();
    const { peer, first } = await bound(store);
    await peer.send('bootstrap', connectMsg(3, 'm'));
    await settle();
    store.vouch = false;
    await peer.send('bootstrap', startMsg(4));
    await settle();
    store.vouch = true;
    (store.listener as AddressStoreListener).fenced?.(false);
    await settle();
    const bind = vi.spyOn(store, 'bind').mockImplementationOnce(() => {
      throw new Error('etcd: deadline exceeded');
    });
    await peer.send('bootstrap', startMsg(5, first.address));
    await settle();
    expect(lastStartReply(peer).result).toBe(-4);
    await peer.send('bootstrap', startMsg(6, first.address));
    await settle();
    expect(lastStartReply(peer)).toEqual(first);
    expect(bind).toHaveBeenCalledTimes(2); // the failed one, and the one that stored it
  });

  it("a binding the shared store's news took away since is not kept: it is stored again", async () => {
    const store = new SharedMemoryStore();
    const { peer, first } = await bound(store, 'm', 'm-shim', { random: () => 0.5 }); // the pool probes from the same point each time
    await peer.send('bootstrap', connectMsg(3, 'm'));
    await settle();
    (store.listener as AddressStoreListener).unbound('m'); // another enroller let it go meanwhile
    await peer.send('bootstrap', startMsg(4));
    await settle();
    expect(lastStartReply(peer)).toEqual(first); // the same address proposed again: stored again all the same
    expect(store.callsOf('bind')).toEqual(['bind m', 'bind m']);
  });

  it('with HMAC-SHA256: the member asking again after its answers were lost proves itself, then keeps the binding (bound once)', async () => {
    vi.useFakeTimers();
    try {
      const store = new CountingStore();
      const auth = { mechanism: 'hmac-sha256', key: 'correct horse battery staple' } as const;
      const net = new MemoryNetwork({ seed: 4 });
      const { enroller } = await withEnroller({ store, auth }, net);
      let cut = false;
      store.onBind = () => {
        if (cut) return;
        cut = true; // the M_START_R of this bind, and everything after it for 600 ms, is lost
        net.partition('bootstrap', 'm-shim');
        setTimeout(() => net.heal('bootstrap', 'm-shim'), 600);
      };
      const { mgr } = member(
        net,
        'm-shim',
        { timeoutMs: 400, maxRetries: 3, initialBackoffMs: 300 },
        { ipcpName: 'm', auth, difName: 'demo.DIF' },
      );
      const done = mgr.enrolWithBootstrap('bootstrap');
      await vi.advanceTimersByTimeAsync(5000);
      await done;
      expect(store.calls).toEqual(['bind m=1002']);
      expect(enroller.members()).toMatchObject([{ name: 'm', address: 1002, shimAddress: 'm-shim' }]);
    } finally {
      vi.useRealTimers();
    }
  });
});
