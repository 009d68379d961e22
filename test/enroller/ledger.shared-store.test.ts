/**
 * The enroller with a store shared by several enrollers (found by a review of
 * the etcd change): holds, releases and start/stop races, on a scripted
 * in-memory store so that timing is exact under fake timers.
 */
import { afterEach, expect, it, vi } from 'vitest';
import { type AddressBinding, type AddressStoreListener, MemoryAddressStore, MemoryNetwork, type StoreOwner } from '../../src/index.js';
import { cleanup, member, withEnroller } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

/** A MemoryAddressStore that says it is shared (open/leave/close) and lets a test slow or fail its calls. */
class ScriptedSharedStore extends MemoryAddressStore {
  bindDelayMs = 0;
  failBinds = 0;
  failReleases = 0;
  readonly calls: string[] = [];
  listener: AddressStoreListener | undefined;
  openGate: Promise<void> = Promise.resolve();

  opened = false;

  async open(_owner: StoreOwner, listener: AddressStoreListener): Promise<void> {
    this.calls.push('open');
    await this.openGate;
    this.listener = listener;
    this.opened = true;
  }
  override async bind(binding: AddressBinding): Promise<void> {
    this.calls.push(`bind ${binding.name}`);
    if (this.failBinds > 0) {
      this.failBinds--;
      throw new Error('etcd out of reach');
    }
    super.bind(binding);
    if (this.bindDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.bindDelayMs));
  }
  override async release(name: string): Promise<boolean> {
    this.calls.push(`release ${name}`);
    if (this.failReleases > 0) {
      this.failReleases--;
      throw new Error('etcd out of reach');
    }
    super.release(name);
    return true;
  }
  leave(name: string): void {
    this.calls.push(`leave ${name}`);
  }
  /** As EtcdAddressStore: closing a store that is not open (yet) does nothing. */
  close(): void {
    this.calls.push(this.opened ? 'close' : 'close (not open)');
    this.opened = false;
  }
}

const FAST = { timeoutMs: 2000, retransmitMs: 20, maxRetransmitMs: 40 };

it('a hold that ends while the same name is being bound again does not free the address under it', async () => {
  vi.useFakeTimers();
  const store = new ScriptedSharedStore();
  const net = new MemoryNetwork({ seed: 1 });
  const { enroller } = await withEnroller({ store, holdMs: 300, addressPool: { first: 7, last: 7 }, retransmitMs: 20 }, net);
  const released: unknown[] = [];
  enroller.on('address:released', (b) => released.push(b));
  const first = member(net, 'm', { ...FAST, bootstraps: ['bootstrap'] }).mgr;
  const enrolled = first.enrol();
  await vi.advanceTimersByTimeAsync(50);
  await enrolled;
  await first.close(); // M_RELEASE: the hold of "m" runs 300 ms
  await vi.advanceTimersByTimeAsync(150);
  store.bindDelayMs = 300; // the next bind of "m" is answered after the hold has ended
  const again = member(net, 'm-again', { ...FAST, bootstraps: ['bootstrap'] }, { ipcpName: 'm' }).mgr;
  const back = again.enrol();
  await vi.advanceTimersByTimeAsync(600);
  await back;
  expect(again.address).toBe(7);
  expect(released).toEqual([]);
  expect(store.calls).not.toContain('release m');
  // The only address is still m's: a newcomer is refused.
  const newcomer = member(net, 'x', { ...FAST, bootstraps: ['bootstrap'], maxRetries: 1 }).mgr;
  const refused = newcomer.enrol().catch((e: unknown) => e);
  await vi.advanceTimersByTimeAsync(100);
  expect(String(await refused)).toMatch(/exhausted/);
});

it('a release the store fails is tried again soon, and the address is freed once it works', async () => {
  vi.useFakeTimers();
  const store = new ScriptedSharedStore();
  const net = new MemoryNetwork({ seed: 2 });
  const { enroller } = await withEnroller({ store, holdMs: 1000, retransmitMs: 20 }, net);
  const released: unknown[] = [];
  enroller.on('address:released', (b) => released.push(b));
  const m = member(net, 'm', { ...FAST, bootstraps: ['bootstrap'] }).mgr;
  const enrolled = m.enrol();
  await vi.advanceTimersByTimeAsync(50);
  await enrolled;
  const address = m.address;
  store.failReleases = 1;
  await m.close();
  await vi.advanceTimersByTimeAsync(1100); // the hold ends; the release fails
  expect(store.calls.filter((c) => c === 'release m')).toHaveLength(1);
  expect(released).toEqual([]);
  await vi.advanceTimersByTimeAsync(1100); // tried again after min(holdMs, 5 s)
  expect(store.calls.filter((c) => c === 'release m')).toHaveLength(2);
  expect(released).toEqual([{ name: 'm', address }]);
});

