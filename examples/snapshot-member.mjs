// A member IPCP started from a V8 startup snapshot: the library is loaded and its enrollment code compiled
// before the process starts, so its first enrollment costs about what a second one does (docs/COLD-START.md).
//   npx esbuild examples/snapshot-member.mjs --bundle --platform=node --format=cjs --outfile=member-entry.cjs
//   node --snapshot-blob member.blob --build-snapshot member-entry.cjs
//   node --snapshot-blob member.blob [bootstrap host:port] [IPCP name]
import { startupSnapshot } from 'node:v8';
import { EnrollmentManager, MemoryRib, UdpShim, warmUp } from 'rina-enrollment';

if (!startupSnapshot.isBuildingSnapshot()) {
  throw new Error('this file builds a startup snapshot: see its first lines');
}

// While the snapshot is built: one enrollment in memory, nothing left open. The builder waits for it.
warmUp().catch((err) => {
  console.error('warm-up failed:', err);
  process.exitCode = 1;
});

// What every process started from the snapshot runs (its arguments follow the blob's name).
startupSnapshot.setDeserializeMainFunction(async () => {
  const bootstrap = process.argv[1] ?? '127.0.0.1:7000';
  const name = process.argv[2] ?? 'member-1';
  const shim = await UdpShim.bind('127.0.0.1:0');
  const mgr = new EnrollmentManager({ shim, rib: new MemoryRib(), ipcpName: name, difName: 'demo.DIF' });
  try {
    const started = performance.now();
    const dif = await mgr.enrolWithBootstrap(bootstrap);
    const ms = (performance.now() - started).toFixed(2);
    console.log(`${name} enrolled in ${dif} as address ${mgr.address} (first enrollment: ${ms} ms)`);
  } finally {
    await mgr.close(); // M_RELEASE
    await shim.close();
  }
});
