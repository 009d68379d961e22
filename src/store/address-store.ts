/**
 * Where an enroller keeps its address table, so that a restarted enroller
 * gives every known IPCP name its old address and never hands an address it
 * gave one name to another.
 *
 * @module
 */
import { StoreError } from '../errors.js';
import type { MaybePromise } from '../util/settle.js';

/** One IPCP name bound to one DIF address. */
export interface AddressBinding {
  /** The IPCP name. */
  readonly name: string;
  /** The DIF address bound to it. */
  readonly address: number;
}

/**
 * What a store shared by several enrollers tells the enroller that uses it
 * (see {@link AddressStore.open}). Calls come from the store's own watch of
 * the shared table, and from what a refused write found there.
 */
export interface AddressStoreListener {
  /** `name` is bound to `address` now, by this enroller or another one. */
  bound(binding: AddressBinding): void;
  /** `name` is bound to no address now. */
  unbound(name: string): void;
  /** No enroller serves `name` any more (its last one let it go, or died): its address hold starts. */
  idle(name: string): void;
  /** The shim addresses of the other enrollers alive now (to advertise to members). */
  enrollers(shimAddresses: string[]): void;
  /**
   * `true`: this enroller's lease lapsed (not renewed within its TTL): it can
   * no longer prove any binding current, and must stop vouching for its
   * members. `false`: a new lease is granted; nothing is marked under it until
   * the enroller binds again what it keeps.
   */
  fenced?(fenced: boolean): void;
}

/** Who opens a shared store: the enroller's IPCP name and shim address. */
export interface StoreOwner {
  /** The enroller's IPCP name; unique among the enrollers of the store. */
  readonly name: string;
  /** The shim address members reach it at. */
  readonly shimAddress: string;
}

/**
 * The enroller's persistence plug-in point. The enroller calls `bind` before
 * it tells a member its address, so a crash between the two loses nothing
 * that was handed out.
 *
 * A store of one enroller (memory, file) needs `load`, `bind` and `release`.
 * A store shared by several enrollers (`EtcdAddressStore`) is the arbiter of
 * the address space: its `bind` and `release` may refuse (return `false`)
 * because another enroller got there first, and it implements `open`,
 * `leave` and `close` to say which enroller serves which member. Such a
 * store says so with `shared: true` and implements {@link SharedAddressStore};
 * the enroller decides once, when it is made, which kind it was given.
 */
export interface AddressStore {
  /** Every binding stored; read when the enroller starts (after {@link open}). */
  load(): MaybePromise<AddressBinding[]>;
  /**
   * Binds `name` to `address` (replacing the name's earlier binding), and
   * marks this enroller as serving `name`; resolves once that is durable.
   * Binding a name to the address it has is allowed and cheap. A shared
   * store returns `false` when the name or the address was taken meanwhile;
   * it has then told the listener what it found, and the enroller tries again.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: stores of one enroller return nothing, shared ones a verdict
  bind(binding: AddressBinding): MaybePromise<void | boolean>;
  /**
   * Removes `name`'s binding; resolves once that is durable. A shared store
   * returns `false`, and keeps the binding, while another enroller serves `name`.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: as for bind
  release(name: string): MaybePromise<void | boolean>;
  /** A shared store: starts serving `owner`, reporting others' changes to `listener`. Called before {@link load}. */
  open?(owner: StoreOwner, listener: AddressStoreListener): MaybePromise<void>;
  /**
   * A shared store: marks `name` as served by this enroller if, and only if,
   * the store binds it to `address` now; changes nothing else. Resolves
   * `false` when the binding is gone or another's; bounded in time. The
   * enroller proves its members with it after a lapsed lease and a restart;
   * a shared store without it is proven with `bind`, which may overwrite
   * another enroller's change.
   */
  confirm?(binding: AddressBinding): MaybePromise<boolean>;
  /** A shared store: this enroller no longer serves `name` (the binding stays). */
  leave?(name: string): MaybePromise<void>;
  /**
   * A shared store: this enroller stops; what it served is let go. Called at
   * every `stop()`, and by a `start()` that a `stop()` overtook: possibly
   * more than once after one `open`, so it must be idempotent.
   */
  close?(): MaybePromise<void>;
  /**
   * A shared store: whether this enroller's bindings are proven current now
   * (its lease surely alive). Asked before every answer that vouches for a
   * member, so that a process paused past its lease and resumed does not
   * answer before its timers have run.
   */
  canVouch?(): boolean;
  /**
   * A shared store: whether `canVouch()` is false only because the store is
   * asking whether its lease is alive after its proof ran out (not known
   * lapsed; {@link AddressStoreListener.fenced} follows if it did). The
   * enroller then answers nothing that vouches or evicts, and waits: members
   * are not turned away for a lease that may be alive. Absent: never.
   */
  doubting?(): boolean;
  /**
   * A shared store: the address it binds `name` to, as far as this enroller
   * knows now (its copy of the table), if any. The enroller asks after a
   * bind that failed without an answer: one the store has seen committed
   * stands. Absent: not known.
   */
  addressOf?(name: string): number | undefined;
  /**
   * `true`: the store is shared by several enrollers, and says so (see
   * {@link SharedAddressStore}). A store without it is shared when it
   * implements {@link open}.
   */
  readonly shared?: boolean;
}

