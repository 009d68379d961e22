/**
 * A PDU the shim cannot send, whether its send throws or rejects, is a lost
 * datagram: nothing throws out of the member, no rejection is left
 * unhandled, and what follows is what follows any loss.
 */
import { afterEach, expect, it, vi } from 'vitest';
import { decodeCdapMessage, EnrollmentManager, MemoryRib } from '../../src/index.js';
import { cleanup, failingShim, onCleanup, withEnroller } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

/** A member on the enroller's network whose shim fails (`mode`) the sends `fails` picks; `refused()` counts them. */
async function memberWithFailingShim(mode: 'throws' | 'rejects', fails: (pdu: Uint8Array) => boolean) {
  const { net, enroller } = await withEnroller();
  const { shim, refused } = failingShim(net.attach('m'), mode, fails);
  const config = { heartbeatIntervalSecs: 1, connectionTimeoutSecs: 3 };
  const mgr = new EnrollmentManager({ shim, rib: new MemoryRib(), ipcpName: 'm', config });
  onCleanup(() => mgr.close());
  return { mgr, enroller, refused };
}

it.each(['throws', 'rejects'] as const)(
  'a shim whose send %s once enrolled: the keepalives are lost, and the silence is a loss',
  async (mode) => {
    vi.useFakeTimers();
    let broken = false;
    const { mgr, refused } = await memberWithFailingShim(mode, () => broken);
    await mgr.enrolWithBootstrap('bootstrap');
    mgr.startConnectionMonitoring();
    const lost: string[] = [];
    mgr.on('connection:lost', ({ reason }) => lost.push(reason));
    broken = true;
    await vi.advanceTimersByTimeAsync(3100);
    expect(refused()).toBeGreaterThanOrEqual(2); // the keepalives were tried
    expect(lost).toEqual(['timeout']);
  },
);

it.each(['throws', 'rejects'] as const)('a shim whose send %s for every reply: the enrollment completes all the same', async (mode) => {
  vi.useFakeTimers();
  // Requests go through; every reply fails.
  const { mgr, enroller, refused } = await memberWithFailingShim(mode, (pdu) => decodeCdapMessage(pdu).opCode % 2 === 1);
  const enrolled = mgr.enrolWithBootstrap('bootstrap');
  await vi.advanceTimersByTimeAsync(100);
  await expect(enrolled).resolves.toEqual(expect.any(String));
  expect(refused()).toBeGreaterThanOrEqual(1); // M_STOP_R (and the RIB objects' M_CREATE_R) lost
  await vi.advanceTimersByTimeAsync(1100); // its first keepalive completes it at the enroller
  expect(enroller.members().map((m) => m.name)).toEqual(['m']);
});
