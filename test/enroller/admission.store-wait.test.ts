/**
 * An enroller whose address store is slow answers new members "busy" rather
 * than admit them into a queue longer than their timeout: they back off and
 * come back, and every one enrols, with its address stored once.
 */
import { afterEach, expect, it, vi } from 'vitest';
import { type AddressBinding, MemoryAddressStore, MemoryNetwork } from '../../src/index.js';
import { cleanup, member, withEnroller } from '../support/helpers.js';

const BIND_MS = 200;
/** Members arrive four times faster than the store binds. */
const ARRIVAL_MS = 50;

/** A store that completes one bind every 200 ms, in order (a loaded etcd, much slowed down). */
class SlowStore extends MemoryAddressStore {
  binds = 0;
  #queue: Promise<void> = Promise.resolve();
  override bind(b: AddressBinding): Promise<void> {
    this.binds++;
    this.#queue = this.#queue.then(() => new Promise<void>((resolve) => setTimeout(resolve, BIND_MS))).then(() => super.bind(b));
    return this.#queue;
  }
}

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

/** 20 members starting 50 ms apart, each with one attempt of 1 s, against an enroller on a SlowStore. */
async function join(maxStoreWaitMs: number) {
  vi.useFakeTimers();
  const store = new SlowStore();
  const net = new MemoryNetwork({ seed: 3 });
  const { enroller } = await withEnroller({ store, maxStoreWaitMs }, net);
  const outcomes: Array<Promise<string>> = [];
  for (let i = 0; i < 20; i++) {
    outcomes.push(
      member(net, `m${i}`, { timeoutMs: 1000, maxRetries: 1 })
        .mgr.enrolWithBootstrap('bootstrap')
        .then(
          () => 'enrolled',
          (err: Error) => err.name,
        ),
    );
    await vi.advanceTimersByTimeAsync(ARRIVAL_MS);
  }
  await vi.advanceTimersByTimeAsync(60_000);
  const results = await Promise.all(outcomes);
  return { results, enrolled: results.filter((r) => r === 'enrolled').length, stats: enroller.stats(), store, enroller };
}

it('a slow store: new members are told "busy" while a bind would wait over maxStoreWaitMs, back off, and all enrol, each bound once', async () => {
  const { results, store, stats, enroller } = await join(500);
  expect(results).toEqual(Array(20).fill('enrolled'));
  expect(store.binds).toBe(20);
  expect(stats.busy).toBeGreaterThan(0);
  expect(new Set(enroller.members().map((m) => m.address)).size).toBe(20);
});

it('the same world without the bound (maxStoreWaitMs huge): members queued behind the store give up', async () => {
  const { enrolled, stats } = await join(1e9);
  expect(stats.busy).toBe(0);
  expect(enrolled).toBeLessThan(20);
});
