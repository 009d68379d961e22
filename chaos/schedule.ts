/**
 * The nemesis's schedule: a pure function of a seed and a duration, so that
 * `npm run chaos -- --seed S` replays the same faults at the same times.
 *
 * Faults on one target never overlap (an enroller is not paused while it is
 * killed; one etcd member at most is down, so the cluster keeps its quorum),
 * and every fault has ended by `calmAtMs`: from then on the world is healthy
 * and every member must be enrolled within its bound.
 */
import { seededRandom } from '../src/util/random.js';

/** One fault: what, on which target, from `atMs` for `forMs` (times from the start of the fault phase). */
export type Fault =
  /** SIGKILL the enroller, start it again (same arguments) after `forMs`. */
  | { readonly kind: 'enroller-kill'; readonly enroller: number; readonly atMs: number; readonly forMs: number }
  /** SIGSTOP the enroller for `forMs` (past its etcd lease TTL when `forMs` exceeds it), then SIGCONT. */
  | { readonly kind: 'enroller-pause'; readonly enroller: number; readonly atMs: number; readonly forMs: number }
  /** Cut the enroller's TCP links to etcd while its members still reach it over UDP, then restore them. */
  | { readonly kind: 'enroller-cut'; readonly enroller: number; readonly atMs: number; readonly forMs: number }
  /** SIGKILL an etcd member (`leader`: whichever leads when the fault starts), restart it after `forMs`. */
  | { readonly kind: 'etcd-kill'; readonly leader: boolean; readonly node: number; readonly atMs: number; readonly forMs: number }
  /**
   * SIGSTOP an etcd member (`leader`: whichever leads when the fault starts) for `forMs`, then SIGCONT: it keeps its
   * connections and answers nothing, as a member does while it catches up. Drawn only when `--faults` names it (the
   * seeds of the default draw stay what they were).
   */
  | { readonly kind: 'etcd-pause'; readonly leader: boolean; readonly node: number; readonly atMs: number; readonly forMs: number }
  /** The members cannot reach the enroller (its UDP proxy drops everything, both ways). */
  | { readonly kind: 'partition'; readonly enroller: number; readonly atMs: number; readonly forMs: number }
  /**
   * Member churn: `picks.length` live members (chosen by the fractions in
   * `picks`) each crash silently (no M_RELEASE) or leave with M_RELEASE, and
   * either a newcomer with a new name takes its place at once, or the same
   * name comes back as a new process after `forMs`. Freed addresses are then
   * given to others: where a second holder of one address would show.
   */
  | {
      readonly kind: 'churn';
      readonly atMs: number;
      readonly forMs: number;
      readonly picks: ReadonlyArray<{ readonly at: number; readonly how: 'crash' | 'leave'; readonly after: 'newcomer' | 'restart' }>;
    }
  /** Lossy, duplicating, slow links between members and every enroller. */
  | {
      readonly kind: 'network';
      readonly atMs: number;
      readonly forMs: number;
      readonly drop: number;
      readonly duplicate: number;
      readonly delayMs: number;
      readonly jitterMs: number;
    };

export interface ScheduleOptions {
  /** Enrollers in the world. */
  readonly enrollers: number;
  /** etcd members in the cluster. */
  readonly etcdNodes: number;
  /** When the faults must all have ended, ms from the start of the fault phase. */
  readonly calmAtMs: number;
  /** The enrollers' etcd lease TTL, ms: pauses and cuts are drawn around it, often past it. */
  readonly leaseTtlMs: number;
  /**
   * Only these kinds of faults. Default: all.
   */
  readonly kinds?: readonly Fault['kind'][] | undefined;
}

/** Every kind of fault, for `--faults`. */
export const FAULT_KINDS: readonly Fault['kind'][] = [
  'enroller-kill',
  'enroller-pause',
  'enroller-cut',
  'etcd-kill',
  'partition',
  'churn',
  'network',
  'etcd-pause',
];

/** Which target a fault occupies: faults on one target never overlap. */
function targetOf(f: Fault): string {
  switch (f.kind) {
    case 'enroller-kill':
    case 'enroller-pause':
    case 'enroller-cut':
      return `enroller:${f.enroller}`;
    case 'etcd-kill':
    case 'etcd-pause':
      return 'etcd';
    case 'partition':
      return `udp:${f.enroller}`;
    case 'network':
      return 'network';
    case 'churn':
      return 'members';
  }
}

