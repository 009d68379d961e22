/**
 * Recovery converges, in random worlds under random fault schedules.
 *
 * Each world: 1-4 enrollers with separate pools (one may be nearly full),
 * 1-30 members with random valid configs, all enrolled and monitoring; then a
 * random schedule of faults (partitions and heals, members leaving the
 * network and coming back, loss up to 30%, duplication, delay and jitter,
 * enrollers stopped gracefully, killed and restarted from their store), with
 * time passing between them. Then the faults stop, and:
 * - within the bound of {@link convergenceBoundMs}, every member is enrolled at
 *   an enroller that is up and lists it with the same address;
 * - no address is held twice at any moment (checked on every state change);
 * - one connection:lost and one reenroll:success per outage, and only
 *   documented state changes;
 * - once everything is closed and stopped, no timer is left.
 *
 * `npm run test:model -- --runs N --seed S` runs more worlds (MODEL_RUNS,
 * MODEL_SEED, MODEL_PATH in the environment); a failure prints its seed and
 * path for replay.
 */
import fc from 'fast-check';
import { afterEach, expect, it, vi } from 'vitest';
import { convergenceBoundMs, type EnrollerSpec, type MemberSpec, restartBoundMs, World, type WorldSpec } from './world.js';

const RUNS = Number(process.env.MODEL_RUNS ?? 200);
const SEED = Number(process.env.MODEL_SEED ?? 20261201);
const PATH = process.env.MODEL_PATH;
/** fast-check's replay path of the commands (fc.commands' own, printed with a failure). */
const REPLAY = process.env.MODEL_REPLAY;
/** Lines of a failing world's log to print. */
const LOG_LINES = Number(process.env.MODEL_LOG_LINES ?? 60);
/** What the worlds did, summed: printed with MODEL_VERBOSE=1, and checked below so that the model cannot pass by doing nothing. */
const totals = { worlds: 0, members: 0, commands: 0, losses: 0, addressChanges: 0, exhaustedRefusals: 0, simulatedMs: 0 };

/** How many bootstraps a member can know: its own, and those the enrollers it knows advertise, transitively (E of the bound). */
function knownBootstraps(world: WorldSpec, member: MemberSpec): number {
  const known = new Set(member.config.bootstraps);
  for (let grew = true; grew; ) {
    grew = false;
    for (const e of world.enrollers) {
      if (!known.has(e.name)) continue;
      for (const a of e.alternates) {
        if (!known.has(a)) {
          known.add(a);
          grew = true;
        }
      }
    }
  }
  return known.size;
}

afterEach(() => {
  vi.useRealTimers();
});

// ---- worlds -------------------------------------------------------------------

