/**
 * Where an enroller keeps its address table, so that a restarted enroller
 * gives every known IPCP name its old address and never hands an address it
 * gave one name to another.
 *
 * @module
 */
import type { MaybePromise } from '../rib/rib.js';

/** One IPCP name bound to one DIF address. */
export interface AddressBinding {
  /** The IPCP name. */
  readonly name: string;
  /** The DIF address bound to it. */
  readonly address: number;
}

/**
 * The enroller's persistence plug-in point. The enroller calls `bind` before
 * it tells a member its address, so a crash between the two loses nothing
 * that was handed out.
 */
export interface AddressStore {
  /** Every binding stored; read when the enroller starts. */
  load(): MaybePromise<AddressBinding[]>;
  /** Binds `name` to `address` (replacing the name's earlier binding); resolves once it is durable. */
  bind(binding: AddressBinding): MaybePromise<void>;
  /** Removes `name`'s binding; resolves once that is durable. */
  release(name: string): MaybePromise<void>;
}

/** The default store: bindings live as long as the process. */
export class MemoryAddressStore implements AddressStore {
  readonly #bindings = new Map<string, number>();

  load(): AddressBinding[] {
    return [...this.#bindings].map(([name, address]) => ({ name, address }));
  }

  bind(binding: AddressBinding): void {
    this.#bindings.set(binding.name, binding.address);
  }

  release(name: string): void {
    this.#bindings.delete(name);
  }
}
