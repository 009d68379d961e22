import { afterEach, expect, it, vi } from 'vitest';
import { decodeCdapMessage, EnrollmentManager, EnrollmentRejectedError, MemoryRib, OpCode, type Shim } from '../../src/index.js';
import { cleanup, member, onCleanup, withEnroller } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

/** Loses the member's next `n` M_STOP_R datagrams once `armed`. */
function lossy(shim: Shim) {
  const ctl = { drop: 0 };
  const wrapped: Shim = {
    localAddress: shim.localAddress,
    onReceive: (h) => shim.onReceive(h),
    close: () => shim.close(),
    send: async (to, pdu) => {
      if (ctl.drop > 0 && decodeCdapMessage(pdu).opCode === OpCode.M_STOP_R) {
        ctl.drop--;
        return;
      }
      return shim.send(to, pdu);
    },
  };
  return { shim: wrapped, ctl };
}

it('a member re-enrolling as the hold of its address ends keeps the address: a newcomer finds the pool full', async () => {
  vi.useFakeTimers();
  const { net, enroller } = await withEnroller({ leaseMs: 1000, holdMs: 3000, addressPool: { first: 1, last: 2 } });
  const q = lossy(net.attach('quiet'));
  const quiet = new EnrollmentManager({ shim: q.shim, rib: new MemoryRib(), ipcpName: 'quiet', config: { heartbeatIntervalSecs: 0 } });
  onCleanup(() => quiet.close());
  const chatty = member(net, 'chatty', { heartbeatIntervalSecs: 0.3, connectionTimeoutSecs: 1 }).mgr;
  await quiet.enrolWithBootstrap('bootstrap');
  await chatty.enrolWithBootstrap('bootstrap');
  const gone: number[] = [];
  enroller.on('member:gone', () => gone.push(performance.now()));
  await vi.advanceTimersByTimeAsync(1100); // quiet is gone; its address 1 is held for 3 s
  expect(gone).toHaveLength(1);
  await vi.advanceTimersByTimeAsync(gone[0]! + 3000 - 100 - performance.now()); // 100 ms before the hold ends
  q.ctl.drop = 3; // its M_STOP_R is lost a few times: the enroller's M_STOP repeats at 250, 500, 1000 ms
  const back = quiet.reEnroll();
  await vi.advanceTimersByTimeAsync(300); // the hold has expired meanwhile
  const thief = member(net, 'thief', { heartbeatIntervalSecs: 0.3, connectionTimeoutSecs: 1 }).mgr;
  // Two addresses, both taken (quiet's 1, held then reclaimed; chatty's 2): the newcomer can only get 1 if the
  // end of the hold let it go while quiet was taking it back.
  const t = thief.enrolWithBootstrap('bootstrap').catch((e: unknown) => e);
  await vi.advanceTimersByTimeAsync(1500);
  await back;
  expect(quiet.address).toBe(1);
  expect(chatty.address).toBe(2);
  const refused = await t;
  expect(refused).toBeInstanceOf(EnrollmentRejectedError);
  expect((refused as EnrollmentRejectedError).reason).toMatch(/exhausted/);
  expect(
    enroller
      .members()
      .map((m) => [m.name, m.address])
      .sort(),
  ).toEqual([
    ['chatty', 2],
    ['quiet', 1],
  ]);
});
