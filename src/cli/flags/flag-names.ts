/**
 * A `ConfigError` of the library said in the CLI's words: `--retries: must be
 * >= 1`, not `config.maxRetries: ...`, or the `--config` key or environment
 * variable the value came from.
 *
 * @module
 */
import type { ConfigError } from '../../index.js';
import type { PresetSources } from './presets.js';

/** Which flag sets which option, to name the flag the operator typed in a `ConfigError`. */
const FLAG_OF: Readonly<Record<string, string>> = {
  'config.heartbeatIntervalSecs': '--heartbeat-interval',
  'config.connectionTimeoutSecs': '--connection-timeout',
  'config.timeoutMs': '--timeout',
  'config.maxRetries': '--retries',
  'config.bootstraps': '--bootstrap',
  ipcpName: '--name',
  difName: '--dif',
  addressPool: '--pool',
  'addressPool.first': '--pool',
  'addressPool.last': '--pool',
  leaseMs: '--lease',
  holdMs: '--hold',
  maxPduBytes: '--max-pdu-bytes',
  ratePerSecond: '--rate-per-second',
  rateBurst: '--rate-burst',
  maxTrackedPeers: '--max-tracked-peers',
  maxPendingEnrollments: '--max-pending-enrollments',
  pendingTimeoutMs: '--pending-timeout',
  maxMembers: '--max-members',
  releasePerSecond: '--release-per-second',
  allowedNames: '--allowed-names',
  leaseTtlSecs: '--etcd-lease-ttl',
  recvBufferSize: '--recv-buffer',
  'discovery.dnsServers': '--dns-server',
  prefix: '--etcd-prefix',
  alternates: '--alternate',
  'tls.ca': '--etcd-cacert',
  'tls.cert': '--etcd-cert',
  'tls.key': '--etcd-key',
  'auth.username': '--etcd-user',
  'auth.password': '--etcd-password-file',
};

/** The same by bare option name, for the rules that name another option ("must be greater than heartbeatIntervalSecs"). */
const FLAG_OF_NAME = new Map(
  Object.entries(FLAG_OF)
    .filter(([field]) => !field.includes('.') || field.startsWith('config.')) // not "key", "cert": too common a word
    .map(([field, flag]) => [field.split('.').at(-1) as string, flag]),
);
const OPTION_NAME = new RegExp(`\\b(${[...FLAG_OF_NAME.keys()].join('|')})\\b`, 'g');

/** A `ConfigError` said in flags; a flag preset from a file or the environment is named as that (see `sources`). */
export function inFlags(err: ConfigError, sources: PresetSources): string {
  return err.issues
    .map((i) => {
      const field = i.field.replace(/\.\d+$/, ''); // config.bootstraps.0 is --bootstrap
      const flag = FLAG_OF[field];
      const where = flag === undefined ? field : (sources.get(flag) ?? flag);
      return `${where}: ${i.rule.replace(OPTION_NAME, (name) => FLAG_OF_NAME.get(name) ?? name)}`;
    })
    .join('; ');
}
