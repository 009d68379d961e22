/**
 * `rina-enrollment/etcd`: several enrollers sharing one address space on
 * etcd. A subpath of its own, so that importing the core never loads gRPC.
 *
 * @module rina-enrollment/etcd
 */
export { EtcdAddressStore } from './etcd-address-store.js';
export type { EtcdAddressStoreOptions, EtcdStoreStats } from './options.js';
