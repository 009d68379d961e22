/** Messages between the benchmark and its child process (bench/child.ts). */

/**
 * Enroller options that can travel over IPC (no shim, RIB or store objects),
 * e.g. `{ leaseMs: 90_000, maxPendingEnrollments: 10_000 }`; passed through
 * to `new Enroller()` as they are, which validates them.
 */
export type PlainEnrollerOptions = Record<string, unknown>;

export type EtcdFloorOp = 'txn' | 'bind' | 'range';

/** Which AddressStore the child's enroller uses (scenario 7 compares them). */
export type StoreSpec =
  | { kind: 'memory' }
  | { kind: 'file'; path: string }
  /** An EtcdAddressStore on `hosts`, every key under `prefix`. */
  | { kind: 'etcd'; hosts: string[]; prefix: string; leaseTtlSecs?: number; txnTargetMs?: number };

export type ChildRequest =
  | {
      id: number;
      type: 'enroller';
      port?: number;
      statePath?: string;
      options?: PlainEnrollerOptions;
      /** The store, wrapped in a pass-through that counts its calls (instead of `statePath`). */
      store?: StoreSpec;
      /** The enroller's IPCP name (default `bootstrap`); enrollers sharing an etcd need distinct ones. */
      ipcpName?: string;
    }
  | { id: number; type: 'echo' }
  /**
   * Resolves once no store call is in flight and the enroller lists at most
   * `members` members (a released member's M_RELEASE has arrived), or after
   * `timeoutMs`; `settled` says which.
   */
  | { id: number; type: 'settle'; members?: number; timeoutMs?: number }
  /**
   * The etcd floor, timed in this process with its own etcd3 client, one
   * request at a time: `txn`, a bare transaction putting `key`; `bind`, a
   * transaction shaped like EtcdAddressStore's bind (2 create-revision
   * compares, 3 puts, no lease) on fresh keys under the prefix `key`;
   * `range`, a range read of every key under the prefix `key`.
   */
  | { id: number; type: 'etcd-floor'; hosts: string[]; op: EtcdFloorOp; key: string; samples: number }
  | { id: number; type: 'mark'; target?: number }
  | { id: number; type: 'stats' }
  | { id: number; type: 'members' }
  | { id: number; type: 'stop' };

/** What the child counted since the last `mark`. */
export interface ChildStats {
  cpuMs: number;
  wallMs: number;
  /** Datagrams received / sent by the enroller's or echo server's socket. */
  received: number;
  sent: number;
  /** Most enrollments in progress at once (sampled after every PDU). */
  maxPending: number;
  pending: number;
  members: number;
  /** `member:enrolled` events. */
  enrolled: number;
  /** CPU ms and wall ms from the mark to the `target`-th enrollment. */
  targetCpuMs: number | undefined;
  targetWallMs: number | undefined;
  firstEnrolledWallMs: number | undefined;
  storeWrites: number;
  heapUsed: number;
  /** The child process's resident set, bytes. */
  rss: number;
  /** The enroller socket's receive buffer (bytes, as the kernel granted UdpShim's default request). */
  recvBufferBytes: number | undefined;
  /** `enroller.stats()` (busy answers, rate-limited PDUs, ...) where the Enroller has it. */
  enroller: Record<string, number> | undefined;
  /**
   * With a `store` spec: the store's counters since the mark (calls to bind /
   * release / leave; an EtcdAddressStore's `stats()`; a FileAddressStore's
   * file writes), and the same since the store was made (`storeTotal`).
   */
  store: Record<string, number> | undefined;
  storeTotal: Record<string, number> | undefined;
}

export interface ChildReply {
  id: number;
  ready?: boolean;
  address?: string;
  stats?: ChildStats;
  members?: Array<{ name: string; address: number }>;
  settled?: boolean;
  /** etcd-floor: each request's round trip, ms, in order; `keys`: what the last range read returned. */
  samples?: number[];
  keys?: number;
  error?: string;
}
