// One member in a fresh process, for the cold scenario (bench/scenarios/cold.ts): plain JavaScript, so that
// nothing but Node itself runs before the library is imported. Environment:
//   RINA_COLD_LIB        the library's index.js (the build as published); or a module URL to import instead (the floor)
//   RINA_COLD_BOOTSTRAP  the enroller's UDP address; unset: only the import is timed
//   RINA_COLD_PROFILE    a file to write a CPU profile of the first enrollment to (inspector, 50 µs sampling)
// Prints one JSON line of durations in ms.
// Timed with process.hrtime, not performance.now(): the first use of the `performance` global makes Node load
// perf_hooks (1-2 ms here), which would then be done before the library's own first use of it and not counted.
const hrMs = () => Number(process.hrtime.bigint()) / 1e6;
const started = hrMs();
const lib = await import(process.env.RINA_COLD_LIB);
const imported = hrMs();
const out = { startupMs: 0, importMs: imported - started };
const bootstrap = process.env.RINA_COLD_BOOTSTRAP;
if (bootstrap !== undefined) {
  const { EnrollmentManager, MemoryRib, UdpShim } = lib;
  const name = `cold-${process.pid}`;
  const shim = await UdpShim.bind('127.0.0.1:0');
  const bound = hrMs();
  const manager = new EnrollmentManager({ shim, rib: new MemoryRib(), ipcpName: name, difName: 'demo.DIF' });
  const constructed = hrMs();
  const profile = process.env.RINA_COLD_PROFILE;
  let session;
  if (profile !== undefined) {
    const { Session } = await import('node:inspector');
    session = new Session();
    session.connect();
    const post = (method, params) =>
      new Promise((resolve, reject) => session.post(method, params, (err, res) => (err ? reject(err) : resolve(res))));
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: 50 });
    await post('Profiler.start');
    session.postAsync = post;
  }
  const t0 = hrMs();
  await manager.enrolWithBootstrap(bootstrap);
  const first = hrMs() - t0;
  if (session !== undefined) {
    const { profile: cpu } = await session.postAsync('Profiler.stop');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(profile, JSON.stringify(cpu));
    session.disconnect();
  }
  // A second member in the same process: what is left once everything has been used once.
  const shim2 = await UdpShim.bind('127.0.0.1:0');
  const second = new EnrollmentManager({ shim: shim2, rib: new MemoryRib(), ipcpName: `${name}-2`, difName: 'demo.DIF' });
  const t1 = hrMs();
  await second.enrolWithBootstrap(bootstrap);
  Object.assign(out, { bindMs: bound - imported, constructMs: constructed - bound, firstMs: first, secondMs: hrMs() - t1 });
  await manager.close();
  await second.close();
  await shim.close();
  await shim2.close();
}
// Node's start-up, to the first line of this script: ms since the process began (performance's time origin),
// read only now that nothing else is timed.
out.startupMs = performance.now() - (hrMs() - started);
process.stdout.write(`${JSON.stringify(out)}\n`);
