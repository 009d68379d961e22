/**
 * Random worlds for the enroller's pool on a shared store (written by a review, 2026-12-06): a random interleaving
 * of member enrollments, another enroller's writes, lease lapses, stop/start, delayed / lost / failed transaction
 * answers and lagging watch events, on an in-memory etcd that evaluates transactions (test/support/mini-etcd.ts);
 * then the world heals and the pool is checked against etcd (pool-world.ts). It found the two defects of
 * enroller.late-watch-evicts.test.ts and enroller.moved-out-of-pool.test.ts at once.
 *
 * The suite runs a fixed seed (1, 150 worlds, about a second); FUZZ_SEED=n FUZZ_RUNS=n explore others, REPLAY='[...]'
 * replays one counterexample (FUZZ_DEBUG=1 prints its log). Seeds 2, 17, 219 and 234 found three more defects, kept
 * below as cases. Since 2026-12-06 the worlds also connect without sending M_START, mostly as member n0 (both from a
 * review's copy of these worlds): with the heir fix of enroller.heir-unmarked.test.ts switched off, seeds 1, 2, 3
 * and 6 of 3,000 worlds each find that defect; the worlds before these changes found it in none of those four.
 * Also since then (from a second review's copy): a member e1 lists while healthy carries e1's mark after every step,
 * not only at the end (5); and worlds with a 2 s lease TTL whose doubts the world drives (questions about the lease
 * held, answered alive, expired or failed; stream keepalives; quiet time): some 50 doubts per 100 worlds.
 * REPLAY_TTL=2 replays one of those.
 */
import fc from 'fast-check';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { settle } from '../support/helpers.js';
import { deferred } from '../support/scripted-etcd.js';
import { FIRST, LAST, World } from './pool-world.js';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date', 'performance'] });
});
afterEach(() => {
  vi.useRealTimers();
});

const MEMBERS = ['n0', 'n1', 'n2'];
const OTHERS = ['x0', 'x1', 'n0', 'n1'];

type Action =
  | { k: 'connect'; i: number }
  | { k: 'connectOnly'; i: number }
  | { k: 'start'; i: number; req: number }
  | { k: 'stopR'; i: number }
  | { k: 'ka'; i: number }
  | { k: 'answer'; j: number; mode: 'ok' | 'lost' | 'fail' }
  | { k: 'deliver'; n: number }
  | { k: 'tick'; ms: number }
  | { k: 'e2bind'; name: number; addr: number }
  | { k: 'e2leave'; name: number }
  | { k: 'e2release'; name: number }
  | { k: 'lapse' }
  | { k: 'restart' }
  // worlds whose lease is in doubt (a 2 s TTL): e1's next question about its lease waits for an answer
  | { k: 'question' }
  | { k: 'answerQ'; mode: 'alive' | 'expired' | 'failed' }
  | { k: 'streamKa' }
  | { k: 'quiet'; ms: number };

/**
 * Which member acts: mostly n0, so that one member's enrollments overlap (a reconnect while its bind is in
 * flight, an heir of a session that never sent M_START), as a review's copy of these worlds needed to reach
 * the unmarked heir of enroller.heir-unmarked.test.ts.
 */
const member = fc.constantFrom(0, 0, 0, 1, 2);

const actions = [
  { arbitrary: fc.record({ k: fc.constant('connect' as const), i: member }), weight: 3 },
  { arbitrary: fc.record({ k: fc.constant('connectOnly' as const), i: member }), weight: 2 },
  { arbitrary: fc.record({ k: fc.constant('start' as const), i: member, req: fc.nat(LAST) }), weight: 2 },
  { arbitrary: fc.record({ k: fc.constant('stopR' as const), i: member }), weight: 5 },
  { arbitrary: fc.record({ k: fc.constant('ka' as const), i: member }), weight: 1 },
  {
    arbitrary: fc.record({
      k: fc.constant('answer' as const),
      j: fc.nat(3),
      mode: fc.constantFrom('ok' as const, 'ok' as const, 'lost' as const, 'fail' as const),
    }),
    weight: 6,
  },
  { arbitrary: fc.record({ k: fc.constant('deliver' as const), n: fc.integer({ min: 1, max: 8 }) }), weight: 4 },
  { arbitrary: fc.record({ k: fc.constant('tick' as const), ms: fc.constantFrom(10, 300, 1200, 3500, 6000) }), weight: 2 },
  { arbitrary: fc.record({ k: fc.constant('e2bind' as const), name: fc.nat(3), addr: fc.integer({ min: FIRST, max: LAST }) }), weight: 2 },
  { arbitrary: fc.record({ k: fc.constant('e2leave' as const), name: fc.nat(3) }), weight: 1 },
  { arbitrary: fc.record({ k: fc.constant('e2release' as const), name: fc.nat(3) }), weight: 1 },
  { arbitrary: fc.constant({ k: 'lapse' as const }), weight: 1 },
  { arbitrary: fc.constant({ k: 'restart' as const }), weight: 1 },
] as Array<fc.WeightedArbitrary<Action>>;
const action: fc.Arbitrary<Action> = fc.oneof(...actions);