/** The faults of one schedule, by start time. */
export function makeSchedule(seed: number, options: ScheduleOptions): Fault[] {
  const random = seededRandom(seed);
  const between = (lo: number, hi: number): number => Math.round(lo + random() * (hi - lo));
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const ttl = options.leaseTtlMs;
  const busyUntil = new Map<string, number>();
  const faults: Fault[] = [];
  let t = between(500, 2000);
  while (t < options.calmAtMs - 1000) {
    const room = options.calmAtMs - t;
    const makers: Array<[Fault['kind'], () => Fault]> = [
      ['enroller-kill', () => ({ kind: 'enroller-kill', enroller: between(0, options.enrollers - 1), atMs: t, forMs: between(500, 5000) })],
      [
        'enroller-pause',
        () => ({ kind: 'enroller-pause', enroller: between(0, options.enrollers - 1), atMs: t, forMs: between(ttl / 4, ttl * 1.5) }),
      ],
      [
        'enroller-cut',
        () => ({ kind: 'enroller-cut', enroller: between(0, options.enrollers - 1), atMs: t, forMs: between(ttl / 4, ttl * 1.6) }),
      ],
      [
        'etcd-kill',
        () => ({ kind: 'etcd-kill', leader: random() < 0.5, node: between(0, options.etcdNodes - 1), atMs: t, forMs: between(500, 5000) }),
      ],
      [
        'etcd-pause',
        () => ({
          kind: 'etcd-pause',
          leader: random() < 0.5,
          node: between(0, options.etcdNodes - 1),
          atMs: t,
          forMs: between(ttl / 4, ttl * 1.5),
        }),
      ],
      ['partition', () => ({ kind: 'partition', enroller: between(0, options.enrollers - 1), atMs: t, forMs: between(1000, 8000) })],
      [
        'churn',
        () => ({
          kind: 'churn',
          atMs: t,
          forMs: between(500, 5000),
          picks: Array.from({ length: between(1, 4) }, () => ({
            at: random(),
            how: random() < 0.5 ? 'crash' : 'leave',
            after: random() < 0.5 ? 'newcomer' : 'restart',
          })),
        }),
      ],
      [
        'network',
        () => ({
          kind: 'network',
          atMs: t,
          forMs: between(2000, 10_000),
          drop: random() * 0.3,
          duplicate: random() < 0.5 ? random() * 0.3 : 0,
          delayMs: random() < 0.5 ? between(5, 150) : 0,
          jitterMs: random() < 0.5 ? between(5, 100) : 0,
        }),
      ],
    ];
    // Unfiltered, every seed draws what it always drew (etcd-pause, added later, only when asked for); filtered, only
    // the kinds asked for are drawn.
    const usable = makers.filter(([kind]) => (options.kinds === undefined ? kind !== 'etcd-pause' : options.kinds.includes(kind)));
    const fault = pick(usable)[1]();
    const target = targetOf(fault);
    if ((busyUntil.get(target) ?? 0) <= t && fault.forMs <= room) {
      faults.push(fault);
      busyUntil.set(target, t + fault.forMs);
    }
    t += between(300, 3000);
  }
  return faults;
}

/** A fault in one line, for the run's log and the history. */
export function describeFault(f: Fault): string {
  const span = `for ${(f.forMs / 1000).toFixed(1)} s`;
  switch (f.kind) {
    case 'enroller-kill':
      return `SIGKILL e${f.enroller + 1}, restart ${span.replace('for ', 'after ')}`;
    case 'enroller-pause':
      return `SIGSTOP e${f.enroller + 1} ${span}`;
    case 'enroller-cut':
      return `cut e${f.enroller + 1} from etcd ${span}`;
    case 'etcd-kill':
      return `SIGKILL etcd ${f.leader ? 'leader' : `n${f.node}`}, restart ${span.replace('for ', 'after ')}`;
    case 'etcd-pause':
      return `SIGSTOP etcd ${f.leader ? 'leader' : `n${f.node}`} ${span}`;
    case 'partition':
      return `partition e${f.enroller + 1} from the members ${span}`;
    case 'churn':
      return `churn: ${f.picks.map((p) => `${p.how}/${p.after}`).join(', ')} (restarts after ${(f.forMs / 1000).toFixed(1)} s)`;
    case 'network':
      return `network: ${(f.drop * 100).toFixed(0)}% loss, ${(f.duplicate * 100).toFixed(0)}% duplication, ${f.delayMs}+${f.jitterMs} ms delay ${span}`;
  }
}
