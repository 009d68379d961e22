/**
 * The etcd parts of the library under test, loaded only when a scenario asks
 * for them (they pull in gRPC): `rina-enrollment/etcd` and the throw-away
 * etcd launcher of src/cli/etcd-server.ts, from the same build as
 * bench/lib/lib.ts (the build in bench/.dist, or src/ through tsx).
 */
import { pathToFileURL } from 'node:url';
import type * as EtcdServer from '../../src/cli/etcd-server.js';
import type * as EtcdLib from '../../src/etcd/index.js';
import { LIB_PATH } from './lib.js';

const built = (relative: string): string | undefined =>
  LIB_PATH === undefined ? undefined : new URL(relative, pathToFileURL(LIB_PATH)).href;

/** `rina-enrollment/etcd` (EtcdAddressStore). */
export async function loadEtcdStore(): Promise<typeof EtcdLib> {
  return (await import(built('./etcd/index.js') ?? '../../src/etcd/index.js')) as typeof EtcdLib;
}

/** `startEtcd()`, `findEtcd()` and the install hint. */
export async function loadEtcdServer(): Promise<typeof EtcdServer> {
  return (await import(built('./cli/etcd-server.js') ?? '../../src/cli/etcd-server.js')) as typeof EtcdServer;
}
