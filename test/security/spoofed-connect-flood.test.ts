/**
 * M_CONNECTs from more spoofed shim addresses than the enroller's default bound on enrollments in progress
 * (found by a review: the flood test's 20 sockets hold at most 20 enrollments, so it never reached the bound).
 * With HMAC-SHA256, the recommended mechanism, an attacker needs no key to send M_CONNECT. The bound holds, the heap
 * stays within SECURITY.md's flood bound, and a real member asking meanwhile is told "busy" with when to ask again
 * (by design, as at any bound: spoofed M_CONNECTs that fill it lock members out for up to pendingTimeoutMs).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, expect, it } from 'vitest';
import { memberAuth } from '../../src/auth/auth.js';
import { Result } from '../../src/cdap/messages.js';
import { decodeCdapMessage, Enroller, encodeCdapMessage, MemoryRib, OpCode, type Shim, type ShimHandler } from '../../src/index.js';
import { ManualClock } from '../enroller/manual-clock.js';
import { connectMsg } from '../support/helpers.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const heap = () => {
  gc();
  return process.memoryUsage().heapUsed;
};

const undo: Array<() => unknown> = [];
afterEach(async () => {
  while (undo.length > 0) await undo.pop()?.();
});

const KEY = 'correct horse battery staple';
/** The enroller's default `maxPendingEnrollments`. */
const DEFAULT_BOUND = 8192;

/** A shim the test delivers to from any address it likes; it keeps what is sent to `real-shim`. */
function spoofableShim() {
  let handler: ShimHandler | undefined;
  const toReal: Uint8Array[] = [];
  const shim: Shim = {
    localAddress: 'bootstrap',
    send: async (to, pdu) => {
      if (to === 'real-shim') toReal.push(pdu);
    },
    onReceive: (h) => {
      handler = h;
      return () => {
        handler = undefined;
      };
    },
    close: async () => undefined,
  };
  return { shim, deliver: (pdu: Uint8Array, from: string) => handler?.(pdu, from), toReal };
}

it('M_CONNECTs from 10,000 spoofed addresses fill the default bound and no more; a real member is told "busy", with when to ask again', async () => {
  const { shim, deliver, toReal } = spoofableShim();
  const enroller = new Enroller({
    shim,
    rib: new MemoryRib(),
    ipcpName: 'bootstrap',
    difName: 'demo.DIF',
    addressPool: { first: 1, last: 100_000 },
    auth: { mechanism: 'hmac-sha256', key: KEY },
    clock: new ManualClock(),
  });
  await enroller.start();
  undo.push(() => enroller.stop());
  const before = heap();

  const attacker = memberAuth({ mechanism: 'hmac-sha256', key: 'not the key' }, 'x', 'demo.DIF');
  for (let i = 0; i < 10_000; i++) {
    const pdu = encodeCdapMessage({ ...connectMsg(1, `bogus-${i}`), authMech: attacker.authMech, authValue: attacker.authValue });
    deliver(pdu, `10.0.${(i >> 8) & 255}.${i & 255}:${7000 + (i >> 16)}`);
  }
  const stats = enroller.stats();
  expect(stats.pending).toBe(DEFAULT_BOUND);
  expect(stats.busy).toBe(10_000 - DEFAULT_BOUND);
  expect(heap() - before).toBeLessThan(64 * 1024 * 1024); // SECURITY.md's flood bound

  const real = memberAuth({ mechanism: 'hmac-sha256', key: KEY }, 'real', 'demo.DIF');
  deliver(encodeCdapMessage({ ...connectMsg(1, 'real'), authMech: real.authMech, authValue: real.authValue }), 'real-shim');
  await Promise.resolve();
  const reply = toReal.length === 0 ? undefined : decodeCdapMessage(toReal[0] as Uint8Array);
  expect(reply).toMatchObject({ opCode: OpCode.M_CONNECT_R, result: Result.BUSY });
  expect(reply?.resultReason).toMatch(/, try again in \d+ ms$/);
});