const worldSpec: fc.Arbitrary<WorldSpec> = fc
  .record({
    enrollers: fc.integer({ min: 1, max: 4 }),
    members: fc.integer({ min: 1, max: 30 }),
    anchor: fc.nat(),
    tiny: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
    seed: fc.integer(),
  })
  .chain(({ enrollers: e, members: n, anchor: a, tiny, seed }) => {
    const names = Array.from({ length: e }, (_, i) => `e${i}`);
    const anchor = names[a % e] as string;
    const tinyName = tiny !== undefined && e > 1 ? names.find((x) => x !== anchor) : undefined;
    const roomy = names.filter((x) => x !== tinyName);
    const member = (i: number): fc.Arbitrary<MemberSpec> =>
      fc
        .record({
          heartbeatMs: fc.integer({ min: 50, max: 500 }),
          timeoutFactor: fc.integer({ min: 2, max: 6 }),
          timeoutMs: fc.integer({ min: 20, max: 500 }),
          maxRetries: fc.integer({ min: 1, max: 5 }),
          initialBackoffMs: fc.integer({ min: 0, max: 200 }),
          baseMs: fc.integer({ min: 10, max: 500 }),
          capExtraMs: fc.integer({ min: 0, max: 1500 }),
          retransmit: fc.option(fc.double({ min: 0.05, max: 0.5, noNaN: true }), { nil: undefined }),
          others: fc.shuffledSubarray(
            names.filter((x) => x !== anchor),
            { minLength: 0 },
          ),
          anchorAt: fc.nat(),
          initial: fc.nat(),
        })
        .map((r) => {
          const bootstraps = [...r.others];
          bootstraps.splice(r.anchorAt % (bootstraps.length + 1), 0, anchor);
          const candidates = bootstraps.filter((b) => roomy.includes(b));
          return {
            name: `m${i}`,
            initial: candidates[r.initial % candidates.length] as string,
            config: {
              heartbeatIntervalSecs: r.heartbeatMs / 1000,
              connectionTimeoutSecs: (r.heartbeatMs * r.timeoutFactor) / 1000,
              timeoutMs: r.timeoutMs,
              maxRetries: r.maxRetries,
              initialBackoffMs: r.initialBackoffMs,
              reenrollBackoffBaseMs: r.baseMs,
              reenrollBackoffCapMs: r.baseMs + r.capExtraMs,
              bootstraps,
              ...(r.retransmit === undefined ? {} : { retransmitMs: Math.max(1, Math.floor(r.timeoutMs * r.retransmit)) }),
            },
          };
        });
    return fc
      .record({
        enrollers: fc.tuple(
          ...names.map((name, i) =>
            fc.record({
              name: fc.constant(name),
              pool: fc.constant({ first: 1000 * (i + 1) + 1, last: 1000 * (i + 1) + (name === tinyName ? (tiny ?? 1) : 100) }),
              leaseExtraMs: fc.integer({ min: 100, max: 1000 }),
              holdMs: fc.integer({ min: 0, max: 1000 }),
              alternates: fc.subarray(names.filter((x) => x !== name)),
            }),
          ),
        ),
        members: fc.tuple(...Array.from({ length: n }, (_, i) => member(i))),
        upAtEnd: fc.subarray(names.filter((x) => x !== anchor)),
        seed: fc.constant(seed),
      })
      .map(({ enrollers, members, upAtEnd }) => {
        // Leases match the members' timeouts (as documented): the longest one, and some.
        const longest = Math.max(...members.map((m) => m.config.connectionTimeoutSecs * 1000));
        const specs: EnrollerSpec[] = enrollers.map((x) => ({
          name: x.name,
          pool: x.pool,
          leaseMs: longest + x.leaseExtraMs,
          holdMs: x.holdMs,
          alternates: x.alternates,
        }));
        return { enrollers: specs, members, anchor, upAtEnd, seed };
      });
  });

// ---- faults -------------------------------------------------------------------

type Cmd = fc.AsyncCommand<object, World>;

const command = (label: string, run: (w: World) => void | Promise<void>): Cmd => ({
  check: () => true,
  run: async (_model, world) => {
    world.log.push(`-- ${label}`);
    await run(world);
    world.violations.push(...world.conflicts());
  },
  toString: () => label,
});

function faults(spec: WorldSpec): Array<fc.Arbitrary<Cmd>> {
  const members = fc.constantFrom(...spec.members.map((m) => m.name));
  const enrollers = fc.constantFrom(...spec.enrollers.map((e) => e.name));
  return [
    fc.integer({ min: 1, max: 1500 }).map((ms) => command(`advance ${ms} ms`, () => vi.advanceTimersByTimeAsync(ms).then(() => undefined))),
    fc.tuple(members, enrollers).map(([m, e]) => command(`cut ${m}-${e}`, (w) => w.cut(m, e))),
    fc.tuple(members, enrollers).map(([m, e]) => command(`mend ${m}-${e}`, (w) => w.mend(m, e))),
    members.map((m) => command(`isolate ${m}`, (w) => w.isolate(m))),
    members.map((m) => command(`unplug ${m}`, (w) => w.unplug(m))),
    members.map((m) => command(`plug ${m}`, (w) => w.plug(m))),
    members.map((m) => command(`crash ${m}`, (w) => w.crash(m))),
    members.map((m) => command(`restart ${m}`, (w) => w.restart(m))),
    fc
      .record({
        drop: fc.double({ min: 0, max: 0.3, noNaN: true }),
        duplicate: fc.double({ min: 0, max: 0.3, noNaN: true }),
        delayMs: fc.integer({ min: 0, max: 20 }),
        jitterMs: fc.integer({ min: 0, max: 30 }),
      })
      .map((f) => command(`faults ${JSON.stringify(f)}`, (w) => w.net.setFaults(f))),
    enrollers.map((e) => command(`stop ${e}`, (w) => w.stopEnroller(e))),
    enrollers.map((e) => command(`kill ${e}`, (w) => w.killEnroller(e))),
    enrollers.map((e) => command(`start ${e}`, (w) => w.startEnroller(e))),
  ];
}

const scenario = worldSpec.chain((spec) =>
  fc.tuple(fc.constant(spec), fc.commands(faults(spec), { maxCommands: 25, ...(REPLAY === undefined ? {} : { replayPath: REPLAY }) })),
);

