// An enroller over UDP.
//   node examples/enroller.mjs [listen host:port] [exit after N members]
import { Enroller, MemoryRib, UdpShim } from 'rina-enrollment';

const listen = process.argv[2] ?? '127.0.0.1:7000';
const serve = Number(process.argv[3] ?? Number.POSITIVE_INFINITY);

const shim = await UdpShim.bind(listen);
const enroller = new Enroller({
  shim,
  rib: new MemoryRib(),
  ipcpName: 'bootstrap',
  difName: 'demo.DIF',
  addressPool: { first: 1002, last: 1999 },
});

let served = 0;
const stop = async () => {
  await enroller.stop();
  await shim.close(); // the socket was what kept the process alive
};
enroller.on('member:enrolled', (m) => {
  console.log(`${m.name} enrolled as ${m.address} from ${m.shimAddress}`);
  if (++served >= serve) void stop();
});
process.once('SIGINT', stop);
process.once('SIGTERM', stop);

await enroller.start();
console.log(`enroller serving demo.DIF on ${shim.localAddress}`);
