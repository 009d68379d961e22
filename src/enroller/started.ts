/**
 * What an enroller says when it starts serving: where, what, with whom; the
 * stored bindings it ignored; and a warning when its shim would drop a burst
 * of enrollments. And, when it stops, whom it releases. And how it starts
 * listening on its shim.
 *
 * @module
 */
import { libraryError, ShimError } from '../errors.js';
import { type Shim, type ShimHandler, SMALL_RECV_BUFFER_BYTES } from '../shim/shim.js';
import type { Telemetry } from '../util/telemetry.js';
import type { AddressBinding } from '../store/address-store.js';
import type { AddressPoolRange } from './address-pool.js';
import type { EnrollerEvents } from './events.js';
import type { AddressLedger } from './ledger.js';
import type { EnrollerSettings } from './options.js';

/** Logs the stored bindings the pool of `range` skipped at the start (`store:skipped`), naming the first ten. */
export function logSkipped(
  skipped: AddressBinding[],
  ipcpName: string,
  range: AddressPoolRange,
  telemetry: Telemetry<EnrollerEvents>,
): void {
  if (skipped.length === 0) return;
  const listed = skipped.slice(0, 10).map((b) => `${JSON.stringify(b.name)}=${b.address}`);
  telemetry.log(
    'warn',
    { enroller: ipcpName, event: 'store:skipped', skipped: skipped.slice(0, 100) },
    `${skipped.length} stored binding${skipped.length === 1 ? '' : 's'} ignored (outside the pool ${range.first}-${range.last}, or an address bound twice): ` +
      `${listed.join(', ')}${skipped.length > listed.length ? ', ...' : ''}`,
  );
}

/** Logs `enroller:started`, and `enroller:small-receive-buffer` when the shim's buffer is under 1 MiB. */
export function logStarted(
  settings: Pick<EnrollerSettings, 'ipcpName' | 'shim' | 'difName'>,
  ledger: Pick<AddressLedger, 'range' | 'bound' | 'shared' | 'otherEnrollers'>,
  telemetry: Telemetry<EnrollerEvents>,
): void {
  const { ipcpName, shim, difName } = settings;
  const { range, bound, shared, otherEnrollers } = ledger;
  telemetry.log(
    'info',
    {
      enroller: ipcpName,
      event: 'enroller:started',
      shimAddress: shim.localAddress,
      difName,
      pool: range,
      bindings: bound,
      ...(shared ? { sharedStore: true, otherEnrollers } : {}),
    },
    `serving ${difName} on ${shim.localAddress}, pool ${range.first}-${range.last}` +
      (shared
        ? `, address space shared (${bound} binding${bound === 1 ? '' : 's'}; other enrollers live: ${otherEnrollers.join(', ') || 'none'})`
        : ''),
  );
  const bytes = shim.recvBufferSize;
  if (bytes === undefined || bytes >= SMALL_RECV_BUFFER_BYTES) return;
  telemetry.log(
    'warn',
    { enroller: ipcpName, event: 'enroller:small-receive-buffer', shimAddress: shim.localAddress, recvBufferSize: bytes },
    `the receive buffer of ${shim.localAddress} is ${Math.round(bytes / 1024)} KiB: a burst of enrollments beyond it is ` +
      'dropped and retransmitted; on Linux raise net.core.rmem_max (sysctl -w net.core.rmem_max=4194304)',
  );
}

/** Logs `enroller:releasing` when a stop tells `count` members (more than none) to fail over with M_RELEASE. */
export function logReleasing(count: number, ipcpName: string, telemetry: Telemetry<EnrollerEvents>): void {
  if (count === 0) return;
  telemetry.log(
    'info',
    { enroller: ipcpName, event: 'enroller:releasing', members: count },
    `stopping: releasing ${count} member${count === 1 ? '' : 's'} (M_RELEASE), so they fail over at once`,
  );
}

/** Listens on `shim` with `handler`; returns the unsubscribe. A shim that refuses (closed, ...) is a `ShimError`. */
export function subscribe(shim: Shim, handler: ShimHandler): () => void {
  try {
    return shim.onReceive(handler);
  } catch (err) {
    throw libraryError(err, ShimError, 'cannot listen on the shim');
  }
}
