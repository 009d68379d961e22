/**
 * A child process holding an EtcdAddressStore open, for the test of a dead
 * enroller: argv = endpoint, prefix, enroller name, then name=address pairs
 * to bind. Prints "ready" once bound; the test kills it with SIGKILL.
 */
import { EtcdAddressStore } from '../../src/etcd/index.js';

const [endpoint = '', prefix = '', name = 'child', ...pairs] = process.argv.slice(2);
const store = new EtcdAddressStore({ hosts: endpoint, prefix, leaseTtlSecs: 2 });
const ignore = () => undefined;
await store.open({ name, shimAddress: `${name}-shim` }, { bound: ignore, unbound: ignore, idle: ignore, enrollers: ignore });
await store.load();
for (const pair of pairs) {
  const [member = '', address = '0'] = pair.split('=');
  await store.bind({ name: member, address: Number(address) });
}
console.log('ready');
setInterval(ignore, 1000); // stays until killed
