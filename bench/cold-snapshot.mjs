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

// Timed with process.hrtime, as bench/cold-member.mjs is (the first use of `performance` loads perf_hooks).
const hrMs = () => Number(process.hrtime.bigint()) / 1e6;

startupSnapshot.setDeserializeMainFunction(async () => {
  const started = hrMs();
  const bootstrap = process.env.RINA_COLD_BOOTSTRAP;
  const name = `cold-snap-${process.pid}`;
  const shim = await UdpShim.bind('127.0.0.1:0');
  const bound = hrMs();
  const manager = new EnrollmentManager({ shim, rib: new MemoryRib(), ipcpName: name, difName: 'demo.DIF' });
  const constructed = hrMs();
  await manager.enrolWithBootstrap(bootstrap);
  const first = hrMs() - constructed;
  const shim2 = await UdpShim.bind('127.0.0.1:0');
  const second = new EnrollmentManager({ shim: shim2, rib: new MemoryRib(), ipcpName: `${name}-2`, difName: 'demo.DIF' });
  const t1 = hrMs();
  await second.enrolWithBootstrap(bootstrap);
  const out = { startupMs: 0, importMs: 0, bindMs: bound - started, constructMs: constructed - bound, firstMs: first };
  Object.assign(out, { secondMs: hrMs() - t1 });
  await manager.close();
  await second.close();
  await shim.close();
  await shim2.close();
  // Node's start-up and the snapshot's deserialization: ms since the process began, read once nothing else is timed.
  out.startupMs = performance.now() - (hrMs() - started);
  process.stdout.write(`${JSON.stringify(out)}\n`);
});
