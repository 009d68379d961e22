/**
 * A first enrollment whose attempt timed out (or was answered "unavailable")
 * after its enroller accepted the M_CONNECT (alive, but slow: its store, its
 * queue) tries that enroller again, once, before moving on: there the next M_CONNECT from the same shim
 * address takes over the address bound (or being bound) for it, where moving
 * on would leave that work behind and bind another address elsewhere.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AuthOptions } from '../../src/auth/auth.js';
import { type EnrollmentManager, MemoryNetwork } from '../../src/index.js';
import { GatedStore } from '../enroller/gated-store.js';
import type { SrvRecord } from '../../src/member/srv.js';
import { scriptedResolver } from '../support/dns.js';
import { cleanup, member, withEnroller } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

const CONFIG = { timeoutMs: 300, retransmitMs: 50, maxRetransmitMs: 100, initialBackoffMs: 100, maxRetries: 3, bootstraps: ['e1', 'e2'] };

/** The bootstrap of each attempt `mgr` starts, in order. */
function attemptsOf(mgr: EnrollmentManager): string[] {
  const attempts: string[] = [];
  mgr.on('state:change', (state) => {
    if (state.type === 'enrolling') attempts.push(state.bootstrap);
  });
  return attempts;
}

/**
 * Enrollers e1 (on `store`) and e2 (in memory) on one network, and a member "m" that knows both, e1 first (`config`
 * over {@link CONFIG}; `auth`, when given, that of all three).
 */
async function world(store: GatedStore, config: Partial<typeof CONFIG> = {}, auth?: AuthOptions) {
  vi.useFakeTimers();
  const net = new MemoryNetwork({ seed: 3 });
  const e1 = await withEnroller({ store, pendingTimeoutMs: 60_000, ...(auth && { auth }) }, net, 'e1');
  const e2 = await withEnroller(auth ? { auth } : {}, net, 'e2');
  const { mgr } = member(net, 'm', { ...CONFIG, ...config }, auth ? { auth, difName: 'demo.DIF' } : {});
  const attempts = attemptsOf(mgr);
  return { e1: e1.enroller, e2: e2.enroller, mgr, attempts, net };
}

const binds = (store: GatedStore) => store.calls.filter((c) => c.startsWith('bind'));

