/**
 * `rina-enrollment/etcd`: several enrollers sharing one address space on
 * etcd. A subpath of its own, so that importing the core never loads gRPC.
 *
 * @module
 */
export { type EtcdAddressStoreOptions, EtcdAddressStore, type EtcdStoreStats } from './etcd-address-store.js';