it("a hold restarts when the store reports the name idle again (the member's last enroller let it go later)", async () => {
  vi.useFakeTimers();
  const store = new ScriptedSharedStore();
  const net = new MemoryNetwork({ seed: 3 });
  const { enroller } = await withEnroller({ store, holdMs: 1000 }, net);
  const released: unknown[] = [];
  enroller.on('address:released', (b) => released.push(b));
  store.bind({ name: 'elsewhere', address: 1500 });
  store.listener?.bound({ name: 'elsewhere', address: 1500 });
  store.listener?.idle('elsewhere'); // gone from its enroller: the hold starts
  await vi.advanceTimersByTimeAsync(600);
  store.listener?.idle('elsewhere'); // it had moved to another enroller, which has now let it go too
  await vi.advanceTimersByTimeAsync(600);
  expect(released).toEqual([]); // 1,200 ms after the first idle, 600 after the second
  await vi.advanceTimersByTimeAsync(500);
  expect(released).toEqual([{ name: 'elsewhere', address: 1500 }]);
});

it('stop() during start(): the store that start() opened is closed again', async () => {
  const store = new ScriptedSharedStore();
  let open: () => void = () => undefined;
  store.openGate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const net = new MemoryNetwork({ seed: 4 });
  const { Enroller, MemoryRib } = await import('../../src/index.js');
  const enroller = new Enroller({
    shim: net.attach('e'),
    rib: new MemoryRib(),
    ipcpName: 'e',
    difName: 'd.DIF',
    addressPool: { first: 1, last: 9 },
    store,
  });
  const starting = enroller.start();
  await new Promise((resolve) => setTimeout(resolve, 10));
  await enroller.stop();
  open();
  await starting;
  expect(enroller.running).toBe(false);
  expect(store.opened).toBe(false);
  expect(store.calls.at(-1)).toBe('close');
  await net.close();
});

it('a store that cannot bind: the member is told "unavailable", the enroller says why, and the final error names the answer', async () => {
  vi.useFakeTimers();
  const store = new ScriptedSharedStore();
  const net = new MemoryNetwork({ seed: 5 });
  const { enroller } = await withEnroller({ store, retransmitMs: 20 }, net);
  const rejections: string[] = [];
  enroller.on('enrollment:rejected', (r) => rejections.push(r.reason));
  store.failBinds = 3;
  const m = member(net, 'm', { ...FAST, bootstraps: ['bootstrap'], maxRetries: 2, initialBackoffMs: 50 }).mgr;
  const failed = m.enrol().catch((e: unknown) => e);
  await vi.advanceTimersByTimeAsync(500);
  const error = (await failed) as Error;
  expect(error.name).toBe('EnrollmentTimeoutError');
  // (two of maxRetries, and the one try more the run makes back at an enroller that accepted it: README, "Retries")
  expect(error.message).toMatch(
    /timed out after 3 attempts; the last answer was result -4: the enroller cannot store addresses now: etcd out of reach/,
  );
  expect(rejections).toEqual(Array(3).fill('the enroller cannot store addresses now: etcd out of reach'));
  expect(enroller.members()).toEqual([]);
});

it('a shared store and a shim on a wildcard address need advertisedAddress (nobody can reach 0.0.0.0)', async () => {
  const { ConfigError, Enroller, MemoryRib } = await import('../../src/index.js');
  const wildcard = {
    localAddress: '0.0.0.0:7000',
    send: async () => undefined,
    onReceive: () => () => undefined,
    close: async () => undefined,
  };
  const base = { shim: wildcard, rib: new MemoryRib(), ipcpName: 'e', difName: 'd.DIF', addressPool: { first: 1, last: 9 } };
  expect(() => new Enroller({ ...base, store: new ScriptedSharedStore() })).toThrow(ConfigError);
  expect(() => new Enroller({ ...base, store: new ScriptedSharedStore() })).toThrow(/advertisedAddress: is required/);
  expect(() => new Enroller({ ...base, store: new ScriptedSharedStore(), advertisedAddress: '10.0.0.1:7000' })).not.toThrow();
  expect(() => new Enroller({ ...base })).not.toThrow(); // a store of its own: nobody is told its address
});