/** The same, and the lease's doubts (written by a review, 2026-12-06): questions held and answered, keepalives, quiet time. */
const doubtAction: fc.Arbitrary<Action> = fc.oneof(
  ...actions,
  { arbitrary: fc.constant({ k: 'question' as const }), weight: 3 },
  {
    arbitrary: fc.record({
      k: fc.constant('answerQ' as const),
      mode: fc.constantFrom('alive' as const, 'alive' as const, 'expired' as const, 'failed' as const),
    }),
    weight: 3,
  },
  { arbitrary: fc.constant({ k: 'streamKa' as const }), weight: 2 },
  { arbitrary: fc.record({ k: fc.constant('quiet' as const), ms: fc.constantFrom(300, 1200, 2100) }), weight: 3 },
);

/** The questions about e1's lease the world holds, oldest first. */
type Answer = 'alive' | 'expired' | 'failed';
const QUESTIONS: Array<{ lease: string; resolve: (m: Answer) => void; promise: Promise<Answer> }> = [];

async function run(w: World, a: Action): Promise<void> {
  switch (a.k) {
    case 'connect':
      await w.connect(MEMBERS[a.i] as string);
      await settle();
      return w.start(MEMBERS[a.i] as string, 0);
    case 'connectOnly': // an M_CONNECT with no M_START after it (yet): the session an heir replaces
      return w.connect(MEMBERS[a.i] as string);
    case 'start':
      return w.start(MEMBERS[a.i] as string, a.req);
    case 'stopR':
      return w.stopR(MEMBERS[a.i] as string);
    case 'ka':
      return w.keepaliveOf(MEMBERS[a.i] as string);
    case 'answer':
      if (w.pending.length > 0) w.answer(a.j % w.pending.length, a.mode);
      return;
    case 'deliver':
      w.deliver(a.n);
      return;
    case 'tick':
      w.keepalive();
      await w.tick(a.ms);
      return;
    case 'e2bind':
      w.e2Bind(OTHERS[a.name] as string, a.addr);
      return;
    case 'e2leave':
      w.e2Leave(OTHERS[a.name] as string);
      return;
    case 'e2release':
      w.e2Release(OTHERS[a.name] as string);
      return;
    case 'lapse':
      w.lapse();
      return;
    case 'restart':
      w.log.push('e1 stop');
      await w.during(w.e1.stop());
      w.log.push('e1 start');
      await w.during(w.e1.start());
      w.auto = false;
      return;
    case 'question': {
      const lease = w.etcd.leases.at(-1);
      if (lease === undefined) return;
      const d = deferred<Answer>();
      lease.keepaliveOnceAnswers.push(d.promise);
      QUESTIONS.push({ lease: lease.id, resolve: d.resolve, promise: d.promise });
      return;
    }
    case 'answerQ': {
      const q = QUESTIONS[0];
      if (q === undefined) return;
      const lease = w.etcd.leases.find((l) => l.id === q.lease);
      const asked = lease !== undefined && !lease.keepaliveOnceAnswers.includes(q.promise);
      // etcd says "expired" only of a lease whose proof ran out (e1 asked it in a doubt): else the world would lie.
      if (a.mode === 'expired' && !(asked && w.store.doubting() && w.etcd.leases.at(-1)?.id === q.lease)) return;
      QUESTIONS.shift();
      w.log.push(`question of ${q.lease} -> ${a.mode}`);
      if (a.mode === 'expired') w.expireLease(q.lease);
      q.resolve(a.mode);
      return;
    }
    case 'streamKa':
      w.keepalive();
      return;
    case 'quiet':
      w.log.push(`quiet ${a.ms}`);
      await w.tick(a.ms);
      return;
  }
}

