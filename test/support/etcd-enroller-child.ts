/**
 * A child process running an enroller on a UdpShim of 127.0.0.1 with an
 * EtcdAddressStore (lease TTL 2 s), for tests that pause or kill it:
 * argv = etcd endpoint, key prefix. Prints "port <n>" once serving.
 */
import { EtcdAddressStore } from '../../src/etcd/index.js';
import { Enroller, MemoryRib, UdpShim } from '../../src/index.js';

const [endpoint = '', prefix = ''] = process.argv.slice(2);
const shim = await UdpShim.bind('127.0.0.1:0');
const store = new EtcdAddressStore({ hosts: endpoint, prefix, leaseTtlSecs: 2, callTimeoutMs: 500 });
const enroller = new Enroller({
  shim,
  rib: new MemoryRib(),
  ipcpName: 'paused',
  difName: 'pause.DIF',
  addressPool: { first: 1, last: 99 },
  store,
  leaseMs: 60_000,
  holdMs: 60_000,
});
await enroller.start();
console.log(`port ${shim.localAddress.split(':')[1]}`);
process.on('SIGTERM', () => {
  void enroller
    .stop()
    .then(() => shim.close())
    .then(() => process.exit(0));
});
