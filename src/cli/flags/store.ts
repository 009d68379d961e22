/**
 * Where the enroller keeps its address table: `--state FILE`, or etcd
 * (`--etcd URL ...` with its prefix, lease, TLS and authentication flags, and
 * `--advertise`), or nowhere (memory). Defines those flags, checks that they
 * go together, reads the files they name and opens the store.
 *
 * @module
 */
import type { Command } from 'commander';
import { type AddressStore, FileAddressStore, MemoryAddressStore } from '../../index.js';
import { isWildcardUdpAddress } from '../../shim/udp-address.js';
import { address, collect, seconds, statePath, url } from './parsers.js';
import { readFlagFile, UsageError } from './usage-error.js';

/** The store flags of `rina-enroll bootstrap`. */
export interface StoreFlags {
  listen: string;
  dif: string;
  state?: string;
  etcd?: string[];
  etcdPrefix?: string;
  etcdLeaseTtl?: number;
  etcdCacert?: string;
  etcdCert?: string;
  etcdKey?: string;
  etcdUser?: string;
  etcdPasswordFile?: string;
  advertise?: string;
}

/** TLS and authentication to etcd, as the etcd store takes them. */
export interface EtcdSecurity {
  tls?: { ca: string; cert?: string; key?: string };
  auth?: { username: string; password: string };
}

/** Adds `--state`, the `--etcd*` flags and `--advertise` to `command`. */
export function addStoreOptions(command: Command): Command {
  return command
    .option('--state <file>', 'keep the address table in this file, to survive restarts', statePath)
    .option(
      '--etcd <url>',
      'share the address space with other enrollers through etcd (repeat for each etcd member)',
      (value: string, previous?: string[]) => collect(url('--etcd')(value), previous),
    )
    .option('--etcd-prefix <prefix>', 'etcd key prefix (default /rina/<dif>/)')
    .option('--etcd-cacert <file>', "the CA that signed etcd's certificate (PEM), for https:// --etcd URLs")
    .option('--etcd-cert <file>', "this enroller's client certificate for etcd (PEM; with --etcd-key)")
    .option('--etcd-key <file>', "this enroller's client key for etcd (PEM; with --etcd-cert)")
    .option('--etcd-user <name>', 'etcd user (etcd authentication; its role needs read and write under the prefix)')
    .option('--etcd-password-file <file>', "file holding the etcd user's password")
    .option(
      '--etcd-lease-ttl <secs>',
      "TTL of the enroller's etcd lease: it stops vouching for members this long after losing etcd (default: 10)",
      seconds('--etcd-lease-ttl'),
    )
    .option('--advertise <host:port>', 'the address other enrollers give members for this one (default: --listen)', address);
}

/** Checks the TLS and authentication flags of etcd against each other and the URLs. */
function checkEtcdSecurity(opts: StoreFlags): void {
  if ((opts.etcdCert === undefined) !== (opts.etcdKey === undefined)) throw new UsageError('--etcd-cert and --etcd-key go together');
  if (opts.etcdCert !== undefined && opts.etcdCacert === undefined) {
    throw new UsageError("--etcd-cert needs --etcd-cacert, the CA that signed etcd's certificate");
  }
  if ((opts.etcdUser === undefined) !== (opts.etcdPasswordFile === undefined)) {
    throw new UsageError('--etcd-user and --etcd-password-file go together');
  }
  const https = (opts.etcd ?? []).filter((u) => u.startsWith('https:'));
  if (opts.etcdCacert !== undefined && https.length === 0) throw new UsageError('--etcd-cacert needs https:// --etcd URLs');
  if (opts.etcdCacert === undefined && https.length > 0)
    throw new UsageError(`${https[0]} is https: give --etcd-cacert, the CA that signed etcd's certificate`);
}