async function scenario(actions: Action[], leaseTtlSecs?: number): Promise<string[]> {
  const w = new World(leaseTtlSecs === undefined ? {} : { leaseTtlSecs });
  QUESTIONS.length = 0;
  const problems: string[] = [];
  try {
    await w.during(w.e1.start());
    w.auto = false;
    for (const a of actions) {
      await run(w, a);
      await settle();
      // (5) at every step: a member e1 would vouch for now (healthy) carries e1's mark in etcd.
      if (w.e1.health().ok) {
        for (const m of w.e1.members()) {
          if (!w.marksOf(m.name).includes('e1')) problems.push(`(5) after ${JSON.stringify(a)}: e1 lists ${m.name}@${m.address}, no mark`);
        }
      }
    }
    for (const q of QUESTIONS.splice(0)) q.resolve('alive');
    w.log.push('--- heal');
    await w.heal(600);
    // (1) members listed while healthy are bound so in etcd.
    if (w.e1.health().ok) {
      for (const m of w.e1.members()) {
        if (w.addressOfName(m.name) !== m.address || w.nameAt(m.address) !== m.name)
          problems.push(
            `(1) member ${m.name} listed at ${m.address}; etcd binds it to ${w.addressOfName(m.name)}, ${m.address} to ${w.nameAt(m.address)}`,
          );
      }
      // (4) ... and carry e1's mark in etcd, else any other enroller's hold releases them (found by a review, 2026-12-06).
      for (const m of w.e1.members()) {
        if (!w.marksOf(m.name).includes('e1')) problems.push(`(4) member ${m.name} listed at ${m.address} has no e1 mark`);
      }
    } else problems.push(`not healthy after heal: ${w.e1.health().reason}`);
    // (2) after every hold ends: the pool mirrors etcd.
    await w.heal(20_000);
    const inRange = w.names().filter((n) => {
      const a = w.addressOfName(n) as number;
      return a >= FIRST && a <= LAST;
    });
    const bound = w.e1.stats().bound;
    if (bound !== inRange.length)
      problems.push(
        `(2) pool binds ${bound} addresses, etcd ${inRange.length} (${inRange.map((n) => `${n}@${w.addressOfName(n)}`).join(' ')})`,
      );
    for (const n of inRange) {
      if (w.marksOf(n).length === 0) problems.push(`(2) ${n}@${w.addressOfName(n)} bound in etcd with no mark, after every hold`);
      if (w.store.addressOf(n) !== w.addressOfName(n))
        problems.push(`(2) table has ${n} at ${w.store.addressOf(n)}, etcd ${w.addressOfName(n)}`);
    }
    // (3) a newcomer is enrolled while an address is free.
    const free = w.freeAddresses();
    if (free.length > 0) {
      await w.connect('z');
      await w.heal(100);
      await w.start('z');
      await w.heal(100);
      const r = w.lastStartReply('z');
      if (r?.result !== 0) problems.push(`(3) newcomer refused (${r?.result} ${r?.reason}) with ${free.join(',')} free`);
      else if (w.addressOfName('z') !== r.address) problems.push(`(3) newcomer told ${r.address}, etcd ${w.addressOfName('z')}`);
    }
  } finally {
    await w.during(w.e1.stop()).catch(() => undefined);
    w.net.close();
  }
  if (process.env.FUZZ_DEBUG)
    console.log(
      w.log.join('\n'),
      JSON.stringify(w.e1.members().map((m) => [m.name, m.address])),
      w.names(),
      [...w.sim.kv.entries()].map(([k, v]) => `${k}=${v.value} m${v.mod} l${v.lease}`),
      JSON.stringify(w.e1.stats()),
    );
  if (problems.length > 0) problems.push('LOG:', ...w.log);
  return problems;
}

it.runIf(process.env.REPLAY !== undefined)(
  'replay',
  async () => {
    const ttl = process.env.REPLAY_TTL === undefined ? undefined : Number(process.env.REPLAY_TTL);
    const problems = await scenario(JSON.parse(process.env.REPLAY as string) as Action[], ttl);
    console.log(problems.join('\n'));
    expect(problems).toEqual([]);
  },
  60_000,
);

/**
 * Seed 2's shrunk counterexample: n1's bind committed with its answer lost (the pool let it go: the watch was late),
 * a lease lapse, n1's M_START again: its bind refused (the store showed n1 at 2, the pool took it), the retry
 * throwing while fenced; the session set back, nothing held n1: the pool kept n1 at 2 for good, etcd bound it with
 * no mark. A failed bind now holds whatever the pool has learned for the name (Assignment #bindFailed).
 */
const SEED_2 = [
  { k: 'connect', i: 1 },
  { k: 'answer', j: 0, mode: 'lost' },
  { k: 'start', i: 1, req: 0 },
  { k: 'lapse' },
  { k: 'connect', i: 0 },
  { k: 'stopR', i: 0 },
  { k: 'deliver', n: 5 },
] as Action[];

