/**
 * UDP shim addresses as text: parsing and canonical form. Kept apart from the
 * shim itself so that code naming UDP peers (the member, the enroller, SRV
 * discovery) does not load `node:dgram`.
 *
 * @module
 */
import { ShimError } from '../errors.js';
import { net } from '../util/builtins.js';

/** A parsed UDP shim address. */
export interface UdpEndpoint {
  /** The IP literal, IPv6 without brackets. */
  readonly host: string;
  /** The UDP port, 1-65535 (or 0, any free port, with `allowPortZero`). */
  readonly port: number;
  /** The IP version. */
  readonly family: 4 | 6;
  /** The canonical text form: `1.2.3.4:5` or `[::1]:5`, as `from` reports it. */
  readonly address: string;
}

/** IPv6 literals already made canonical (a peer's address is formatted for every datagram it sends); forgotten past 4096. */
const canonicalV6 = new Map<string, string>();

function canonicalIPv6(host: string): string {
  let canonical = canonicalV6.get(host);
  if (canonical !== undefined) return canonical;
  try {
    canonical = new URL(`udp://[${host}]:1`).hostname.slice(1, -1);
  } catch {
    canonical = host.toLowerCase();
  }
  if (canonicalV6.size >= 4096) canonicalV6.clear();
  canonicalV6.set(host, canonical);
  return canonical;
}

/** The canonical text form of an endpoint: `1.2.3.4:5`, or `[v6]:5` with the IPv6 address compressed and lower-case. */
export function formatUdpAddress(host: string, port: number, family: 4 | 6): string {
  return family === 6 ? `[${canonicalIPv6(host)}]:${port}` : `${host}:${port}`;
}

/**
 * Parses `host:port` (IPv4) or `[v6]:port` into its parts and canonical
 * form. Only IP literals are accepted: a peer's replies come from an IP, and
 * the address a member sends to must be the one it hears from. Throws
 * {@link ShimError} for anything else.
 *
 * @param text - The address to parse.
 * @param options - `allowPortZero` accepts port 0 (any free port, as when binding); `false` by default.
 */
export function parseUdpAddress(text: string, options: { allowPortZero?: boolean } = {}): UdpEndpoint {
  const allowPortZero = options?.allowPortZero === true; // (`?.`: a JavaScript caller's null is no options)
  if (typeof text !== 'string') throw new ShimError('a UDP shim address must be a string like 127.0.0.1:7000 or [::1]:7000');
  const endpoint = tryParseUdpAddress(text, allowPortZero);
  if (endpoint === undefined) {
    throw new ShimError(
      `invalid UDP shim address ${JSON.stringify(text)}: expected IPv4 "host:port" or IPv6 "[host]:port" with an IP literal and a port 1-65535`,
    );
  }
  return endpoint;
}

/**
 * {@link parseUdpAddress} without the error: undefined for anything that is
 * not a UDP shim address (another shim's address is not an error to the
 * code that only asks, and an error's stack trace costs more than the parse).
 */
export function tryParseUdpAddress(text: string, allowPortZero = false): UdpEndpoint | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  const family = match?.[1] !== undefined ? (net().isIPv6(host ?? '') ? 6 : 0) : net().isIPv4(host ?? '') ? 4 : 0;
  if (host === undefined || family === 0 || !Number.isInteger(port) || port > 65535 || (port === 0 && !allowPortZero)) return undefined;
  return { host, port, family, address: formatUdpAddress(host, port, family) };
}

/** Whether `address` is a UDP shim address on a wildcard host (`0.0.0.0` or `::`), which no peer can send to. */
export function isWildcardUdpAddress(address: string): boolean {
  // not a UDP address: another shim's, which names what it names
  const canonical = typeof address === 'string' ? tryParseUdpAddress(address, true)?.address : undefined;
  return canonical !== undefined && (canonical.startsWith('0.0.0.0:') || canonical.startsWith('[::]:'));
}

/**
 * Whether a peer that names `named` as our address means the socket bound
 * at `local`: the same address, or, on a wildcard host (`0.0.0.0`, `::`),
 * any IP literal at its port (the datagram reached the socket, so it was
 * sent to one of this host's addresses on that port). A `::` socket also
 * takes IPv4. Addresses of other shims are compared as text.
 */
export function namesUdpSocket(local: string, named: string): boolean {
  if (named === local) return true;
  const socket = tryParseUdpAddress(local, true);
  const peer = tryParseUdpAddress(named);
  if (socket === undefined || peer === undefined) return false;
  if (peer.address === socket.address) return true;
  return isWildcardUdpAddress(socket.address) && peer.port === socket.port && (socket.family === 6 || peer.family === 4);
}
