// A startup snapshot's entry for test/examples.snapshot.test.ts: its builder runs warmUp({ udp: true }); the
// process started from it checks that timers fire (Node's own and the library's, which a builder's cleared timers
// could leave unarmed): a plain 1 s timer, and an enrollment with an address nobody answers, which must give up
// after its 600 ms timeout. Prints one JSON line; argument 1 is that address.
import { startupSnapshot } from 'node:v8';
import { EnrollmentManager, MemoryRib, UdpShim, warmUp } from 'rina-enrollment';

warmUp({ udp: true }).catch((err) => {
  console.error('warm-up failed:', err);
  process.exitCode = 1;
});

startupSnapshot.setDeserializeMainFunction(async () => {
  // Some start-up work first (blocking, as reading a configuration may be), so that every timer set below is due
  // after any the builder had armed: left unarmed in this process, Node would then run none of them.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
  const t0 = performance.now();
  const fired = new Promise((resolve) => setTimeout(() => resolve(Math.round(performance.now() - t0)), 1000));
  const shim = await UdpShim.bind('127.0.0.1:0');
  const config = { timeoutMs: 600, maxRetries: 1 };
  const mgr = new EnrollmentManager({ shim, rib: new MemoryRib(), ipcpName: 'lonely', difName: 'demo.DIF', config });
  const outcome = await mgr.enrolWithBootstrap(process.argv[1]).then(
    () => 'enrolled',
    (err) => err.name,
  );
  console.log(JSON.stringify({ outcome, timerMs: await fired }));
  await mgr.close();
  await shim.close();
});
