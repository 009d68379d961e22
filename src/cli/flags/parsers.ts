/**
 * The parsers of `rina-enroll`'s flag values: each turns the text the
 * operator typed into a value, or throws commander's `InvalidArgumentError`
 * naming the flag (one line on stderr, exit 2).
 *
 * @module
 */
import { InvalidArgumentError } from 'commander';
import { parseUdpAddress } from '../../index.js';
import { isWildcardUdpAddress } from '../../shim/udp-address.js';

/** A number (any finite one); `what` names the flag in the error. */
export const number = (what: string) => (text: string) => {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value)) throw new InvalidArgumentError(`${what} must be a number, got "${text}"`);
  return value;
};

/** A duration in seconds whose milliseconds a Node.js timer can wait (2^31 - 1 ms, about 24.8 days). */
const MAX_SECS = 2_147_483;

/** A duration in seconds, > 0 (or >= 0 with `zero`), at most {@link MAX_SECS}. */
export const seconds =
  (what: string, { zero = false } = {}) =>
  (text: string) => {
    const value = number(what)(text);
    if (value < 0 || (!zero && value === 0))
      throw new InvalidArgumentError(`${what} must be ${zero ? '>= 0' : '> 0'} seconds, got "${text}"`);
    if (value > MAX_SECS) throw new InvalidArgumentError(`${what} must be at most ${MAX_SECS} seconds (about 24.8 days), got "${text}"`);
    return value;
  };

/** Collects a repeated flag into a list. */
export const collect = (value: string, previous: string[] = []) => [...previous, value];

/** A UDP address (`host:port`, `[v6]:port`; port 0 allowed), normalised. */
export const address = (text: string) => {
  try {
    return parseUdpAddress(text, { allowPortZero: true }).address;
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
};

/** A bootstrap: a UDP address with a port (an IP literal: names go through `srv:`), or an `srv:` entry resolved through DNS. */
export const bootstrapEntry = (text: string) => {
  if (text.startsWith('srv:')) return text;
  if (/^[a-z][a-z0-9.-]*(:\d+)?$/i.test(text)) {
    throw new InvalidArgumentError(
      `"${text}" is a host name: give an IP address and a port (127.0.0.1:7000, [::1]:7000), or find enrollers through DNS with srv:_rina-enroll._udp.<domain>`,
    );
  }
  const parsed = address(text);
  if (parseUdpAddress(parsed, { allowPortZero: true }).port === 0)
    throw new InvalidArgumentError(`a bootstrap needs a port, e.g. 127.0.0.1:7000, got "${text}"`);
  return parsed;
};

/** Collects a repeated `--bootstrap`, each checked by {@link bootstrapEntry}. */
export const collectBootstraps = (value: string, previous?: string[]) => collect(bootstrapEntry(value), previous);

/**
 * Collects a repeated `--alternate`: an enroller advertised to members as it
 * is, so an address they can send to: neither an `srv:` entry nor a wildcard.
 */
export const collectAlternates = (value: string, previous?: string[]) => {
  const entry = bootstrapEntry(value);
  if (entry.startsWith('srv:') || isWildcardUdpAddress(entry)) {
    throw new InvalidArgumentError(
      `an alternate is advertised to members as it is: give the IP address and port they reach it at, got "${value}"`,
    );
  }
  return collect(entry, previous);
};

/** An etcd client URL: http(s), a port, no path. */
export const url = (what: string) => (text: string) => {
  const parsed = URL.canParse(text) ? new URL(text) : undefined;
  if (parsed === undefined || !/^https?:$/.test(parsed.protocol) || parsed.port === '' || !['', '/'].includes(parsed.pathname)) {
    throw new InvalidArgumentError(`${what} must be an etcd client URL such as http://127.0.0.1:2379, got "${text}"`);
  }
  return text;
};

/** An address pool `FIRST-LAST`. */
export const pool = (text: string) => {
  const match = /^(\d+)-(\d+)$/.exec(text);
  if (!match) throw new InvalidArgumentError(`the pool must be FIRST-LAST, e.g. 1002-1999, got "${text}"`);
  const [first, last] = [Number(match[1]), Number(match[2])];
  if (first > last) throw new InvalidArgumentError(`the pool's first address must not exceed its last, got "${text}"`);
  return { first, last };
};

/** `--state`: a file path, not blank. */
export const statePath = (text: string) => {
  if (text.trim() === '') throw new InvalidArgumentError('--state needs a file path');
  return text;
};

/** `--recv-buffer`: a whole number of bytes a socket option takes. */
export const recvBuffer = (text: string) => {
  const value = number('--recv-buffer')(text);
  if (!Number.isInteger(value) || value < 1 || value > 2 ** 31 - 1) {
    throw new InvalidArgumentError(`--recv-buffer must be a whole number of bytes from 1 to ${2 ** 31 - 1}, got "${text}"`);
  }
  return value;
};

/** `--from`: an http(s) URL. */
export const httpUrl = (text: string) => {
  if (!URL.canParse(text) || !/^https?:$/.test(new URL(text).protocol)) {
    throw new InvalidArgumentError(`--from must be an http URL such as http://127.0.0.1:9100, got "${text}"`);
  }
  return text;
};