describe('a first enrollment at a slow enroller', () => {
  it('times out while e1 binds, tries e1 again and is enrolled there with the address bound in the first attempt, one bind in all', async () => {
    const store = new GatedStore();
    const gate = store.gate();
    const { e1, e2, mgr, attempts } = await world(store);
    const enrolled = mgr.enrol();
    await vi.advanceTimersByTimeAsync(300 + 50); // attempt 1 timed out; the member waits initialBackoffMs
    expect(attempts).toEqual(['e1']);
    gate.ok(); // the bind completes late: e1 answers the member's M_START, which no attempt awaits any more
    await vi.advanceTimersByTimeAsync(50);
    await enrolled;
    expect(attempts).toEqual(['e1', 'e1']);
    expect(mgr.state).toMatchObject({ type: 'enrolled', bootstrap: 'e1', address: 1002 });
    expect(binds(store)).toEqual(['bind m 1002']);
    expect(e1.members().map((m) => [m.name, m.address])).toEqual([['m', 1002]]);
    expect(e2.stats().received).toBe(0);
  });

  it('tried again while the bind is still in flight: enrolled at e1 with the address that bind is storing', async () => {
    const store = new GatedStore();
    const gate = store.gate();
    const { e1, e2, mgr, attempts } = await world(store);
    const enrolled = mgr.enrol();
    await vi.advanceTimersByTimeAsync(300 + 100 + 50); // attempt 2 has sent its M_START; the first bind is still held
    expect(attempts).toEqual(['e1', 'e1']);
    gate.ok();
    await enrolled;
    expect(mgr.state).toMatchObject({ type: 'enrolled', bootstrap: 'e1', address: 1002 });
    // (the second M_START binds the name again, to the same address: the first bind had not completed when it came)
    expect(binds(store)).toEqual(['bind m 1002', 'bind m 1002']);
    expect(e1.members().map((m) => [m.name, m.address])).toEqual([['m', 1002]]);
    expect(e2.stats().received).toBe(0);
  });

  it('is not held there: an enroller that accepts and never completes gets two attempts, then the member moves on', async () => {
    const store = new GatedStore();
    const gates = [store.gate(), store.gate()]; // held until the test ends
    const { e2, mgr, attempts } = await world(store);
    const enrolled = mgr.enrol();
    await vi.advanceTimersByTimeAsync(5_000);
    await enrolled;
    expect(attempts).toEqual(['e1', 'e1', 'e2']);
    expect(mgr.state).toMatchObject({ type: 'enrolled', bootstrap: 'e2' });
    expect(e2.members().map((m) => m.name)).toEqual(['m']);
    for (const gate of gates) gate.fail();
  });

  it('told "unavailable" at M_START (the store failed for now), tries e1 again and is enrolled there; told it twice, moves on', async () => {
    const once = new GatedStore();
    once.gate().fail();
    const first = await world(once);
    const enrolled = first.mgr.enrol();
    await vi.advanceTimersByTimeAsync(1_000);
    await enrolled;
    expect(first.attempts).toEqual(['e1', 'e1']);
    expect(first.mgr.state).toMatchObject({ type: 'enrolled', bootstrap: 'e1' });
    await cleanup();

    const twice = new GatedStore();
    twice.gate().fail();
    twice.gate().fail();
    const second = await world(twice);
    const moved = second.mgr.enrol();
    await vi.advanceTimersByTimeAsync(2_000);
    await moved;
    expect(second.attempts).toEqual(['e1', 'e1', 'e2']);
    expect(second.mgr.state).toMatchObject({ type: 'enrolled', bootstrap: 'e2' });
  });

  it('moves on at once from an enroller that never answered (not slow: maybe gone)', async () => {
    const { mgr, attempts, net } = await world(new GatedStore());
    net.partition('m', 'e1');
    const enrolled = mgr.enrol();
    await vi.advanceTimersByTimeAsync(5_000);
    await enrolled;
    expect(attempts).toEqual(['e1', 'e2']);
    expect(mgr.state).toMatchObject({ type: 'enrolled', bootstrap: 'e2' });
  });

  it('going back costs none of maxRetries, and the first try counts as the bootstrap failure: with maxRetries 1 the next enrol() goes elsewhere', async () => {
    const store = new GatedStore();
    const gates = [store.gate(), store.gate()];
    const { mgr, attempts } = await world(store, { maxRetries: 1 });
    const first = mgr.enrol().catch((err: Error) => err);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(await first).toMatchObject({ code: 'ENROLLMENT_TIMEOUT', attempts: 2 });
    expect(attempts).toEqual(['e1', 'e1']);
    // e1 failed (twice): an application that calls enrol() again is not held at it
    const second = mgr.enrol();
    await vi.advanceTimersByTimeAsync(5_000);
    await second;
    expect(attempts).toEqual(['e1', 'e1', 'e2']);
    expect(mgr.state).toMatchObject({ type: 'enrolled', bootstrap: 'e2' });
    for (const gate of gates) gate.fail();
  });

  it('two fenced enrollers of three ("unavailable" every time) and the default maxRetries: enrolled at the third', async () => {
    vi.useFakeTimers();
    const net = new MemoryNetwork({ seed: 3 });
    const fenced = () => {
      const store = new GatedStore();
      for (let i = 0; i < 8; i++) store.gate().fail();
      return store;
    };
    await withEnroller({ store: fenced() }, net, 'e1');
    await withEnroller({ store: fenced() }, net, 'e2');
    await withEnroller({}, net, 'e3');
    const { mgr } = member(net, 'm', { ...CONFIG, maxRetries: 3, bootstraps: ['e1', 'e2', 'e3'] });
    const attempts = attemptsOf(mgr);
    const enrolled = mgr.enrol();
    await vi.advanceTimersByTimeAsync(10_000);
    await enrolled;
    // once a run: e1 gets its second try, e2 does not
    expect(attempts).toEqual(['e1', 'e1', 'e2', 'e3']);
    expect(mgr.state).toMatchObject({ type: 'enrolled', bootstrap: 'e3' });
  });

  it('with HMAC-SHA256 it moves on at once: a new M_CONNECT cannot take the place of the old enrollment before it proves itself', async () => {
    const store = new GatedStore();
    const gate = store.gate();
    const { mgr, attempts } = await world(store, {}, { mechanism: 'hmac-sha256', key: 'a pre-shared key of 32 bytes....' });
    const enrolled = mgr.enrol();
    await vi.advanceTimersByTimeAsync(5_000);
    await enrolled;
    expect(attempts).toEqual(['e1', 'e2']);
    gate.fail();
  });
});

describe('going back and srv: discovery', () => {
  it('does not go back to an enroller that the lookup due after its failure no longer lists (nor brings it back as configured)', async () => {
    vi.useFakeTimers();
    const NAME = '_rina-enroll._udp.example.test';
    const [A, B] = ['10.0.0.1:7000', '10.0.0.2:7000'];
    const net = new MemoryNetwork({ seed: 3 });
    const store = new GatedStore();
    const gate = store.gate(); // A accepts, then its bind hangs: slow
    await withEnroller({ store, pendingTimeoutMs: 60_000 }, net, A);
    await withEnroller({}, net, B);
    const srv: Record<string, SrvRecord[]> = { [NAME]: [{ name: 'a.test', port: 7000, priority: 0, weight: 0 }] };
    const dns = scriptedResolver(srv, { 'a.test': { a: ['10.0.0.1'] }, 'b.test': { a: ['10.0.0.2'] } });
    const { mgr } = member(net, 'm', { ...CONFIG, bootstraps: [`srv:${NAME}`] }, { discovery: { resolver: dns.resolver } });
    const attempts = attemptsOf(mgr);
    const enrolled = mgr.enrol();
    await vi.advanceTimersByTimeAsync(100);
    expect(attempts).toEqual([A]);
    srv[NAME] = [{ name: 'b.test', port: 7000, priority: 0, weight: 0 }]; // the DIF moved A's record to B meanwhile
    await vi.advanceTimersByTimeAsync(5_000);
    await enrolled;
    expect(dns.calls.srv).toBe(2); // A failed, and it was the only one known: a lookup was due
    expect(attempts).toEqual([A, B]);
    expect(mgr.bootstraps().map((b) => b.address)).not.toContain(A);
    gate.fail();
  });
});
