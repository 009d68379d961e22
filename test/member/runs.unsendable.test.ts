/**
 * Found by a new user's review (2026-12-07): `config.bootstraps: ['localhost:40102', '127.0.0.1:40102']` over UDP
 * made `enrol()` reject at once with the ShimError of the first entry (a host name: not an address the shim can
 * send to), never trying the second; the monitor's recovery, given the same list, moved on. Now a run that picks
 * its bootstraps moves on from one its shim cannot send to, as from one that does not answer.
 */
import { afterEach, expect, it, vi } from 'vitest';
import { EnrollmentManager, EnrollmentTimeoutError, MemoryNetwork, MemoryRib, type Shim, ShimError } from '../../src/index.js';
import { cleanup, withEnroller } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

/** `shim`, refusing with ShimError to send to any address in `refused` (as UdpShim does with one not of its kind). */
function refusing(shim: Shim, refused: readonly string[]): Shim {
  return {
    localAddress: shim.localAddress,
    send: (to, pdu) => (refused.includes(to) ? Promise.reject(new ShimError(`invalid address "${to}"`)) : shim.send(to, pdu)),
    onReceive: (handler) => shim.onReceive(handler),
    close: () => shim.close(),
  };
}

const config = (bootstraps: string[]) => ({ bootstraps, timeoutMs: 500, retransmitMs: 20, maxRetries: 3, initialBackoffMs: 10 });

it('enrol() moves on from a configured bootstrap its shim cannot send to, and enrols with the next', async () => {
  vi.useFakeTimers();
  const net = new MemoryNetwork({ seed: 3 });
  await withEnroller({}, net, 'bootstrap');
  const shim = refusing(net.attach('m'), ['localhost:1']);
  const mgr = new EnrollmentManager({ shim, rib: new MemoryRib(), ipcpName: 'm', config: config(['localhost:1', 'bootstrap']) });
  const enrolled = mgr.enrol();
  await vi.advanceTimersByTimeAsync(200);
  await expect(enrolled).resolves.toBe('demo.DIF');
  expect(mgr.state).toMatchObject({ type: 'enrolled', bootstrap: 'bootstrap' });
  expect(mgr.bootstraps().find((b) => b.address === 'localhost:1')).toMatchObject({ failures: 1, source: 'config' });
  await mgr.close();
});

it("an explicit bootstrap, or the only one, still ends the run at once with the shim's error", async () => {
  vi.useFakeTimers();
  const net = new MemoryNetwork({ seed: 4 });
  await withEnroller({}, net, 'bootstrap');
  const shim = refusing(net.attach('m'), ['localhost:1']);
  const mgr = new EnrollmentManager({ shim, rib: new MemoryRib(), ipcpName: 'm', config: config(['bootstrap']) });
  await expect(mgr.enrolWithBootstrap('localhost:1')).rejects.toBeInstanceOf(ShimError);
  const alone = new EnrollmentManager({ shim, rib: new MemoryRib(), ipcpName: 'n', config: config(['localhost:1']) });
  await expect(alone.enrol()).rejects.toBeInstanceOf(ShimError);
  await mgr.close();
  await alone.close();
});

it('a shim that can send to none of them ends enrol() after its attempts, saying it could not send', async () => {
  vi.useFakeTimers();
  const net = new MemoryNetwork({ seed: 5 });
  const shim = refusing(net.attach('m'), ['a:1', 'b:1']);
  const mgr = new EnrollmentManager({ shim, rib: new MemoryRib(), ipcpName: 'm', config: config(['a:1', 'b:1']) });
  const enrolled = mgr.enrol().catch((e: unknown) => e);
  await vi.advanceTimersByTimeAsync(1000);
  const err = (await enrolled) as EnrollmentTimeoutError;
  expect(err).toBeInstanceOf(EnrollmentTimeoutError);
  expect(err.attempts).toBe(3);
  expect(err.cause).toBeInstanceOf(ShimError);
  expect(err.message).toMatch(/the last attempt could not send: invalid address/);
  await mgr.close();
});