// ---- the property ----------------------------------------------------------------

const title = PATH === undefined ? `recovery converges in ${RUNS} random worlds (seed ${SEED})` : `replay of seed ${SEED}, path ${PATH}`;

it(title, async () => {
  const details = await fc.check(
    fc.asyncProperty(scenario, async ([spec, commands]) => {
      // Everything but Date: the library measures time on performance.now(), and a fake Date costs the checker
      // (which reads every enroller's member list, with its Dates, at every state change) more than the worlds.
      vi.useFakeTimers({
        toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'clearImmediate', 'performance'],
      });
      const world = new World(spec);
      const startedAt = performance.now();
      try {
        await world.start((ms) => vi.advanceTimersByTimeAsync(ms).then(() => undefined));
        await fc.asyncModelRun(() => ({ model: {}, real: world }), commands);
        await world.heal();
        const healedAt = performance.now();
        // A restarted process may be in its application's enrol() loop, or enrolled and monitoring: either bound.
        const bounds = new Map(
          [...world.members.values()].map((node) => {
            const E = knownBootstraps(spec, node.spec);
            const bound = convergenceBoundMs(node.spec, E);
            return [node.spec.name, node.incarnation === 0 ? bound : Math.max(bound, restartBoundMs(node.spec, E))];
          }),
        );
        await vi.advanceTimersByTimeAsync(Math.max(...bounds.values()) + 1);
        const problems: string[] = [];
        for (const [name, node] of world.members) {
          const wrong = world.unconverged(name);
          if (wrong !== undefined) problems.push(wrong);
          const late = node.enrolledAt - healedAt - (bounds.get(name) ?? 0);
          if (late > 0) problems.push(`${name} was enrolled again ${late.toFixed(0)} ms past its bound`);
          if (node.losses !== node.recoveries) problems.push(`${name}: ${node.losses} losses but ${node.recoveries} recoveries`);
        }
        problems.push(...world.conflicts(), ...world.violations);
        totals.worlds++;
        totals.members += world.members.size;
        totals.commands += [...commands].length;
        totals.simulatedMs += performance.now() - startedAt;
        for (const node of world.members.values()) {
          totals.losses += node.losses;
          totals.addressChanges += node.addressChanges;
          if (node.addressChanges !== node.expectedAddressChanges) {
            problems.push(`${node.spec.name}: ${node.addressChanges} address:change events for ${node.expectedAddressChanges} changes`);
          }
        }
        totals.exhaustedRefusals += world.exhaustedRefusals;
        if (problems.length > 0) {
          throw new Error(
            `${problems.join('\n')}\n--- what happened (last ${LOG_LINES} lines; MODEL_LOG_LINES for more):\n${world.log.slice(-LOG_LINES).join('\n')}`,
          );
        }
      } finally {
        await world.close();
        await vi.advanceTimersByTimeAsync(0);
        const left = vi.getTimerCount();
        vi.useRealTimers();
        // biome-ignore lint/correctness/noUnsafeFinally: a leaked timer is a failure of its own
        if (left !== 0) throw new Error(`${left} timers left after every member closed and every enroller stopped`);
      }
    }),
    {
      // a replayed path starts with the index of its run: the run count must reach it
      numRuns: PATH === undefined ? RUNS : Math.max(RUNS, Number(PATH.split(':')[0]) + 1),
      seed: SEED,
      ...(PATH === undefined ? {} : { path: PATH }),
      endOnFailure: PATH !== undefined,
    },
  );
  if (details.failed) {
    const commandsPath = /replayPath="([^"]*)"/.exec(fc.stringify(details.counterexample))?.[1];
    const replay =
      `npm run test:model -- --seed ${details.seed} --path "${details.counterexamplePath ?? ''}"` +
      (commandsPath === undefined ? '' : ` --replay "${commandsPath}"`);
    const cause = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
    throw new Error(`a world did not converge; replay it, shrunk, with:\n  ${replay}\n\n${cause}\n\n${fc.defaultReportMessage(details)}`);
  }
  if (process.env.MODEL_VERBOSE) console.log('model totals', totals);
  // The worlds did happen: members lost enrollers, and some came back with another address.
  if (PATH === undefined && RUNS >= 100) {
    expect(totals.losses).toBeGreaterThan(RUNS);
    expect(totals.addressChanges).toBeGreaterThan(0);
    expect(totals.exhaustedRefusals).toBeGreaterThan(0);
  }
}, 600_000);
