import { afterEach, expect, it, vi } from 'vitest';
import { EnrollmentManager, MemoryRib } from '../../src/index.js';
import { cleanup, withEnroller } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

it('enroller under churn: 2,000 members come and go (release or silence), maps return to empty', async () => {
  vi.useFakeTimers();
  const { net, enroller } = await withEnroller({ leaseMs: 2000, holdMs: 5000, addressPool: { first: 1, last: 3000 } });
  for (let round = 0; round < 4; round++) {
    const ms = Array.from(
      { length: 500 },
      (_, i) =>
        new EnrollmentManager({
          shim: net.attach(`r${round}-${i}`),
          rib: new MemoryRib(),
          ipcpName: `n${round}-${i}`,
          config: { heartbeatIntervalSecs: 0 },
        }),
    );
    const p = Promise.all(ms.map((m) => m.enrolWithBootstrap('bootstrap')));
    await vi.advanceTimersByTimeAsync(100);
    await p;
    await Promise.all(ms.filter((_, i) => i % 2 === 0).map((m) => m.close())); // half leave, half go silent
    for (const m of ms.filter((_, i) => i % 2 === 1)) {
      m.removeAllListeners();
    }
    await vi.advanceTimersByTimeAsync(10);
  }
  await vi.advanceTimersByTimeAsync(20_000);
  expect(enroller.members().length).toBe(0);
});
