/**
 * The end of a successful attempt: what the enroller synced is stored in the
 * RIB, the enrollment is confirmed (M_STOP_R), and the member becomes
 * enrolled, with the events that says, and its keepalives start.
 *
 * @module
 */
import type { SecureChannel } from '../auth/channel.js';
import { replyTo } from '../cdap/messages.js';
import type { CdapMessage } from '../cdap/types.js';
import { EnrollmentAbortedError, libraryError, RibError } from '../errors.js';
import { type Rib, RibNames } from '../rib/rib.js';
import { type Clock, roundMs } from '../util/clock.js';
import { untilAborted } from '../util/join.js';
import type { MaybePromise } from '../util/settle.js';
import type { Telemetry } from '../util/telemetry.js';
import type { AttemptResult } from './attempt.js';
import type { BootstrapSet } from './bootstrap-set.js';
import type { MemberChannels } from './channels.js';
import type { EnrollmentEvents } from './events.js';
import type { Liveness } from './liveness.js';
import type { MetricsRecorder } from './metrics.js';
import type { MemberState } from './state.js';

/** What completing an enrollment needs. */
export interface CompletionInit {
  readonly rib: Rib;
  readonly clock: Clock;
  readonly state: MemberState;
  readonly bootstraps: BootstrapSet;
  readonly channels: MemberChannels;
  readonly liveness: Liveness;
  readonly metrics: MetricsRecorder;
  readonly telemetry: Telemetry<EnrollmentEvents>;
  /** The member's IPCP name, if set (read at each use: it may be set later). */
  readonly ipcpName: string | undefined;
  send(to: string, msg: CdapMessage, channel: SecureChannel | undefined): void;
}

/** How the run that succeeded went. */
export interface RunSummary {
  /** `enrolling` or `reenrolling`. */
  readonly kind: 'enrolling' | 'reenrolling';
  /** Attempts it took. */
  readonly attempts: number;
  /** The address held when it started. */
  readonly previousAddress: number | undefined;
  /** The clock's time when it started. */
  readonly startedAt: number;
  readonly signal: AbortSignal;
}

/**
 * Throws `EnrollmentAbortedError` once the run is aborted: by its callers, or
 * by close(), which aborts it with `ManagerClosedError` right after the state
 * becomes `closed` (the run's failure report names the close).
 */
function stillWanted(signal: AbortSignal): void {
  if (signal.aborted) throw new EnrollmentAbortedError(undefined, { cause: signal.reason });
}

/**
 * A RIB write's answer: a promise raced with the run's abort (one that never
 * settles must not hold `close()` or the run's callers), an answer already
 * there as it is (no promise, no listener on the hot path of a memory RIB).
 */
function written(answer: MaybePromise<void>, signal: AbortSignal): MaybePromise<void> {
  // (a thenable as util/settle.ts tells one: a RIB's promise may come from another realm)
  return typeof (answer as PromiseLike<void> | undefined)?.then === 'function' ? untilAborted(answer as Promise<void>, signal) : answer;
}

/**
 * Writes what the enroller synced and the assigned address into the RIB,
 * unless closed or aborted meanwhile. A RIB that refuses fails the attempt
 * (`RibError`), with backoff like any other failure.
 */
export async function storeResult(init: CompletionInit, result: AttemptResult, signal: AbortSignal): Promise<void> {
  const { rib } = init;
  try {
    for (const object of result.objects) {
      stillWanted(signal);
      await written(rib.write(object), signal);
    }
    stillWanted(signal);
    await written(rib.write({ name: RibNames.address, class: 'address', value: { int64val: BigInt(result.address) } }), signal);
  } catch (err) {
    throw libraryError(err, RibError, 'cannot store the enrolled state');
  }
  stillWanted(signal);
}

/** The attempt with `bootstrap` succeeded and the RIB holds it: confirm to the enroller and become enrolled. Returns the DIF's name. */
export function completeEnrollment(init: CompletionInit, bootstrap: string, result: AttemptResult, run: RunSummary): string {
  const { state, channels, bootstraps, liveness, metrics, telemetry } = init;
  stillWanted(run.signal);
  const synced = result.objects.find((o) => o.name === RibNames.difName)?.value.strval;
  // (the RIB's copy when both name the same DIF: one string, not two)
  const difName = synced !== undefined && synced === result.difName ? synced : (result.difName ?? synced ?? bootstrap);
  channels.completed(bootstrap, result.channel);
  init.send(bootstrap, replyTo(result.stop), result.channel);
  const fresh = bootstraps.learnAdvertised(result.alternates, bootstrap);
  if (fresh.length > 0) {
    const fields = { event: 'bootstraps:advertised', ipcpName: init.ipcpName, bootstrap, learned: fresh };
    telemetry.log('debug', fields, `${bootstrap} advertised ${fresh.join(', ')}`);
  }
  const previous = state.record?.address;
  // One object is both the public state and the record that outlives it: an idle manager holds no second copy.
  // Frozen: what a listener does to the state it is shown cannot change where keepalives go.
  const enrolled = Object.freeze({ type: 'enrolled', bootstrap, address: result.address, difName, since: Date.now() } as const);
  state.record = enrolled;
  liveness.enrolled();
  state.lost = false;
  bootstraps.newRound();
  // Counted before the change, so that a listener closing the manager on it ends the uptime stretch it opened.
  metrics.enrolled();
  state.set(enrolled);
  // A listener of the change may have closed the manager: then the enrollment is over before it is announced.
  if (state.type !== 'enrolled') return difName;
  if (previous !== undefined && previous !== result.address) {
    telemetry.emit('address:change', { previous, address: result.address, bootstrap });
  }
  telemetry.emit('enrolled', { address: result.address, difName, bootstrap });
  endOutage(init, bootstrap, result.address, run);
  // A listener of those events may have closed it too: then no timer is armed.
  if (state.type === 'enrolled') liveness.resume();
  return difName;
}

/** Any enrollment that ends an outage is its recovery, however it was started. */
function endOutage(init: CompletionInit, bootstrap: string, address: number, run: RunSummary): void {
  const { state, metrics, telemetry, clock } = init;
  if (run.kind !== 'reenrolling' && state.outageAt === undefined) return;
  const recoveryMs = roundMs(clock.now() - (state.outageAt ?? run.startedAt));
  if (state.outageAt !== undefined) metrics.recovered(recoveryMs);
  state.outageAt = undefined;
  metrics.reenrollSuccess();
  const { attempts, previousAddress } = run;
  telemetry.emit('reenroll:success', { attempts, bootstrap, address, previousAddress, recoveryMs });
}
