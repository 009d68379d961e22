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
  /** confirm answers once this resolves. */
  gate: Promise<void> = Promise.resolve();

  /** The recorded calls of one kind (`leave`, `release`, ...). */
  callsOf(kind: string): string[] {
    return this.calls.filter((c) => c.startsWith(`${kind} `));
  }

  open(_owner: StoreOwner, listener: AddressStoreListener): void {
    this.listener = listener;
  }
  override bind(b: AddressBinding): boolean {
    this.calls.push(`bind ${b.name}`);
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
    await this.gate;
    return !this.unconfirmed.has(b.name);
  }
  leave(name: string): void {
    this.calls.push(`leave ${name}`);
  }
  close(): void {}
  canVouch(): boolean {
    return this.vouch;
  }
}
