/**
 * A pass-through AddressStore that counts the enroller's calls and knows
 * when none is in flight, so that a scenario can wait for a released
 * member's store work (an etcd `leave`) to finish before it times the next
 * enrollment. It has each optional member (`open`, `confirm`, `leave`,
 * `close`, `canVouch`, `doubting`, `addressOf`, `shared`) only where the
 * store it wraps has it, and passes it on: the Enroller treats stores with
 * `open` as shared (random probing) and fills in what a shared store leaves
 * out (`confirm` by `bind`, `canVouch` by always, `doubting` by never), so a
 * member left out here would make the enroller run differently from one on
 * the store itself (it did: the scale scenario's enrollers confirmed by
 * binding and vouched through their lease doubts).
 */
import type { AddressStore, MaybePromise } from '../../src/index.js';

export interface StoreCalls {
  bind: number;
  release: number;
  leave: number;
  /** Calls whose promise has not settled yet. */
  inFlight: number;
}

export function countingStore(inner: AddressStore): { store: AddressStore; calls: StoreCalls } {
  const calls: StoreCalls = { bind: 0, release: 0, leave: 0, inFlight: 0 };
  const track = <T>(result: MaybePromise<T>): MaybePromise<T> => {
    if (!(result instanceof Promise)) return result;
    calls.inFlight++;
    return result.finally(() => {
      calls.inFlight--;
    });
  };
  const store: AddressStore = {
    load: () => inner.load(),
    bind: (binding) => {
      calls.bind++;
      return track(inner.bind(binding));
    },
    release: (name) => {
      calls.release++;
      return track(inner.release(name));
    },
    ...(inner.open === undefined ? {} : { open: (owner, listener) => inner.open?.(owner, listener) }),
    ...(inner.leave === undefined
      ? {}
      : {
          leave: (name: string) => {
            calls.leave++;
            return track(inner.leave?.(name));
          },
        }),
    ...(inner.close === undefined ? {} : { close: () => inner.close?.() }),
    ...(inner.confirm === undefined ? {} : { confirm: (binding) => track(inner.confirm?.(binding) ?? false) }),
    ...(inner.canVouch === undefined ? {} : { canVouch: () => inner.canVouch?.() ?? true }),
    ...(inner.doubting === undefined ? {} : { doubting: () => inner.doubting?.() ?? false }),
    ...(inner.addressOf === undefined ? {} : { addressOf: (name: string) => inner.addressOf?.(name) }),
    ...(inner.shared === undefined ? {} : { shared: inner.shared }),
  };
  return { store, calls };
}
