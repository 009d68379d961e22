import { EventEmitter } from 'eventemitter3';
import { describe, expect, it } from 'vitest';
import { describeEnrollerEvent, type EnrollerEvents } from '../../src/enroller/events.js';
import { AddressLedger } from '../../src/enroller/ledger.js';
import { MemberRegistry, PROVING_AT_ONCE } from '../../src/enroller/members.js';
import { diagnosticsChannels } from '../../src/diagnostics.js';
import { Telemetry } from '../../src/util/telemetry.js';
import { TICK_MS, Ticker } from '../../src/util/ticker.js';
import { recordingLogger } from '../support/logs.js';
import { ManualClock } from './manual-clock.js';
import { SharedMemoryStore } from './shared-memory-store.js';

const LEASE_MS = 500;
const HOLD_MS = 1000;

function registry(running = true) {
  /** Names an enrollment of which has bound an address here (MemberRegistryHost.enrolling). */
  const enrolling = new Set<string>();
  const clock = new ManualClock();
  const ticker = new Ticker(TICK_MS, clock);
  const emitter = new EventEmitter<EnrollerEvents>();
  const events: string[] = [];
  for (const event of ['member:enrolled', 'member:gone', 'member:released'] as const) {
    emitter.on(event, (m) => events.push(`${event} ${m.name}`));
  }
  emitter.on('address:released', (b) => events.push(`address:released ${b.name}`));
  const { logger, lines: logs } = recordingLogger();
  const telemetry = new Telemetry(emitter, logger, describeEnrollerEvent('e'), [diagnosticsChannels.enroller]);
  const store = new SharedMemoryStore();
  const ledger: AddressLedger = new AddressLedger(
    store,
    { addressPool: { first: 1, last: 9 }, holdMs: HOLD_MS, ipcpName: 'e', localAddress: 'me', random: () => 0 },
    ticker,
    telemetry,
    {
      serves: (name) => members.has(name),
      running: () => running,
      memberCount: () => members.size,
      leaseBack: () => undefined,
      rebound: (n, a) => members.rebound(n, a),
    },
  );
  const members: MemberRegistry = new MemberRegistry(
    { clock, ticker, leaseMs: LEASE_MS, ipcpName: 'e', running: () => running, takeOver: (name) => enrolling.has(name) },
    ledger,
    telemetry,
  );
  const enrol = (name: string, address: number, shim = `shim-${name}`) => {
    ledger.assign(name, address);
    void ledger.bind({ name, address });
    return members.enrol(name, address, shim, null);
  };
  return { members, clock, events, store, enrol, ledger, logs, enrolling };
}

