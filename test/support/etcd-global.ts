/**
 * vitest global setup: one throw-away etcd on 127.0.0.1 for every etcd test
 * of the run (each test uses a prefix of its own). Tests that stop or kill
 * etcd start their own with the same helper.
 */
import type { TestProject } from 'vitest/node';
import { ETCD_INSTALL_HINT, type EtcdCluster, findEtcd, startEtcd } from '../../src/cli/etcd-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The shared etcd's client URL, or '' when no etcd binary was found. */
    etcdEndpoint: string;
  }
}

let cluster: EtcdCluster | undefined;

export async function setup(project: TestProject): Promise<void> {
  if (findEtcd() === undefined) {
    // One line for the whole run; under CI=true the etcd tests fail instead (see test/support/etcd.ts).
    if (process.env.CI !== 'true') console.warn(`etcd tests skipped: ${ETCD_INSTALL_HINT}`);
    project.provide('etcdEndpoint', '');
    return;
  }
  cluster = await startEtcd();
  project.provide('etcdEndpoint', cluster.endpoints[0] ?? '');
}

export async function teardown(): Promise<void> {
  await cluster?.close();
}
