/** A store shared by several enrollers, in memory, that records what the enroller asks of it. */
import {
  type AddressBinding,
  type AddressStoreListener,
  MemoryAddressStore,
  type SharedAddressStore,
  type StoreOwner,
} from '../../src/store/address-store.js';

/** Says it is shared; every bind, release, confirm and leave is recorded in `calls` (`"leave a"`, ...). */
export class SharedMemoryStore extends MemoryAddressStore implements SharedAddressStore {
  readonly shared = true;
  readonly calls: string[] = [];
  /** The listener the enroller opened it with. */
  listener: AddressStoreListener | undefined;
  /** What canVouch answers. */
  vouch = true;
  /** Names whose binding confirm refuses. */
  readonly unconfirmed = new Set<string>();
  /**
   * What the next binds do, in order (an empty script: they store): `taken`
   * refuses as when another enroller bound the address first (the listener
   * hears of that binding before the refusal), `fail` throws, and a promise
   * makes the bind wait for it, then store (or refuse, if it resolves to
   * `taken`).
   */
  readonly script: Array<'taken' | 'fail' | Promise<void | 'taken'>> = [];
  /** confirm answers once this resolves (or, for a name in `#gateOf`, once its own does): see {@link holdConfirms}. */
  #gate: Promise<void> = Promise.resolve();
  readonly #gateOf = new Map<string, Promise<void>>();

  /** Holds every confirm (or only those of `name`) until the returned function is called. */
  holdConfirms(name?: string): () => void {
    let open = (): void => undefined;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    if (name === undefined) this.#gate = gate;
    else this.#gateOf.set(name, gate);
    return open;
  }

  /** The recorded calls of one kind (`leave`, `release`, ...). */
  callsOf(kind: string): string[] {
    return this.calls.filter((c) => c.startsWith(`${kind} `));
  }

  open(_owner: StoreOwner, listener: AddressStoreListener): void {
    this.listener = listener;
  }
  override bind(b: AddressBinding): boolean | Promise<boolean> {
    this.calls.push(`bind ${b.name}`);
    const step = this.script.shift();
    if (step === 'fail') throw new Error('etcd: deadline exceeded');
    if (step instanceof Promise) return step.then((then) => this.#answer(b, then));
    return this.#answer(b, step);
  }

  #answer(b: AddressBinding, step: 'taken' | undefined | void): boolean {
    if (step === 'taken') {
      this.listener?.bound({ name: `other-of-${b.address}`, address: b.address });
      return false;
    }
    super.bind(b);
    return true;
  }
  override release(name: string): boolean {
    this.calls.push(`release ${name}`);
    super.release(name);
    return true;
  }
  async confirm(b: AddressBinding): Promise<boolean> {
    this.calls.push(`confirm ${b.name}`);
    await (this.#gateOf.get(b.name) ?? this.#gate);
    return !this.unconfirmed.has(b.name);
  }
  leave(name: string): void {
    this.calls.push(`leave ${name}`);
  }
  close(): void {}
  /** What doubting answers (the store is asking whether its lease lives: `vouch` false, no fence yet). */
  doubt = false;
  doubting(): boolean {
    return this.doubt;
  }
  canVouch(): boolean {
    return this.vouch;
  }
}
