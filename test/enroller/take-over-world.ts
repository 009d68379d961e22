/**
 * The scene of the take-over tests: an enroller on a SharedMemoryStore (member leases and holds of 1 s, on a
 * ManualClock) with m enrolled from m-shim, about to enrol again while its old record's lease runs out.
 */
import type { EnrollerOptions } from '../../src/index.js';
import { connectMsg, RawPeer, settle, startMsg, stopReply, withEnroller } from '../support/helpers.js';
import { ManualClock } from './manual-clock.js';
import { SharedMemoryStore } from './shared-memory-store.js';

/** m enrolled (invoke ids 1 and 2) on an enroller with a shared store; `options` change the enroller's. */
export async function takeOverWorld(options: Partial<EnrollerOptions> = {}) {
  const clock = new ManualClock();
  const store = new SharedMemoryStore();
  const { enroller, net } = await withEnroller({ clock, store, leaseMs: 1000, holdMs: 1000, pendingTimeoutMs: 60_000, ...options });
  const peer = new RawPeer(net.attach('m-shim'));
  await peer.send('bootstrap', connectMsg(1, 'm'));
  await settle();
  await peer.send('bootstrap', startMsg(2));
  await settle();
  await peer.send('bootstrap', stopReply(peer));
  await settle();
  const address = enroller.members()[0]?.address as number;
  /**
   * m enrols again from m-shim (invoke ids 3 and 4), asking for its address; its bind waits on the wire until
   * the returned function answers it (nothing: stored; 'taken': refused).
   */
  const again = async (): Promise<(answer?: 'taken') => void> => {
    let answer!: (a?: 'taken') => void;
    store.script.push(new Promise<undefined | 'taken'>((resolve) => (answer = resolve)));
    await peer.send('bootstrap', connectMsg(3, 'm'));
    await settle();
    await peer.send('bootstrap', startMsg(4, address));
    await settle();
    return answer;
  };
  return { clock, store, enroller, net, peer, address, again };
}
