/**
 * A shared store that moves a member's binding (another enroller bound the
 * name to another address) takes the member's address from it: found by the
 * 20,000-member scale run, where a member kept being answered as enrolled at
 * 469982 for minutes while etcd bound its name to 770230 and held 469982 for
 * nobody. The member is let go, and enrols again with the store's address;
 * an enrollment that the move overtakes between M_START_R and M_STOP_R does
 * not complete on the old address.
 */
import { afterEach, expect, it } from 'vitest';
import { decodeCdapMessage } from '../../src/cdap/codec.js';
import { OpCode } from '../../src/cdap/types.js';
import { MemoryNetwork } from '../../src/index.js';
import { TICK_MS } from '../../src/util/ticker.js';
import { cleanup, member, QUICK_MONITORED, until, withEnroller } from '../support/helpers.js';
import { deferred } from '../support/scripted-etcd.js';
import { bound, HOLD_MS, ledgerOf } from './ledger-world.js';
import { SharedMemoryStore } from './shared-memory-store.js';

afterEach(cleanup);

/** An enroller on a SharedMemoryStore, and member m enrolled with it and monitoring its connection. */
async function monitoredMember(seed: number) {
  const net = new MemoryNetwork({ seed });
  const store = new SharedMemoryStore();
  const { enroller } = await withEnroller({ store, retransmitMs: 20 }, net);
  const { mgr } = member(net, 'm', QUICK_MONITORED);
  await mgr.enrol();
  mgr.startConnectionMonitoring();
  return { store, enroller, mgr };
}

it('a member whose binding another enroller moved is let go here, and enrols again with the address the store holds', async () => {
  const { store, enroller, mgr } = await monitoredMember(11);
  const before = mgr.address as number;
  const moved = before === 1500 ? 1501 : 1500;
  store.listener?.bound({ name: 'm', address: moved }); // what the watch shows of another enroller's bind
  expect(enroller.members().map((m) => m.name)).toEqual([]);
  await until(() => mgr.state.type === 'enrolled' && mgr.address === moved, 3000, 'm enrolled again at the moved address');
  expect(enroller.members().map((m) => [m.name, m.address])).toEqual([['m', moved]]);
});

it('an enrollment overtaken by such a move between M_START_R and M_STOP_R does not complete on the old address', async () => {
  const net = new MemoryNetwork({ seed: 12 });
  const store = new SharedMemoryStore();
  const { enroller } = await withEnroller({ store, retransmitMs: 20 }, net);
  let moved: number | undefined;
  const untap = net.tap((packet) => {
    if (moved !== undefined || packet.to !== 'm') return;
    const msg = decodeCdapMessage(packet.pdu);
    if (msg.opCode !== OpCode.M_STOP) return;
    const held = enroller.members().length; // (none yet: the enrollment is in progress)
    moved = 1998 - held;
    store.listener?.bound({ name: 'm', address: moved }); // another enroller moved the name before the member answers
  });
  const { mgr } = member(net, 'm', QUICK_MONITORED);
  await mgr.enrol(); // it answered M_STOP: enrolled, as far as it knows
  mgr.startConnectionMonitoring(); // the M_RELEASE that follows sends it to enrol again
  untap();
  await until(() => mgr.state.type === 'enrolled' && mgr.address === moved, 5000, 'm enrolled at the moved address');
  expect(enroller.members().map((m) => [m.name, m.address])).toEqual([['m', moved]]);
});

it('a member whose binding the store deleted (released by another enroller) is let go here, and enrols again', async () => {
  const { store, enroller, mgr } = await monitoredMember(13);
  const enrollments = store.callsOf('bind').length;
  store.listener?.unbound('m'); // what the watch shows of another enroller's release
  expect(enroller.members()).toEqual([]);
  await until(() => store.callsOf('bind').length > enrollments && mgr.state.type === 'enrolled', 3000, 'm enrolled again');
  expect(enroller.members().map((m) => [m.name, m.address])).toEqual([['m', mgr.address]]);
});

it('a shared store that released a name while it came back here leaves no address in the pool for it, and lets the member go', async () => {
  const release = deferred<boolean>();
  const store = new (class extends SharedMemoryStore {
    override release(name: string): boolean {
      return release.promise.then(() => super.release(name)) as unknown as boolean; // answered when the test says
    }
  })();
  const rebound: Array<[string, number | undefined]> = [];
  let served = false;
  const { ledger, clock } = ledgerOf(store, { serves: () => served, rebound: (n, a) => rebound.push([n, a]) });
  await ledger.open({ name: 'e', shimAddress: 'me' });
  await bound(ledger, 'n');
  ledger.hold('n');
  clock.advance(HOLD_MS + TICK_MS); // the hold ends: the release is sent
  served = true; // ... and the name enrols here again before etcd answers
  release.resolve(true);
  await new Promise((resolve) => setImmediate(resolve));
  expect(ledger.addressOf('n')).toBeUndefined(); // gone from the store for everyone: not kept here
  expect(rebound).toEqual([['n', undefined]]);
});

it('a bind that committed but whose answer was lost keeps its address in the pool once the store has seen it, so a later bind does not move the name', async () => {
  class LostAnswers extends SharedMemoryStore {
    addressOf(name: string): number | undefined {
      return this.load().find((b) => b.name === name)?.address;
    }
    override bind(b: { name: string; address: number }): boolean {
      super.bind(b); // committed (and seen, as the watch shows it) ...
      throw new Error('etcd: deadline exceeded'); // ... but the answer never came
    }
  }
  const { ledger } = ledgerOf(new LostAnswers());
  await ledger.open({ name: 'e', shimAddress: 'me' });
  const assignment = ledger.assign('n', 0);
  if (!assignment.ok) throw new Error(assignment.reason);
  expect(() => ledger.bind({ name: 'n', address: assignment.address })).toThrow(/deadline/);
  ledger.undo({ name: 'n', address: assignment.address }, undefined);
  expect(ledger.addressOf('n')).toBe(assignment.address); // (before: forgotten, and the next enrollment moved the name to a new address)
  expect(ledger.assign('n', 0)).toEqual({ ok: true, address: assignment.address });
});

it('a member whose address the store gives to another name (the pool learns it first) is refused at its next keepalive, and enrols again elsewhere in the pool', async () => {
  const { store, enroller, mgr } = await monitoredMember(14);
  const before = mgr.address as number;
  store.listener?.bound({ name: 'someone-else', address: before }); // e.g. a failed bind's reads, before the watch shows m's move
  await until(() => mgr.state.type === 'enrolled' && mgr.address !== before, 3000, 'm enrolled again at another address');
  expect(enroller.members().map((m) => m.name)).toEqual(['m']);
});
