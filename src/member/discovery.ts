/**
 * The `srv:` entries of a member's configuration: when to look them up, and
 * the lookup itself. A lookup that leaves nothing to try fails the attempt
 * (`DiscoveryError`); recovery never meets that, since the bootstrap of the
 * last enrollment stays known (`BootstrapSet.arrange`), so it needs no
 * backoff of its own.
 *
 * @module
 */
import { type EnrollmentConfig, SRV_BOOTSTRAP_PREFIX } from '../config.js';
import { DiscoveryError } from '../errors.js';
import type { Telemetry } from '../util/telemetry.js';
import type { BootstrapSet, BootstrapSource } from './bootstrap-set.js';
import type { EnrollmentEvents } from './events.js';
import { isSrvBootstrap, parseSrvBootstrap, resolveSrvBootstraps, type SrvDiscoveryOptions } from './srv.js';

/** What discovery needs from the manager. */
export interface DiscoveryInit {
  /** `bootstraps` (in order) and `timeoutMs` (the bound on one lookup). */
  readonly config: Readonly<Pick<EnrollmentConfig, 'bootstraps' | 'timeoutMs'>>;
  /** How the `srv:` entries are resolved (the family already settled). */
  readonly discoveryOptions: SrvDiscoveryOptions;
  readonly bootstraps: BootstrapSet;
  readonly random: () => number;
  readonly telemetry: Telemetry<EnrollmentEvents>;
  /** The member's IPCP name, if set (read at each use: it may be set later). */
  readonly ipcpName: string | undefined;
  /** The bootstrap of the last enrollment: kept even when the DNS no longer lists it. */
  lastBootstrap(): string | undefined;
}

interface SrvEntry {
  readonly entry: string;
  readonly name: string;
  /** What it resolved to last (undefined: never resolved). */
  addresses: readonly string[] | undefined;
}

/** What runs ask of discovery. */
export interface DiscoveryPart {
  /** Whether there is any `srv:` entry. */
  readonly enabled: boolean;
  /** Looks the entries up if due (see {@link Discovery.ifNeeded}). */
  ifNeeded(signal: AbortSignal): Promise<void>;
}

/** The discovery of a member without `srv:` entries: nothing to look up. */
export const NO_DISCOVERY: DiscoveryPart = Object.freeze({ enabled: false, ifNeeded: async () => undefined });

/** The `srv:` entries and their lookups: made only for a configuration that has some. */
export class Discovery implements DiscoveryPart {
  readonly enabled = true;
  readonly #init: DiscoveryInit;
  readonly #srv: SrvEntry[];

  constructor(init: DiscoveryInit) {
    this.#init = init;
    this.#srv = init.config.bootstraps
      .filter(isSrvBootstrap)
      .map((entry) => ({ entry, name: parseSrvBootstrap(entry), addresses: undefined }));
  }

  /**
   * Resolves the `srv:` entries before an attempt when none was ever
   * resolved, when none is known, or when every known bootstrap has failed
   * since the last lookup (or the last enrollment): one lookup per round
   * through them.
   */
  async ifNeeded(signal: AbortSignal): Promise<void> {
    const { bootstraps } = this.#init;
    // With none known, every known one has failed.
    const due = bootstraps.allFailedSinceDiscovery() || this.#srv.every((srv) => srv.addresses === undefined);
    if (due) await this.#discover(signal);
  }

  /**
   * Resolves every `srv:` entry and learns the enrollers listed, in RFC 2782
   * order. An entry whose lookup fails keeps what it resolved to before.
   * Throws `DiscoveryError` only when no bootstrap is left to try.
   */
  async #discover(signal: AbortSignal): Promise<void> {
    const { discoveryOptions: options, random, bootstraps, telemetry } = this.#init;
    const { timeoutMs } = this.#init.config;
    const results = await Promise.allSettled(
      this.#srv.map((srv) => resolveSrvBootstraps(srv.entry, { ...options, random, timeoutMs, signal })),
    );
    if (signal.aborted) throw signal.reason;
    const failed: DiscoveryError[] = [];
    results.forEach((result, i) => {
      const srv = this.#srv[i] as SrvEntry;
      if (result.status === 'fulfilled') {
        srv.addresses = result.value;
        const found = result.value.length === 0 ? 'the service is not available there' : result.value.join(', ');
        const fields = { event: 'discovery', ipcpName: this.#init.ipcpName, srv: srv.name, bootstraps: result.value };
        telemetry.log('debug', fields, `${srv.name}: ${found}`);
        return;
      }
      // A DiscoveryError: the entries and options were checked with the manager's, and an abort is thrown above.
      failed.push(result.reason as DiscoveryError);
    });
    bootstraps.arrange(this.#preferred(), this.#init.lastBootstrap());
    // A failed lookup is worth a warning when the member goes on without it; when it ends the
    // attempt, the attempt's failure says it (once), and the lookup's own line is detail.
    const level = bootstraps.size > 0 ? 'warn' : 'debug';
    for (const error of failed) {
      telemetry.log(level, { event: 'discovery', ipcpName: this.#init.ipcpName, srv: error.srvName, err: error }, error.message);
    }
    bootstraps.newRound();
    if (bootstraps.size > 0) return;
    throw failed[0] ?? new DiscoveryError((this.#srv[0] as SrvEntry).name, 'the service is not available at this domain (SRV target ".")');
  }

  /** `config.bootstraps` with each `srv:` entry replaced by the enrollers it resolved to last. */
  #preferred(): Array<{ address: string; source: BootstrapSource }> {
    const preferred: Array<{ address: string; source: BootstrapSource }> = [];
    let next = 0;
    for (const entry of this.#init.config.bootstraps) {
      if (!isSrvBootstrap(entry)) preferred.push({ address: entry, source: 'config' });
      else for (const address of this.#srv[next++]?.addresses ?? []) preferred.push({ address, source: 'dns' });
    }
    return preferred;
  }

  /** The name a failed lookup is reported under when no bootstrap was known: `srv:` and the SRV name. */
  static entryOf(error: DiscoveryError): string {
    return `${SRV_BOOTSTRAP_PREFIX}${error.srvName}`;
  }
}
