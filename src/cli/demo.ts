/**
 * `npm run demo`: the main job. An enroller (the rina-enroll CLI, a child
 * process with a state file) and 20 members over UDP on 127.0.0.1. The
 * members enrol; the enroller is killed with SIGKILL and stays away a few
 * seconds; every member notices and retries with jittered backoff; the
 * enroller comes back from its state file and every member re-enrolls with
 * its original address. Ends with a summary table and an SVG timeline, and
 * exits 0 only if every member recovered with its original address.
 *
 * `npm run demo -- --ha`: several enrollers, one address space. A throw-away
 * etcd on 127.0.0.1, three enrollers sharing it (`rina-enroll bootstrap
 * --etcd`), the members spread over them; one enroller is killed with
 * SIGKILL and every member it served fails over to the others with its
 * address. Needs an `etcd` binary (Debian: `apt-get install etcd-server`);
 * without one it says so and exits 1.
 *
 * Options: --members N (20), --outage SECS (4), --out DIR (./demo-output), --ha.
 *
 * This file is the entry; the runs are in ./demo/ (single.ts, ha.ts).
 */
import { runHa } from './demo/ha.js';
import { demoOptions } from './demo/options.js';
import { runSingle } from './demo/single.js';

const opts = demoOptions();
(opts.ha ? runHa(opts) : runSingle(opts)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`demo failed: ${(err as Error)?.message ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