it('seed 2: a binding learned while a bind failed, of a bind whose answer was lost, is held and released (fixed with it)', async () => {
  expect(await scenario(SEED_2)).toEqual([]);
}, 60_000);

/**
 * Seed 17's: e2 binds n1 and leaves it; n1 enrols here before the watch shows either; its session expires while its
 * bind is in flight, and the bind is refused (n1 is e2's): the refusal showed the pool n1 at 1, idle, and the idle
 * event had come while the session still served n1. Nothing held it (a refused bind of an ended session let the
 * name go only for one that took a record's place): the pool kept n1 at 1 for good, etcd bound it with no mark.
 */
const SEED_17 = [
  { k: 'e2bind', name: 3, addr: 1 },
  { k: 'e2leave', name: 3 },
  { k: 'connect', i: 1 },
  { k: 'stopR', i: 0 },
  { k: 'deliver', n: 4 },
  { k: 'tick', ms: 3500 },
  { k: 'stopR', i: 0 },
  { k: 'deliver', n: 1 },
] as Action[];

it('seed 17: a binding a refused bind of an ended enrollment showed is held and released (fixed with it)', async () => {
  expect(await scenario(SEED_17)).toEqual([]);
}, 60_000);

/**
 * Seeds 219 and 234 (a fifteenth review, 2026-12-06): the pool learned a name's binding (its own bind committed with
 * its answer lost) from another name's refused bind, while the name's next enrollment was in progress; the idle
 * event came then, and that enrollment ended with no address (the pool full): nothing held the name. An enrollment
 * ending with no address now holds what the pool has learned for its name (sessionEndings.giveBack).
 */
const SEED_219 = [
  { k: 'connect', i: 2 },
  { k: 'e2bind', name: 0, addr: 1 },
  { k: 'deliver', n: 1 },
  { k: 'connect', i: 0 },
  { k: 'answer', j: 0, mode: 'lost' },
  { k: 'connect', i: 1 },
  { k: 'start', i: 2, req: 0 },
  { k: 'stopR', i: 0 },
  { k: 'answer', j: 0, mode: 'ok' },
  { k: 'e2bind', name: 0, addr: 1 },
  { k: 'connect', i: 0 },
  { k: 'answer', j: 0, mode: 'ok' },
] as Action[];
const SEED_234 = [
  { k: 'connect', i: 0 },
  { k: 'e2bind', name: 0, addr: 2 },
  { k: 'answer', j: 0, mode: 'fail' },
  { k: 'connect', i: 1 },
  { k: 'answer', j: 0, mode: 'ok' },
  { k: 'connect', i: 2 },
  { k: 'connect', i: 0 },
  { k: 'answer', j: 3, mode: 'lost' },
  { k: 'answer', j: 0, mode: 'ok' },
  { k: 'tick', ms: 6000 },
  { k: 'answer', j: 1, mode: 'ok' },
  { k: 'stopR', i: 0 },
  { k: 'connect', i: 0 },
] as Action[];

it('seeds 219 and 234: a binding learned while the next enrollment of the name was in progress is held once it ends (fixed with it)', async () => {
  expect(await scenario(SEED_219)).toEqual([]);
  expect(await scenario(SEED_234)).toEqual([]);
}, 60_000);

const worlds: Array<[string, fc.Arbitrary<Action>, number | undefined, number]> = [
  ['the pool stays with etcd under random interleavings', action, undefined, 150],
  ["and while e1's lease is in doubt (a 2 s TTL; questions answered late, alive, expired or failed)", doubtAction, 2, 100],
];

for (const [title, arbitrary, leaseTtlSecs, runs] of worlds) {
  it.runIf(process.env.REPLAY === undefined)(
    title,
    async () => {
      const seed = Number(process.env.FUZZ_SEED ?? 1);
      const numRuns = Number(process.env.FUZZ_RUNS ?? runs);
      let failure: string[] = [];
      try {
        await fc.assert(
          fc.asyncProperty(fc.array(arbitrary, { minLength: 5, maxLength: 60 }), async (actions) => {
            const problems = await scenario(actions, leaseTtlSecs);
            if (problems.length > 0) failure = problems;
            return problems.length === 0;
          }),
          { seed, numRuns, endOnFailure: false, interruptAfterTimeLimit: 240_000 },
        );
      } catch (err) {
        console.log(`seed ${seed}\n${failure.join('\n')}`);
        throw err;
      }
    },
    600_000,
  );
}
