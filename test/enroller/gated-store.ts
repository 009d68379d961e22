/** A store of one enroller (memory) whose binds can each be held, then let succeed or fail (review tests' helper). */
import { expect } from 'vitest';
import type { Enroller } from '../../src/enroller/enroller.js';
import { CLOSE_WAIT_MS } from '../../src/enroller/ledger.js';
import { type AddressBinding, MemoryAddressStore } from '../../src/store/address-store.js';
import { connectMsg, RawPeer, settle, startMsg, withEnroller } from '../support/helpers.js';
import { ManualClock } from './manual-clock.js';

export interface Gate {
  /** The bind stores, and resolves. */
  ok(): void;
  /** The bind stores nothing, and rejects. */
  fail(): void;
}

export class GatedStore extends MemoryAddressStore {
  readonly calls: string[] = [];
  /** What the next binds do: undefined (store at once), or a gated promise (see {@link gate}). */
  readonly script: Array<Promise<'ok' | 'fail'> | undefined> = [];

  /** The next bind waits until the returned gate is opened. */
  gate(): Gate {
    let open!: (v: 'ok' | 'fail') => void;
    this.script.push(new Promise((r) => (open = r)));
    return { ok: () => open('ok'), fail: () => open('fail') };
  }

  table(): Record<string, number> {
    return Object.fromEntries(this.load().map((b) => [b.name, b.address]));
  }

  override bind(b: AddressBinding): void | Promise<void> {
    this.calls.push(`bind ${b.name} ${b.address}`);
    const step = this.script.shift();
    if (step === undefined) return super.bind(b);
    return step.then((v) => {
      if (v === 'fail') throw new Error('store: write failed');
      super.bind(b);
    });
  }

  override release(name: string): void {
    this.calls.push(`release ${name}`);
    super.release(name);
  }
}

/** An enroller on a gated store (`store`: a fresh one), with m's bind of 1002 in flight (`gate` answers it). */
export async function bindingM<S extends GatedStore>(store: S = new GatedStore() as S) {
  const clock = new ManualClock();
  const { enroller, net } = await withEnroller({ clock, store, holdMs: 1000, leaseMs: 600_000, pendingTimeoutMs: 600_000 });
  const m = new RawPeer(net.attach('m-shim'));
  const gate = store.gate();
  await m.send('bootstrap', connectMsg(1, 'm'));
  await settle();
  await m.send('bootstrap', startMsg(2));
  await settle();
  expect(store.calls.filter((c) => c.startsWith('bind'))).toEqual(['bind m 1002']);
  return { clock, store, enroller, net, gate };
}

/** `enroller.stop()` on a store slower than CLOSE_WAIT_MS: it gives up waiting for the binds in flight, and returns. */
export async function stopGivingUp(enroller: Enroller, clock: ManualClock): Promise<void> {
  const stopping = enroller.stop();
  await settle();
  clock.advance(CLOSE_WAIT_MS + 20);
  await stopping;
}

/** `promise`, and whether it has settled yet. */
export function watched(promise: Promise<unknown>): { readonly promise: Promise<void>; settled(): boolean } {
  let settled = false;
  const done = promise.then(() => {
    settled = true;
  });
  return { promise: done, settled: () => settled };
}
