/** A store of one enroller (memory) whose binds can each be held, then let succeed or fail (review tests' helper). */
import { type AddressBinding, MemoryAddressStore } from '../../src/store/address-store.js';

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
