/** Messages between the benchmark and its child process (bench/child.ts). */

/**
 * Enroller options that can travel over IPC (no shim, RIB or store objects),
 * e.g. `{ leaseMs: 90_000, maxPendingEnrollments: 10_000 }`; passed through
 * to `new Enroller()` as they are, which validates them.
 */
export type PlainEnrollerOptions = Record<string, unknown>;

export type ChildRequest =
  | {
      id: number;
      type: 'enroller';
      port?: number;
      statePath?: string;
      options?: PlainEnrollerOptions;
      /** What-if: serve on a bench-local dgram Shim with this receive buffer instead of UdpShim. */
      recvBufferSize?: number;
    }
  | { id: number; type: 'echo' }
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
  /** The enroller socket's receive buffer (bytes, as the kernel reports it), when known. */
  recvBufferBytes: number | undefined;
  /** `enroller.stats()` (busy answers, rate-limited PDUs, ...) where the Enroller has it. */
  enroller: Record<string, number> | undefined;
}

export interface ChildReply {
  id: number;
  ready?: boolean;
  address?: string;
  stats?: ChildStats;
  members?: Array<{ name: string; address: number }>;
  error?: string;
}
