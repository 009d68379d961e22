/**
 * `npm run demo`: an enroller and a few members on the in-memory network,
 * through 20% datagram loss, printing who got which address; then one member
 * loses its bootstrap, notices, and comes back with the same address.
 */
import { Enroller, EnrollmentManager, MemoryNetwork, MemoryRib } from '../index.js';

const MEMBERS = Number(process.env.DEMO_MEMBERS ?? 5);

/** Waits for `promise`, failing after `ms`. */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

async function main(): Promise<void> {
  // The library's timers are unref'd (a library never keeps a process alive);
  // a real shim's socket would hold this process open, the in-memory network
  // does not, so the demo holds it open itself until it is done.
  const keepAlive = setInterval(() => undefined, 1000);
  try {
    await run();
  } finally {
    clearInterval(keepAlive);
  }
}

async function run(): Promise<void> {
  const net = new MemoryNetwork({ seed: 7, drop: 0.2, delayMs: 2, jitterMs: 3 });
  const enrollerRib = new MemoryRib();
  enrollerRib.write({ name: '/dif/config/policy/addressing', class: 'policy', value: { strval: 'dynamic' } });
  const enroller = new Enroller({
    shim: net.attach('bootstrap'),
    rib: enrollerRib,
    ipcpName: 'bootstrap',
    difName: 'demo.DIF',
    addressPool: { first: 1002, last: 1999 },
    retransmitMs: 50, // M_STOP again after 50 ms, 100 ms, ... while its M_STOP_R is missing
  });
  await enroller.start();
  console.log('enroller "bootstrap" serves demo.DIF, pool 1002-1999; the network drops 20% of datagrams\n');

  const config = { retransmitMs: 20, heartbeatIntervalSecs: 0.2, connectionTimeoutSecs: 0.6 };
  const members = Array.from({ length: MEMBERS }, (_, i) => {
    const name = `member-${i + 1}`;
    return new EnrollmentManager({ shim: net.attach(name), rib: new MemoryRib(), ipcpName: name, config });
  });

  const started = performance.now();
  await Promise.all(
    members.map(async (mgr) => {
      const t0 = performance.now();
      const dif = await mgr.enrolWithBootstrap('bootstrap');
      const ms = (performance.now() - t0).toFixed(1);
      console.log(`  ${mgr.ipcpName?.padEnd(10)} enrolled in ${dif} with address ${mgr.address}  (${ms} ms)`);
    }),
  );
  console.log(`\n${MEMBERS} members enrolled in ${(performance.now() - started).toFixed(1)} ms`);
  // A member is enrolled once it has sent M_STOP_R; the enroller lists it once that reply arrives
  // (the enroller repeats M_STOP until it does, so a lost reply only delays the listing).
  await within(10_000, 'the enroller listing every member', (async () => {
    while (enroller.members().length < MEMBERS) await new Promise((r) => setTimeout(r, 10));
  })());
  console.log('the enroller lists:');
  for (const m of enroller.members()) console.log(`  ${m.name.padEnd(10)} ${m.address}  via ${m.shimAddress}`);

  const victim = members[0];
  if (victim !== undefined) {
    const before = victim.address;
    console.log(`\n${victim.ipcpName} loses its bootstrap (partition); keepalive every 0.2 s, connection timeout 0.6 s`);
    net.partition(victim.ipcpName ?? '', 'bootstrap');
    const monitor = victim.startConnectionMonitoring();
    await within(5000, 'loss detection', new Promise<void>((resolve) => victim.once('connection:lost', () => resolve())));
    console.log(`  ${victim.ipcpName} noticed the loss; healing the partition`);
    net.heal(victim.ipcpName ?? '', 'bootstrap');
    await within(10_000, 're-enrollment', new Promise<void>((resolve) => victim.once('enrolled', () => resolve())));
    console.log(`  ${victim.ipcpName} re-enrolled with address ${victim.address} (before: ${before})`);
    monitor.stop();
    if (victim.address !== before) throw new Error('address changed across re-enrollment');
  }

  await Promise.all(members.map((m) => m.close()));
  await enroller.stop();
  net.close();
  const s = net.stats();
  console.log(`\nnetwork: ${s.sent} datagrams sent, ${s.lost} lost, ${s.delivered} delivered`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
