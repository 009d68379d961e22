/**
 * Found by a new user's review (2026-12-07): `config.bootstraps: ['localhost:40102', '127.0.0.1:40102']` over UDP
 * made `enrol()` reject at once with the ShimError of the first entry (a host name: not an address the shim can
 * send to), never trying the second; the monitor's recovery, given the same list, moved on. Now a run that picks
 * its bootstraps moves on from one its shim cannot send to, as from one that does not answer.
 */
import { afterEach, expect, it, vi } from 'vitest';
import { EnrollmentManager, EnrollmentTimeoutError, MemoryNetwork, MemoryRib, type Shim, ShimError, UdpShim } from '../../src/index.js';
import { cleanup, withEnroller } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

/** `shim`, refusing with ShimError to send to any address in `refused` (as UdpShim does with one not of its kind). */
function refusing(shim: Shim, refused: readonly string[]): Shim {
  return {
    localAddress: shim.localAddress,
    send: (to, pdu) =>
      refused.includes(to) ? Promise.reject(new ShimError(`invalid address "${to}"`, { destination: to })) : shim.send(to, pdu),
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

// Found by a review of the change above (2026-12-07): every ShimError was taken for "not this address", a closed
// shim's too, so enrol() on a closed shim with two entries backed off through its attempts and ended in a timeout.
it('a closed shim ends enrol() at once with its ShimError, however many bootstraps are configured', async () => {
  vi.useFakeTimers();
  const net = new MemoryNetwork({ seed: 6 });
  const shim = net.attach('m');
  const mgr = new EnrollmentManager({ shim, rib: new MemoryRib(), ipcpName: 'm', config: config(['a', 'b']) });
  await shim.close();
  const enrolled = mgr.enrol().catch((e: unknown) => e);
  await vi.advanceTimersByTimeAsync(0);
  const err = await enrolled;
  expect(err).toBeInstanceOf(ShimError);
  expect((err as ShimError).destination).toBeUndefined();
  await mgr.close();
});

it('UdpShim names the destination it refuses; a closed one names none', async () => {
  const shim = await UdpShim.bind('127.0.0.1:0');
  await expect(shim.send('localhost:1', Uint8Array.of(1))).rejects.toMatchObject({ destination: 'localhost:1' });
  await expect(shim.send('[::1]:7000', Uint8Array.of(1))).rejects.toMatchObject({ destination: '[::1]:7000' });
  await shim.close();
  await expect(shim.send('127.0.0.1:7000', Uint8Array.of(1))).rejects.toMatchObject({ destination: undefined });
});
