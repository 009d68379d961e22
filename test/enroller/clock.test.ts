/** The enroller on an injected clock and randomness: its time moves only when the test moves it. */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryNetwork, MemoryRib, OpCode } from '../../src/index.js';
import { Enroller } from '../../src/enroller/enroller.js';
import { TICK_MS } from '../../src/util/ticker.js';
import { cleanup, connectMsg, onCleanup, RawPeer, settle, startMsg } from '../support/helpers.js';
import { ManualClock } from './manual-clock.js';
import { SharedMemoryStore } from './shared-memory-store.js';

afterEach(cleanup);

async function enrollerOn(clock: ManualClock, extra: Partial<ConstructorParameters<typeof Enroller>[0]> = {}) {
  const net = new MemoryNetwork({ seed: 3 });
  onCleanup(() => net.close());
  const enroller = new Enroller({
    shim: net.attach('bootstrap'),
    rib: new MemoryRib(),
    ipcpName: 'bootstrap',
    difName: 'demo.DIF',
    addressPool: { first: 1, last: 100 },
    leaseMs: 500,
    holdMs: 300,
    retransmitMs: 50,
    clock,
    ...extra,
  });
  await enroller.start();
  onCleanup(() => enroller.stop());
  const peer = new RawPeer(net.attach('m'));
  return { enroller, peer };
}

/** Connects and starts `peer` as member "m"; returns the M_STOP's invoke id. */
async function startEnrolling(peer: RawPeer): Promise<number> {
  await peer.send('bootstrap', connectMsg(1, 'm'));
  await settle();
  await peer.send('bootstrap', startMsg(2));
  await settle();
  const stop = peer.ofType(OpCode.M_STOP)[0];
  if (stop?.invokeId === undefined) throw new Error('no M_STOP');
  return stop.invokeId;
}

describe('Enroller: an injected clock', () => {
  it('a member whose lease runs out on the injected clock is gone, and its address freed after the hold, in the clock’s time only', async () => {
    const clock = new ManualClock();
    const { enroller, peer } = await enrollerOn(clock);
    const events: string[] = [];
    enroller.on('member:gone', (m) => events.push(`gone ${m.name}`));
    enroller.on('address:released', (b) => events.push(`released ${b.name}=${b.address}`));
    const stopId = await startEnrolling(peer);
    await peer.send('bootstrap', { opCode: OpCode.M_STOP_R, invokeId: stopId, result: 0 });
    await settle();
    expect(enroller.members().map((m) => m.name)).toEqual(['m']);
    await new Promise((resolve) => setTimeout(resolve, 30)); // real time passing changes nothing
    clock.advance(500 - 2 * TICK_MS);
    expect(events).toEqual([]);
    clock.advance(4 * TICK_MS);
    expect(events).toEqual(['gone m']);
    expect(enroller.members()).toEqual([]);
    clock.advance(300 + 2 * TICK_MS);
    expect(events).toEqual(['gone m', 'released m=1']);
  });

  it('M_STOP goes again on the injected clock while its M_STOP_R is missing', async () => {
    const clock = new ManualClock();
    const { peer } = await enrollerOn(clock);
    await startEnrolling(peer);
    expect(peer.ofType(OpCode.M_STOP)).toHaveLength(1);
    clock.advance(49);
    await settle();
    expect(peer.ofType(OpCode.M_STOP)).toHaveLength(1);
    clock.advance(1);
    await settle();
    expect(peer.ofType(OpCode.M_STOP)).toHaveLength(2);
  });

  it('with a shared store, the injected randomness picks where the pool is probed for a free address', async () => {
    const { enroller, peer } = await enrollerOn(new ManualClock(), {
      store: new SharedMemoryStore(),
      random: () => 0.25,
      advertisedAddress: 'bootstrap',
    });
    const stopId = await startEnrolling(peer);
    await peer.send('bootstrap', { opCode: OpCode.M_STOP_R, invokeId: stopId, result: 0 });
    await settle();
    expect(enroller.members().map((m) => m.address)).toEqual([26]); // 1 + floor(0.25 * 100)
  });
});
