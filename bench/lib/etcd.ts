/**
 * The etcd parts of the library under test, loaded only when a scenario asks
 * for them (they pull in gRPC): `rina-enrollment/etcd`, from the same build as
 * bench/lib/lib.ts (the build in bench/.dist, or src/ through tsx), and the
 * throw-away etcd launcher of src/cli/etcd-server.ts, a helper of the
 * checkout that the package build does not contain (always from src/).
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
  return (await import('../../src/cli/etcd-server.js')) as typeof EtcdServer;
}
