// A member IPCP enrolling over UDP, then leaving.
//   node examples/member.mjs [bootstrap host:port] [IPCP name]
import { EnrollmentManager, MemoryRib, UdpShim } from 'rina-enrollment';

const bootstrap = process.argv[2] ?? '127.0.0.1:7000';
const name = process.argv[3] ?? 'member-1';

const shim = await UdpShim.bind('127.0.0.1:0');
const rib = new MemoryRib();
const mgr = new EnrollmentManager({ shim, rib, ipcpName: name, difName: 'demo.DIF' });
mgr.on('state:change', (state) => console.log(`${name}: ${state.type}`));

try {
  const dif = await mgr.enrolWithBootstrap(bootstrap);
  console.log(`${name} enrolled in ${dif} as address ${mgr.address}`);
  const names = rib.list().map((o) => o.name);
  console.log(`RIB: ${names.join(', ')}`);
} finally {
  await mgr.close(); // M_RELEASE
  await shim.close();
}
