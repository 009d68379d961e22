import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe } from 'vitest';
import { EtcdAddressStore } from '../../src/etcd/index.js';
import { type AddressStore, FileAddressStore, MemoryAddressStore } from '../../src/index.js';
import { describeEtcd, etcdEndpoint, uniquePrefix } from '../support/etcd.js';
import { cleanup } from '../support/helpers.js';
import { addressStoreConformance, quietListener } from './conformance.js';

afterEach(cleanup);

describe('MemoryAddressStore conformance', () => {
  addressStoreConformance(async () => {
    const store = new MemoryAddressStore();
    return { instance: async () => store, close: async () => undefined, idleAfterMs: 0 };
  });
});

describe('FileAddressStore conformance', () => {
  addressStoreConformance(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rina-conformance-'));
    const path = join(dir, 'table.json');
    return {
      instance: async () => new FileAddressStore(path),
      close: async () => rmSync(dir, { recursive: true, force: true }),
      idleAfterMs: 0,
    };
  });
});

describeEtcd('EtcdAddressStore conformance', () => {
  addressStoreConformance(async () => {
    const prefix = uniquePrefix('conformance');
    const leaseTtlSecs = 2;
    const opened: EtcdAddressStore[] = [];
    let n = 0;
    return {
      instance: async (open: boolean): Promise<AddressStore> => {
        const store = new EtcdAddressStore({ hosts: etcdEndpoint(), prefix, leaseTtlSecs, callTimeoutMs: 1000 });
        if (open) {
          await store.open({ name: `harness-${n++}`, shimAddress: `harness-${n}` }, quietListener);
          opened.push(store);
        }
        return store;
      },
      close: async () => {
        await Promise.all(opened.map((s) => s.close()));
      },
      idleAfterMs: leaseTtlSecs * 1000,
    };
  });
});
