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
import { EnrollmentManager } from './member/enrollment-manager.js';
import { MemoryRib } from './rib/memory-rib.js';
import { MemoryNetwork } from './shim/memory-network.js';
import type { Shim } from './shim/shim.js';
import { UdpShim } from './shim/udp-shim.js';

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
 * Runs one enrollment between an {@link Enroller} and an {@link EnrollmentManager}
 * in this process, over a {@link MemoryNetwork} (and, with `udp`, over UDP on
 * 127.0.0.1), then closes both: no socket, timer or listener is left. Rejects
 * with the enrollment's error, or the signal's reason when aborted.
 */
export async function warmUp(options: WarmUpOptions = {}): Promise<void> {
  const { signal } = options;
  signal?.throwIfAborted();
  const network = new MemoryNetwork();
  try {
    await enrolOnce(network.attach('enroller'), network.attach('member'), signal);
  } finally {
    network.close();
  }
  if (options.udp === true) {
    signal?.throwIfAborted();
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
  });
  await enroller.start();
  const member = new EnrollmentManager({ shim: memberShim, rib: new MemoryRib(), ipcpName: 'warm-up.member', difName: DIF });
  try {
    await member.enrolWithBootstrap(enrollerShim.localAddress, signal === undefined ? {} : { signal });
  } finally {
    await member.close();
    await enroller.stop();
  }
}
