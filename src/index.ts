/**
 * rina-enrollment: enrollment of RINA IPC processes into a DIF.
 *
 * This file is the package's whole public surface.
 *
 * @module rina-enrollment
 */
export * from './errors.js';
export { diagnosticsChannels, type Logger, type LogLevel } from './diagnostics.js';
export type { AuthOptions } from './auth/auth.js';
export {
  AuthType,
  type AuthValue,
  CdapFlags,
  type CdapMessage,
  type DataTransferConstants,
  type EnrollmentInfo,
  type ObjValue,
  OpCode,
} from './cdap/types.js';
export { decodeCdapMessage, decodeEnrollmentInfo, encodeCdapMessage, encodeEnrollmentInfo } from './cdap/codec.js';
export {
  ABS_SYNTAX,
  CDAP_VERSION,
  DEFAULT_DT_CONSTANTS,
  ENROLLMENT_OBJECT,
  KEEPALIVE_OBJECT,
} from './cdap/messages.js';
export {
  type EnrollmentConfig,
  type EnrollmentConfigInput,
  enrollmentConfigSchema,
  presets,
  resolveConfig,
} from './config.js';
export { type Shim, type ShimHandler, SMALL_RECV_BUFFER_BYTES } from './shim/shim.js';
export {
  MemoryNetwork,
  type MemoryNetworkFaults,
  type MemoryNetworkOptions,
  type MemoryNetworkStats,
  type MemoryPacket,
} from './shim/memory-network.js';
export { parseUdpAddress, type UdpEndpoint } from './shim/udp-address.js';
export { DEFAULT_RECV_BUFFER_BYTES, UdpShim, type UdpShimOptions, type UdpShimStats } from './shim/udp-shim.js';
export { type MaybePromise, type Rib, RibNames, type RibObject } from './rib/rib.js';
export { MemoryRib } from './rib/memory-rib.js';
export {
  type AddressBinding,
  type AddressStore,
  type AddressStoreListener,
  isSharedStore,
  MemoryAddressStore,
  type SharedAddressStore,
  type StoreOwner,
} from './store/address-store.js';
export { FileAddressStore } from './store/file-address-store.js';
export {
  orderSrvRecords,
  type ResolveSrvOptions,
  resolveSrvBootstraps,
  type SrvDiscoveryOptions,
  type SrvRecord,
  type SrvResolver,
} from './member/srv.js';
export { AddressPool, type AddressPoolRange, type Assignment } from './enroller/address-pool.js';
export { Enroller } from './enroller/enroller.js';
export type { EnrollerEvents, EnrollerStats, MemberInfo } from './enroller/events.js';
export type { EnrollerOptions } from './enroller/options.js';
export type { Clock } from './util/clock.js';
export { EnrollmentManager } from './member/enrollment-manager.js';
export type { ConnectionMonitor, EnrollmentEvents, EnrollmentState, OperationOptions } from './member/events.js';
export type { EnrollmentManagerOptions } from './member/options.js';
export { type WarmUpOptions, warmUp } from './warm-up.js';
