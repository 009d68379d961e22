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
import { cleanup, member, until, withEnroller } from '../support/helpers.js';
import { SharedMemoryStore } from './shared-memory-store.js';

afterEach(cleanup);

const FAST = {
  bootstraps: ['bootstrap'],
  timeoutMs: 2000,
  retransmitMs: 20,
  maxRetransmitMs: 40,
  heartbeatIntervalSecs: 0.05,
  connectionTimeoutSecs: 0.3,
};

it('a member whose binding another enroller moved is let go here, and enrols again with the address the store holds', async () => {
  const net = new MemoryNetwork({ seed: 11 });
  const store = new SharedMemoryStore();
  const { enroller } = await withEnroller({ store, retransmitMs: 20 }, net);
  const { mgr } = member(net, 'm', FAST);
  await mgr.enrol();
  mgr.startConnectionMonitoring();
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
  const { mgr } = member(net, 'm', FAST);
  await mgr.enrol(); // it answered M_STOP: enrolled, as far as it knows
  mgr.startConnectionMonitoring(); // the M_RELEASE that follows sends it to enrol again
  untap();
  await until(() => mgr.state.type === 'enrolled' && mgr.address === moved, 5000, 'm enrolled at the moved address');
  expect(enroller.members().map((m) => [m.name, m.address])).toEqual([['m', moved]]);
});