/**
 * A store shared by several enrollers, saying so (`shared: true`) and
 * implementing every member the enroller calls on such a store.
 * `EtcdAddressStore` is one.
 */
export interface SharedAddressStore extends AddressStore {
  /** The store is shared by several enrollers. */
  readonly shared: true;
  /** As {@link AddressStore.bind}: `false` when the name or the address was taken meanwhile. */
  bind(binding: AddressBinding): MaybePromise<boolean>;
  /** As {@link AddressStore.release}: `false`, and the binding kept, while another enroller serves `name`. */
  release(name: string): MaybePromise<boolean>;
  /** Starts serving `owner`, reporting others' changes to `listener`. Called before {@link AddressStore.load}. */
  open(owner: StoreOwner, listener: AddressStoreListener): MaybePromise<void>;
  /** Marks `name` served by this enroller if, and only if, the store binds it to `address` now (see {@link AddressStore.confirm}). */
  confirm(binding: AddressBinding): MaybePromise<boolean>;
  /** This enroller no longer serves `name` (the binding stays). */
  leave(name: string): MaybePromise<void>;
  /** This enroller stops; what it served is let go. */
  close(): MaybePromise<void>;
  /** Whether this enroller's bindings are proven current now (see {@link AddressStore.canVouch}). */
  canVouch(): boolean;
  /** Whether the store is asking whether its lease is alive (see {@link AddressStore.doubting}). */
  doubting?(): boolean;
}

/** What an enroller uses of a shared store besides `load`, `bind`, `release` and `close`. */
export type SharedStoreCapabilities = Required<
  Pick<SharedAddressStore, 'open' | 'confirm' | 'leave' | 'canVouch' | 'doubting' | 'addressOf'>
>;

/** Whether `store` says it is shared by several enrollers (`shared: true`). */
export function isSharedStore(store: AddressStore): store is SharedAddressStore {
  return store.shared === true;
}

/**
 * The shared-store capabilities of `store`, or undefined for a store of one
 * enroller. A store is shared when it says so ({@link isSharedStore}) or, as
 * before `shared` existed, when it implements `open`. What a store leaves
 * out is filled in as {@link AddressStore} documents it: `confirm` by `bind`
 * (true unless it refuses), `leave` by nothing, `canVouch` by always,
 * `doubting` by never, `addressOf` by not known.
 */
export function sharedCapabilities(store: AddressStore): SharedStoreCapabilities | undefined {
  const { open, confirm, leave, canVouch, doubting, addressOf } = store;
  if (open === undefined) {
    if (isSharedStore(store)) throw new TypeError('a store that says it is shared must implement open()');
    return undefined;
  }
  return {
    open: (owner, listener) => open.call(store, owner, listener),
    confirm: confirm === undefined ? async (binding) => (await store.bind(binding)) !== false : (binding) => confirm.call(store, binding),
    leave: (name) => leave?.call(store, name),
    canVouch: () => canVouch?.call(store) ?? true,
    doubting: () => doubting?.call(store) ?? false,
    addressOf: (name) => addressOf?.call(store, name),
  };
}

/**
 * What is wrong with `binding` as a store would keep it (a name that is a
 * non-empty string, an address that is an integer >= 1), or undefined.
 */
export function bindingProblem(binding: unknown): string | undefined {
  if (typeof binding !== 'object' || binding === null)
    return `a binding is { name, address }, got ${binding === null ? 'null' : typeof binding}`;
  const { name, address } = binding as Partial<AddressBinding>;
  return (
    nameProblem(name) ??
    (Number.isSafeInteger(address) && (address as number) >= 1
      ? undefined
      : `the address of "${name}" must be an integer >= 1, got ${String(address)}`)
  );
}

/** What is wrong with `name` as a store would keep it (a non-empty, well-formed string), or undefined. */
export function nameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string' || name === '')
    return `an IPCP name must be a non-empty string, got ${JSON.stringify(name) ?? String(name)}`;
  return name.isWellFormed() ? undefined : `the IPCP name ${JSON.stringify(name)} is not well-formed Unicode (a lone surrogate)`;
}

/** Throws `StoreError` ("cannot `what`: ...") for a `problem`: a store refuses what it could not keep, and changes nothing. */
export function refuse(what: string, problem: string | undefined): void {
  if (problem !== undefined) throw new StoreError(`cannot ${what}: ${problem}`);
}

/** The default store: bindings live as long as the process. A binding it could not keep is a StoreError. */
export class MemoryAddressStore implements AddressStore {
  readonly #bindings = new Map<string, number>();

  load(): AddressBinding[] {
    return [...this.#bindings].map(([name, address]) => ({ name, address }));
  }

  bind(binding: AddressBinding): void {
    refuse('bind', bindingProblem(binding));
    this.#bindings.set(binding.name, binding.address);
  }

  release(name: string): void {
    refuse('release', nameProblem(name));
    this.#bindings.delete(name);
  }
}
