/**
 * A command's life as a process: opening its socket (a failure names the
 * flag), closing it when what is built on it fails, and the signals that end
 * it gracefully.
 *
 * @module
 */
import { MissingDependencyError, type UdpShim } from '../index.js';

/** The signals that end either command gracefully (SIGHUP too: a closed terminal must not kill it without M_RELEASE). */
const SHUTDOWN_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** A wait for a shutdown signal; `stop()` gives the signals back to Node's default handling (a command that failed). */
export interface ShutdownSignal {
  /** Resolves on SIGINT, SIGTERM or SIGHUP, with the signal's name. */
  readonly received: Promise<string>;
  /** Stops listening (the promise never resolves then, if it has not). */
  stop(): void;
}

/**
 * Listens for SIGINT, SIGTERM and SIGHUP until {@link ShutdownSignal.stop}.
 * The first resolves `received`; those that follow are ignored, so that a
 * second SIGTERM (or Ctrl-C pressed twice) does not kill a graceful stop
 * half-way: members not released, a state file left locked. The stop is
 * bounded (a few seconds, and a second per 1,000 members an enroller
 * releases); the process exits once it is done.
 */
export function shutdownSignal(): ShutdownSignal {
  let on: (signal: string) => void = () => undefined;
  const stop = (): void => {
    for (const s of SHUTDOWN_SIGNALS) process.off(s, on);
  };
  const received = new Promise<string>((resolve) => {
    on = resolve; // (a promise settles once: the signals after the first change nothing)
    for (const s of SHUTDOWN_SIGNALS) process.on(s, on);
  });
  return { received, stop };
}

/** Opens a socket for `flag`; a failure (a port in use) names the flag and the address. */
export async function listening<T>(flag: string, at: string, open: () => Promise<T>): Promise<T> {
  try {
    return await open();
  } catch (err) {
    if (err instanceof MissingDependencyError) throw err; // a package to install, not the address: a usage error (exit 2)
    const code = (err as NodeJS.ErrnoException).code ?? (err as { cause?: NodeJS.ErrnoException }).cause?.code;
    const message = (err as Error).message;
    throw new Error(
      code === 'EADDRINUSE' && !message.includes('EADDRINUSE') ? `${flag} ${at}: ${message} (EADDRINUSE)` : `${flag} ${at}: ${message}`,
      {
        cause: err,
      },
    );
  }
}

/** Builds something on an open socket; if that throws (bad options), closes the socket so the process can exit. */
export function closingOnThrow<T>(shim: UdpShim, build: () => T): T {
  try {
    return build();
  } catch (err) {
    void shim.close();
    throw err;
  }
}