describe('MemberRegistry', () => {
  it('retire does forget + leave + hold exactly once, then tells the event of its reason', () => {
    const { members, clock, events, store, enrol } = registry();
    const m = enrol('a', 3);
    events.length = 0;
    members.retire(m, 'gone');
    expect(members.has('a')).toBe(false);
    expect(members.at('shim-a')).toBeUndefined();
    expect(store.callsOf('leave')).toEqual(['leave a']);
    expect(events).toEqual(['member:gone a']);
    // held: freed once the hold ends (the lease of a forgotten member does not fire again)
    clock.advance(HOLD_MS - 2 * TICK_MS);
    expect(events).toEqual(['member:gone a']);
    clock.advance(4 * TICK_MS);
    expect(events).toEqual(['member:gone a', 'address:released a']);
    clock.advance(10 * LEASE_MS);
    expect(events).toHaveLength(2);
    expect(store.callsOf('leave')).toEqual(['leave a']);
  });

  it('rebound: a member listed at another address is let go (its mark left), or only forgotten while an enrollment of its name is under way here', () => {
    const { members, store, enrol, enrolling } = registry();
    enrol('a', 3);
    enrol('b', 4);
    enrol('c', 5);
    enrolling.add('c'); // an enrollment of c here has bound an address
    members.rebound('a', 3); // the same address: nothing changes
    members.rebound('b', 6); // moved by another enroller
    members.rebound('c', 7); // moved, maybe by this enroller's own enrollment of c
    expect([...members.values()].map((m) => m.name)).toEqual(['a']);
    expect(store.callsOf('leave')).toEqual(['leave b']); // c's mark is the enrollment's now
  });

  it("retire while the same name enrols here again (an address bound) only forgets the record: the mark is the new enrollment's", () => {
    const { members, clock, events, store, enrol, enrolling, ledger } = registry();
    const m = enrol('a', 3);
    events.length = 0;
    enrolling.add('a'); // its new enrollment has bound an address; the old record's lease runs out meanwhile
    members.retire(m, 'gone');
    expect(members.has('a')).toBe(false);
    expect(store.callsOf('leave')).toEqual([]);
    expect(ledger.holding('a')).toBe(false);
    expect(events).toEqual(['member:gone a']);
    clock.advance(10 * HOLD_MS);
    expect(events).toEqual(['member:gone a']); // nothing released: the enrollment's end decides
  });

  it('retire tells member:released for M_RELEASE, and nothing for the silent reasons', () => {
    const { members, events, store, enrol } = registry();
    members.retire(enrol('r', 1), 'released');
    members.retire(enrol('u', 2), 'unproven');
    members.retire(enrol('v', 3), 'unvouched');
    expect(events.filter((e) => !e.startsWith('member:enrolled'))).toEqual(['member:released r']);
    expect(store.callsOf('leave')).toEqual(['leave r', 'leave u', 'leave v']);
  });

  it('a member silent for its lease is retired as gone; one that speaks keeps its place', () => {
    const { members, clock, events, enrol } = registry();
    const quiet = enrol('quiet', 1);
    const talker = enrol('talker', 2);
    clock.advance(LEASE_MS / 2);
    members.seen(talker);
    clock.advance(LEASE_MS / 2 + 2 * TICK_MS);
    expect(members.has('quiet')).toBe(false);
    expect(members.has('talker')).toBe(true);
    expect(events).toContain('member:gone quiet');
    expect(quiet.lease).toBeUndefined();
    clock.advance(LEASE_MS / 2);
    expect(members.has('talker')).toBe(false);
  });

  it('a lease wakes the clock only when it is due: none before, one per check', () => {
    const { members, clock, enrol } = registry();
    const m = enrol('a', 1);
    const start = clock.fired;
    clock.advance(LEASE_MS - 2 * TICK_MS);
    expect(clock.fired).toBe(start);
    members.seen(m); // spoke: the check at the lease's end re-arms for a lease from now
    clock.advance(4 * TICK_MS);
    const afterCheck = clock.fired;
    expect(afterCheck).toBeGreaterThan(start);
    clock.advance(LEASE_MS - 6 * TICK_MS);
    expect(clock.fired).toBe(afterCheck);
    expect(members.has('a')).toBe(true);
  });

  it('no lease ends while the enroller is stopped', () => {
    const { members, clock, enrol } = registry(false);
    enrol('a', 1);
    clock.advance(10 * LEASE_MS);
    expect(members.has('a')).toBe(true);
  });

  it('a new enrollment from a member’s shim address retires the stale member there (silently); one of the same name replaces it', () => {
    const { members, events, store, enrol } = registry();
    enrol('old', 1, 'shim-x');
    enrol('new', 2, 'shim-x');
    expect(members.has('old')).toBe(false);
    expect(members.at('shim-x')?.name).toBe('new');
    expect(store.callsOf('leave')).toEqual(['leave old']);
    enrol('new', 2, 'shim-y');
    expect(members.at('shim-x')).toBeUndefined();
    expect(members.at('shim-y')?.name).toBe('new');
    expect(store.callsOf('leave')).toEqual(['leave old']); // forgotten, not let go: it is served again at once
    expect(events.filter((e) => e.startsWith('member:gone'))).toEqual([]);
  });

  it('leases paused by a stop run again from the restart: a silent member is gone one lease after it, not before', () => {
    const { members, clock, events, enrol } = registry();
    enrol('a', 1);
    clock.advance(LEASE_MS / 2);
    members.pauseLeases();
    clock.advance(10 * LEASE_MS);
    expect(members.has('a')).toBe(true);
    members.resumeLeases();
    clock.advance(LEASE_MS - 2 * TICK_MS);
    expect(members.has('a')).toBe(true);
    clock.advance(4 * TICK_MS);
    expect(members.has('a')).toBe(false);
    expect(events).toContain('member:gone a');
  });

  it('retireUnproven lets go only the unproven members still listed: not the proven, not a record replaced since', () => {
    const { members, store, enrol } = registry();
    const proven = enrol('p', 1);
    const unproven = enrol('u', 2);
    const stale = enrol('s', 3, 'shim-old');
    const current = enrol('s', 3, 'shim-new');
    members.retireUnproven([
      [proven, true],
      [unproven, false],
      [stale, false],
    ]);
    expect([...members.values()].map((m) => m.name).sort()).toEqual(['p', 's']);
    expect(members.get('s')).toBe(current);
    expect(store.callsOf('leave')).toEqual(['leave u']);
  });

  it('forgetting a stale record leaves the current one of its name, and whoever took its old shim address, listed', () => {
    const { members, enrol } = registry();
    const stale = enrol('c', 1, 'shim-x');
    const current = enrol('c', 1, 'shim-y');
    const other = enrol('d', 2, 'shim-x');
    members.forget(stale);
    expect(members.get('c')).toBe(current);
    expect(members.at('shim-y')).toBe(current);
    expect(members.at('shim-x')).toBe(other);
  });

  it('dismissing a stale record changes nothing: the current record stays listed and its name is not held', () => {
    const { members, enrol, ledger } = registry();
    const stale = enrol('c', 1, 'shim-x');
    const current = enrol('c', 1, 'shim-y');
    members.dismiss(stale);
    expect(members.get('c')).toBe(current);
    expect(ledger.holding('c')).toBe(false);
    members.dismiss(current);
    expect(members.has('c')).toBe(false);
    expect(ledger.holding('c')).toBe(true);
  });

  it('revalidate, after a fence: keeps the members the store confirms, retires the others, and lifts the fence', async () => {
    const { members, store, enrol, ledger } = registry();
    await ledger.open({ name: 'e', shimAddress: 'me' });
    enrol('kept', 1);
    enrol('lost', 2);
    store.unconfirmed.add('lost');
    await members.revalidate(); // not fenced: nothing to do
    expect(members.size).toBe(2);
    store.listener?.fenced?.(true);
    expect(ledger.vouching()).toBe(false);
    await members.revalidate();
    expect([...members.values()].map((m) => m.name)).toEqual(['kept']);
    expect(store.callsOf('leave')).toEqual(['leave lost']);
    expect(ledger.vouching()).toBe(true);
  });

  it(`revalidate proves at most ${PROVING_AT_ONCE} bindings at once, and every one in the end`, async () => {
    const { members, store, enrol, ledger } = registry();
    await ledger.open({ name: 'e', shimAddress: 'me' });
    for (let i = 0; i < 100; i++) enrol(`m${i}`, 1 + (i % 9));
    store.listener?.fenced?.(true);
    const open = store.holdConfirms();
    store.calls.length = 0;
    const revalidating = members.revalidate();
    await new Promise((resolve) => setImmediate(resolve));
    expect(store.callsOf('confirm')).toHaveLength(PROVING_AT_ONCE);
    open();
    await revalidating;
    expect(store.callsOf('confirm')).toHaveLength(100);
    expect(members.size).toBe(100);
    expect(ledger.vouching()).toBe(true);
  });

  it('while revalidate proves the members, each is vouched for once its own binding is proven; the others wait, neither answered nor refused', async () => {
    const { members, store, enrol, ledger } = registry();
    await ledger.open({ name: 'e', shimAddress: 'me' });
    const a = enrol('a', 1);
    const b = enrol('b', 2);
    expect(members.waits()).toBe(false);
    store.listener?.fenced?.(true);
    expect(members.vouchesFor(a)).toBe(false);
    expect(members.waits()).toBe(false); // lapsed, no new lease yet: keepalives are refused
    const openB = store.holdConfirms('b');
    const revalidating = members.revalidate();
    await new Promise((resolve) => setImmediate(resolve));
    expect(ledger.vouching()).toBe(false); // still fenced: b is not proven yet
    expect(members.vouchesFor(a)).toBe(true);
    expect(members.vouchesFor(b)).toBe(false);
    expect(members.waits()).toBe(true);
    store.vouch = false; // the new lease's proof runs out meanwhile: nobody is vouched for
    expect(members.vouchesFor(a)).toBe(false);
    store.vouch = true;
    openB();
    await revalidating;
    expect(ledger.vouching()).toBe(true);
    expect(members.vouchesFor(b)).toBe(true);
    expect(members.waits()).toBe(false);
  });

  it('fenced again while revalidate proves the members: the rest are not asked, and nobody is vouched for under the new fence', async () => {
    const { members, store, enrol, ledger } = registry();
    await ledger.open({ name: 'e', shimAddress: 'me' });
    for (let i = 0; i < PROVING_AT_ONCE + 10; i++) enrol(`m${i}`, 1 + (i % 9));
    store.listener?.fenced?.(true);
    const open = store.holdConfirms();
    store.calls.length = 0;
    const revalidating = members.revalidate();
    await new Promise((resolve) => setImmediate(resolve));
    store.listener?.fenced?.(true); // lapsed again
    open();
    await revalidating;
    expect(store.callsOf('confirm')).toHaveLength(PROVING_AT_ONCE);
    expect(ledger.vouching()).toBe(false);
    expect(members.vouchesFor(members.get('m0') as NonNullable<ReturnType<typeof members.get>>)).toBe(false);
    expect(members.waits()).toBe(false);
  });

  it('revalidate says what it confirmed and dropped: one info line', async () => {
    const { members, store, enrol, ledger, logs } = registry();
    await ledger.open({ name: 'e', shimAddress: 'me' });
    enrol('kept', 1);
    enrol('kept2', 3);
    enrol('lost', 2);
    store.unconfirmed.add('lost');
    store.listener?.fenced?.(true);
    logs.length = 0;
    await members.revalidate();
    expect(logs.filter((l) => (l.fields as { event?: string }).event === 'enroller:unfenced')).toEqual([
      {
        level: 'info',
        fields: { enroller: 'e', event: 'enroller:unfenced', confirmed: 2, dropped: 1 },
        message: "the shared store is back: 2 members' bindings confirmed, 1 dropped (gone or taken meanwhile: they enrol again)",
      },
    ]);
  });

  it('members that changed while revalidate asked the store: a replaced record is not retired, a retired name proven meanwhile is left again', async () => {
    const { members, store, enrol, ledger } = registry();
    await ledger.open({ name: 'e', shimAddress: 'me' });
    const replaced = enrol('replaced', 1, 'shim-old'); // unproven, and replaced meanwhile: nothing to do
    enrol('retired', 2); // proven, but retired meanwhile: its mark, written again by the confirm, goes too
    const renewed = enrol('renewed', 3); // proven, retired and enrolled again meanwhile: the new record keeps its mark
    const gone = enrol('gone', 4); // unproven, and retired meanwhile: nothing more
    store.unconfirmed.add('replaced');
    store.unconfirmed.add('gone');
    store.listener?.fenced?.(true);
    const open = store.holdConfirms();
    const revalidating = members.revalidate();
    const current = enrol('replaced', 1, 'shim-new');
    members.retire(members.get('retired') ?? replaced, 'released');
    members.retire(renewed, 'released');
    const again = enrol('renewed', 3, 'shim-renewed');
    members.retire(gone, 'released');
    store.calls.length = 0;
    open();
    await revalidating;
    expect(members.get('replaced')).toBe(current);
    expect(members.get('renewed')).toBe(again);
    expect(store.callsOf('leave')).toEqual(['leave retired']);
  });

  it('a revalidation overtaken by another fence changes nothing: the enroller stays fenced', async () => {
    const { members, store, enrol, ledger } = registry();
    await ledger.open({ name: 'e', shimAddress: 'me' });
    enrol('lost', 2);
    store.unconfirmed.add('lost');
    store.listener?.fenced?.(true);
    const open = store.holdConfirms();
    const revalidating = members.revalidate();
    store.listener?.fenced?.(true); // lost again while the store was being asked
    open();
    await revalidating;
    expect(members.has('lost')).toBe(true);
    expect(ledger.fenced).toBe(true);
  });
});
