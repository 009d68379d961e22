import { mock } from 'node:test';
import { afterEach, expect, it } from 'vitest';
import { OpCode } from '../../src/index.js';
import { cleanup, connectMsg, RawPeer, settle, withEnroller } from '../support/helpers.js';

afterEach(async () => {
  mock.timers.reset();
  await cleanup();
});

// README "Driving time": node:test mock timers with `clock: { now: () => Date.now() }`, moved by
// mock.timers.tick(ms), which sets the time to the end before it runs the timers due. A review showed that a
// version of the sweep that left late sweeps' time out of a member's silence took such a jump for the
// enroller's own stall and kept a silent member's enrollment.
it('an enroller driven by node:test mock timers forgets an enrollment whose member went silent, after one jump of the timeout', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: 0 });
  const { net, enroller } = await withEnroller({ pendingTimeoutMs: 30_000, clock: { now: () => Date.now() } });
  const peer = new RawPeer(net.attach('m'));
  await peer.send('bootstrap', connectMsg(1, 'm'));
  for (let i = 0; i < 20 && peer.ofType(OpCode.M_CONNECT_R).length === 0; i++) {
    mock.timers.tick(1);
    await settle();
  }
  expect(enroller.pendingEnrollments).toBe(1);
  mock.timers.tick(29_000);
  await settle();
  expect(enroller.pendingEnrollments).toBe(1);
  mock.timers.tick(2_000); // silent for 31 s
  await settle();
  expect(enroller.pendingEnrollments).toBe(0);
});
