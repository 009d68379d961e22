/**
 * Node's own modules that only some paths need, fetched at their first use
 * with `process.getBuiltinModule` (Node >= 20.16) instead of a static
 * import. A static `import { x } from 'node:crypto'` loads the module at
 * `import('rina-enrollment')`, and its ES-module facade reads every export,
 * which loads the lazy parts too (Web Crypto, for node:crypto): a member
 * that never authenticates would pay for all of it in every fresh process
 * (bench scenario 8).
 *
 * @module
 */

/** node:crypto: HMAC authentication and its secure channel only. */
export const crypto = (): typeof import('node:crypto') => process.getBuiltinModule('node:crypto');

/** node:dns/promises: SRV discovery only (a Resolver per lookup). */
export const dns = (): typeof import('node:dns/promises') => process.getBuiltinModule('node:dns/promises');

/** node:net: IP literal checks, when an address is parsed (dgram loads it anyway at the first send). */
export const net = (): typeof import('node:net') => process.getBuiltinModule('node:net');

/**
 * node:dgram: UdpShim.bind only. Also keeps the library out of Node's warning
 * about dgram in a startup snapshot's builder unless the builder binds one.
 */
export const dgram = (): typeof import('node:dgram') => process.getBuiltinModule('node:dgram');
