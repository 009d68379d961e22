/**
 * `warmUp()`: one enrollment end to end inside this process, with nothing
 * left open afterwards, for a startup snapshot.
 *
 * A fresh Node process compiles each function at its first call, so its first
 * enrollment costs several times a later one (bench/README.md, "The cold
 * path"). An application that starts many short-lived IPCP processes can build
 * a V8 startup snapshot (`node --build-snapshot`) whose builder calls
 * `warmUp()`: every process started from the snapshot then has the library
 * loaded and its enrollment code compiled (docs/COLD-START.md).
 *
 * @module
 */
import { Enroller } from './enroller/enroller.js';
import { ConfigError } from './errors.js';
import { EnrollmentManager } from './member/enrollment-manager.js';
import { MemoryRib } from './rib/memory-rib.js';
import { MemoryNetwork } from './shim/memory-network.js';
import type { Shim } from './shim/shim.js';
import { UdpShim } from './shim/udp-shim.js';
import type { Clock } from './util/clock.js';
import { signalOf } from './util/schema.js';

/** Options of {@link warmUp}. */
export interface WarmUpOptions {
  /**
   * Also enrol once over two {@link UdpShim}s on 127.0.0.1 (ephemeral ports,
   * closed before it resolves), so that the UDP shim's code is compiled too.
   * Node prints a warning when a snapshot builder uses `node:dgram`.
   * @default false
   */
  readonly udp?: boolean;
  /** Stops the warm-up: it rejects with the signal's reason once everything it opened is closed. */
  readonly signal?: AbortSignal;
}

/** The DIF and names the warm-up uses; nothing outside this process sees them. */
const DIF = 'warm-up.DIF';

/**
 * The system clock, its timers left ref'd. Node keeps the (empty) list of an
 * unref'd timer after it is cleared, with its expiry by the builder's clock,
 * and a snapshot carries that list and Node's next expiry while no timer is
 * armed in the process started from it: every timer due after that expiry
 * then never fires (Node 20 and 24). A ref'd timer's list goes when cleared,
 * and a last timer run ({@link settleNodeTimers}) resets the next expiry.
 * (The library unrefs the handles a clock returns: these are wrapped, so
 * that there is nothing to unref.)
 */
const REFD: Clock = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => ({ timer: setTimeout(callback, ms) }),
  clearTimeout: (handle) => clearTimeout((handle as { timer: ReturnType<typeof setTimeout> } | undefined)?.timer),
  setInterval: (callback, ms) => ({ timer: setInterval(callback, ms) }),
  clearInterval: (handle) => clearInterval((handle as { timer: ReturnType<typeof setInterval> } | undefined)?.timer),
};

/** One timer run with no other due: Node finds its timer lists empty and forgets the expiry it had armed for. */
function settleNodeTimers(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 1));
}

/**
 * Runs one enrollment between an {@link Enroller} and an {@link EnrollmentManager}
 * in this process, over a {@link MemoryNetwork} (and, with `udp`, over UDP on
 * 127.0.0.1), then closes both: no socket, timer or listener is left. Rejects
 * with the enrollment's error, or the signal's reason when aborted.
 */
export async function warmUp(options: WarmUpOptions = {}): Promise<void> {
  const signal = signalOf(options, ['udp']);
  if (signal instanceof ConfigError) throw signal;
  if (signal?.aborted === true) throw signal.reason;
  try {
    await warm(options.udp === true, signal);
  } catch (err) {
    // an abort mid-enrollment ends it with EnrollmentAbortedError (the reason as its cause): the caller gets its own reason
    throw aborted(signal) ? signal?.reason : err;
  } finally {
    await settleNodeTimers();
  }
}

/** Whether `signal` is aborted now (read afresh: TypeScript keeps the value it narrowed before an await). */
const aborted = (signal: AbortSignal | undefined): boolean => signal?.aborted === true;

async function warm(udp: boolean, signal: AbortSignal | undefined): Promise<void> {
  const network = new MemoryNetwork();
  try {
    await enrolOnce(network.attach('enroller'), network.attach('member'), signal);
  } finally {
    network.close();
  }
  if (udp) {
    if (signal?.aborted === true) throw signal.reason;
    const enrollerShim = await UdpShim.bind('127.0.0.1:0');
    const memberShim = await UdpShim.bind('127.0.0.1:0').catch(async (err: unknown) => {
      await enrollerShim.close();
      throw err;
    });
    try {
      await enrolOnce(enrollerShim, memberShim, signal);
    } finally {
      await Promise.all([enrollerShim.close(), memberShim.close()]);
    }
  }
}

/** An enroller on `enrollerShim`, a member on `memberShim`: one enrollment, then both closed (not the shims). */
async function enrolOnce(enrollerShim: Shim, memberShim: Shim, signal: AbortSignal | undefined): Promise<void> {
  const enroller = new Enroller({
    shim: enrollerShim,
    rib: new MemoryRib(),
    ipcpName: 'warm-up.enroller',
    difName: DIF,
    addressPool: { first: 1, last: 15 },
    clock: REFD,
  });
  await enroller.start();
  const member = new EnrollmentManager({
    shim: memberShim,
    rib: new MemoryRib(),
    ipcpName: 'warm-up.member',
    difName: DIF,
    clock: REFD,
  });
  try {
    await member.enrolWithBootstrap(enrollerShim.localAddress, signal === undefined ? {} : { signal });
  } finally {
    await member.close();
    await enroller.stop();
  }
}