/** TLS and authentication to etcd, from `--etcd-cacert/--etcd-cert/--etcd-key` and `--etcd-user/--etcd-password-file`. */
async function etcdSecurityFrom(opts: StoreFlags): Promise<EtcdSecurity> {
  checkEtcdSecurity(opts);
  const out: EtcdSecurity = {};
  if (opts.etcdCacert !== undefined) {
    out.tls = { ca: await readFlagFile('--etcd-cacert', opts.etcdCacert) };
    if (opts.etcdCert !== undefined && opts.etcdKey !== undefined) {
      out.tls.cert = await readFlagFile('--etcd-cert', opts.etcdCert);
      out.tls.key = await readFlagFile('--etcd-key', opts.etcdKey);
    }
  }
  if (opts.etcdUser !== undefined && opts.etcdPasswordFile !== undefined) {
    const password = (await readFlagFile('--etcd-password-file', opts.etcdPasswordFile)).replace(/\r?\n$/, '');
    if (password === '') throw new UsageError(`--etcd-password-file: "${opts.etcdPasswordFile}" is empty`);
    out.auth = { username: opts.etcdUser, password };
  }
  return out;
}

/**
 * Checks that the store flags go together (each etcd flag needs `--etcd`,
 * `--state` excludes it, a wildcard `--listen` needs `--advertise`) and reads
 * the files of etcd's TLS and authentication.
 */
export async function storeSecurityFrom(opts: StoreFlags): Promise<EtcdSecurity> {
  for (const [flag, value] of [
    ['--etcd-lease-ttl', opts.etcdLeaseTtl],
    ['--etcd-cacert', opts.etcdCacert],
    ['--etcd-cert', opts.etcdCert],
    ['--etcd-key', opts.etcdKey],
    ['--etcd-user', opts.etcdUser],
    ['--etcd-password-file', opts.etcdPasswordFile],
  ] as const) {
    if (value !== undefined && opts.etcd === undefined) throw new UsageError(`${flag} needs --etcd`);
  }
  const etcdSecurity = await etcdSecurityFrom(opts);
  if (opts.etcd !== undefined && opts.state !== undefined)
    throw new UsageError('--state and --etcd exclude each other: etcd keeps the table');
  if (opts.etcdPrefix !== undefined && opts.etcd === undefined) throw new UsageError('--etcd-prefix needs --etcd');
  if (opts.advertise !== undefined && opts.etcd === undefined) throw new UsageError('--advertise needs --etcd');
  if (opts.etcd !== undefined && opts.advertise === undefined && isWildcardUdpAddress(opts.listen)) {
    throw new UsageError('--etcd with a wildcard --listen needs --advertise HOST:PORT, the address members reach this enroller at');
  }
  if (opts.advertise !== undefined && isWildcardUdpAddress(opts.advertise)) {
    throw new UsageError('--advertise must be an address members can reach, not a wildcard');
  }
  return etcdSecurity;
}

/** An open-able address store, with its own counters for `/metrics` where it keeps any (etcd's). */
export interface ChosenStore {
  store: AddressStore;
  stats?: () => Readonly<Record<string, number>>;
}

/** The store the flags ask for: etcd, a file, or memory. */
export async function addressStoreFrom(opts: StoreFlags, etcdSecurity: EtcdSecurity): Promise<ChosenStore> {
  if (opts.etcd === undefined) return { store: opts.state === undefined ? new MemoryAddressStore() : new FileAddressStore(opts.state) };
  // Loaded only when asked for: without --etcd the CLI never loads gRPC.
  const store = new (await import('../../etcd/index.js')).EtcdAddressStore({
    hosts: opts.etcd,
    difName: opts.dif,
    ...(opts.etcdPrefix === undefined ? {} : { prefix: opts.etcdPrefix }),
    ...(opts.etcdLeaseTtl === undefined ? {} : { leaseTtlSecs: opts.etcdLeaseTtl }),
    ...etcdSecurity,
  });
  return { store, stats: () => ({ ...store.stats() }) };
}
