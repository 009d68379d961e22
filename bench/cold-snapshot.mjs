// The member of bench/cold-member.mjs, started from a V8 startup snapshot (docs/COLD-START.md): the cold scenario
// (bench/scenarios/cold.ts) bundles this file with the library (esbuild, CommonJS: `rina-enrollment` is the build
// measured) and builds the snapshot with `node --build-snapshot`; its builder loads the library and runs warmUp().
// Each process started with `node --snapshot-blob <blob>` runs the function below. Environment:
//   RINA_COLD_WARM_UDP   1: the builder runs warmUp({ udp: true }) (read when the snapshot is built)
//   RINA_COLD_BOOTSTRAP  the enroller's UDP address (read in each process)
// Prints one JSON line of durations in ms, as bench/cold-member.mjs does (no import: the library is in the snapshot).
import { startupSnapshot } from 'node:v8';
import { EnrollmentManager, MemoryRib, UdpShim, warmUp } from 'rina-enrollment';

warmUp({ udp: process.env.RINA_COLD_WARM_UDP === '1' }).catch((err) => {
  console.error('warm-up failed:', err);
  process.exitCode = 1;
});

startupSnapshot.setDeserializeMainFunction(async () => {
  const started = performance.now(); // ms since the process began: Node's start-up, the snapshot's deserialization
  const bootstrap = process.env.RINA_COLD_BOOTSTRAP;
  const name = `cold-snap-${process.pid}`;
  const shim = await UdpShim.bind('127.0.0.1:0');
  const bound = performance.now();
  const manager = new EnrollmentManager({ shim, rib: new MemoryRib(), ipcpName: name, difName: 'demo.DIF' });
  const constructed = performance.now();
  await manager.enrolWithBootstrap(bootstrap);
  const first = performance.now() - constructed;
  const shim2 = await UdpShim.bind('127.0.0.1:0');
  const second = new EnrollmentManager({ shim: shim2, rib: new MemoryRib(), ipcpName: `${name}-2`, difName: 'demo.DIF' });
  const t1 = performance.now();
  await second.enrolWithBootstrap(bootstrap);
  const out = { startupMs: started, importMs: 0, bindMs: bound - started, constructMs: constructed - bound, firstMs: first };
  Object.assign(out, { secondMs: performance.now() - t1 });
  await manager.close();
  await second.close();
  await shim.close();
  await shim2.close();
  process.stdout.write(`${JSON.stringify(out)}\n`);
});
