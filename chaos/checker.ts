/**
 * The chaos checker: reads a history of what happened (which member process
 * held which address when, what etcd unbound, the faults, the final table)
 * and reports every violation of the promises of "no address held twice".
 *
 * It is a pure function of the history, so it is tested on its own: a history
 * with a planted duplicate must be reported (test/chaos/checker.test.ts).
 */

/** One line of a history. Times are milliseconds on one clock, from the start of the run. */
export type ChaosEvent =
  | {
      /** A member process entered state `enrolled` with `address`, at `enroller`. */
      readonly kind: 'hold';
      readonly t: number;
      /** The member's IPCP name. */
      readonly member: string;
      /** The process (one member may run as several processes over a run, one after the other). */
      readonly process: string;
      readonly address: number;
      readonly enroller: string;
    }
  | {
      /** A member process left state `enrolled`, or died (then `t` is when it was killed). */
      readonly kind: 'release';
      readonly t: number;
      readonly member: string;
      readonly process: string;
    }
  | {
      /** etcd deleted a binding (its hold ran out, or its member left). */
      readonly kind: 'unbind';
      readonly t: number;
      readonly name: string;
      readonly address: number;
    }
  | {
      /** An enroller answered a member's enrollment with `address` (informational: what the enrollers logged). */
      readonly kind: 'answer';
      readonly t: number;
      readonly enroller: string;
      readonly member: string;
      readonly address: number;
    }
  | {
      /** A fault injected (informational). */
      readonly kind: 'fault';
      readonly t: number;
      readonly what: string;
    }
  | {
      /** The faults stopped: from here, every member must be enrolled within its bound. */
      readonly kind: 'calm';
      readonly t: number;
    }
  | {
      /** The end of the run: etcd's table as read then, and each member's convergence bound (ms after `calm`). */
      readonly kind: 'end';
      readonly t: number;
      readonly names: Readonly<Record<string, number>>;
      readonly addresses: Readonly<Record<string, string>>;
      readonly boundsMs: Readonly<Record<string, number>>;
    };

/** A broken promise, with when it was broken. */
export interface Violation {
  readonly kind: 'duplicate' | 'table' | 'convergence' | 'address-change' | 'history';
  readonly t: number;
  readonly message: string;
}

export interface CheckOptions {
  /**
   * How long two live member processes may both count themselves holding one
   * address after etcd freed the first one's binding (the documented lease
   * bound: a member learns it lost its enrollment at its next keepalive), in
   * ms. Without such an unbind in between, any overlap is a violation.
   */
  readonly allowOverlapMs: number;
  /** How late an etcd unbind may be recorded after what it explains (the watch's lag), in ms. @default 0 */
  readonly watchLagMs?: number;
}

interface Hold {
  readonly member: string;
  readonly process: string;
  readonly address: number;
  readonly enroller: string;
  readonly from: number;
  to: number;
}

/** Every violation in `history` (in time order; empty when every promise held). */
export function checkHistory(history: readonly ChaosEvent[], options: CheckOptions): Violation[] {
  const violations: Violation[] = [];
  const lag = options.watchLagMs ?? 0;
  // A stable sort: events of one millisecond keep the order they were recorded in.
  const events = [...history].sort((a, b) => a.t - b.t);
  const unbinds = events.filter((e): e is Extract<ChaosEvent, { kind: 'unbind' }> => e.kind === 'unbind');
  const freed = (name: string, address: number, from: number, to: number): boolean =>
    unbinds.some((u) => u.name === name && u.address === address && u.t >= from && u.t <= to + lag);
  const end = events.findLast((e) => e.kind === 'end');
  const calm = events.findLast((e) => e.kind === 'calm');
  const endT = end?.t ?? events.at(-1)?.t ?? 0;
  if (end === undefined) violations.push({ kind: 'history', t: endT, message: 'the history has no end: the run did not finish' });
  if (calm === undefined && events.some((e) => e.kind === 'fault')) {
    violations.push({
      kind: 'history',
      t: endT,
      message: 'faults were injected but the history never says they stopped (calm): convergence cannot be checked',
    });
  }
  const processOf = new Map<string, string>();
  for (const e of events) {
    if (e.kind !== 'hold' && e.kind !== 'release') continue;
    const member = processOf.get(e.process);
    if (member === undefined) processOf.set(e.process, e.member);
    else if (member !== e.member) {
      violations.push({
        kind: 'history',
        t: e.t,
        message: `process ${e.process} appears as both ${member} and ${e.member}: process ids must be unique`,
      });
    }
  }

  // Hold intervals, per process.
  const open = new Map<string, Hold>();
  const holds: Hold[] = [];
  for (const e of events) {
    if (e.kind === 'hold') {
      const previous = open.get(e.process);
      if (previous !== undefined) previous.to = e.t; // enrolled again (a new address) without leaving first
      const hold: Hold = {
        member: e.member,
        process: e.process,
        address: e.address,
        enroller: e.enroller,
        from: e.t,
        to: Number.POSITIVE_INFINITY,
      };
      open.set(e.process, hold);
      holds.push(hold);
    } else if (e.kind === 'release') {
      const hold = open.get(e.process);
      if (hold !== undefined) hold.to = e.t;
      open.delete(e.process);
    }
  }

  // 1. No two live processes hold one address at once (beyond the allowed overlap).
  const byAddress = new Map<number, Hold[]>();
  for (const h of holds) byAddress.set(h.address, [...(byAddress.get(h.address) ?? []), h]);
  for (const [address, list] of byAddress) {
    list.sort((a, b) => a.from - b.from);
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length; j++) {
        const a = list[i] as Hold;
        const b = list[j] as Hold;
        if (b.from >= a.to) continue;
        if (a.process === b.process) continue;
        const overlap = Math.min(a.to, b.to, endT) - b.from;
        // The lease bound excuses an overlap only after etcd freed the first holder's binding.
        const allowed = freed(a.member, address, a.from, b.from) ? options.allowOverlapMs : 0;
        if (overlap > allowed) {
          violations.push({
            kind: 'duplicate',
            t: b.from,
            message: `address ${address} held by ${a.member} (${a.process}, via ${a.enroller}) and ${b.member} (${b.process}, via ${b.enroller}) for ${overlap.toFixed(0)} ms (allowed: ${allowed} ms)`,
          });
        }
      }
    }
  }

  if (end !== undefined) {
    // 2. etcd's table is a bijection, and every member's view equals it.
    const live = [...open.values()].map((h) => ({ member: h.member, address: h.address, where: h.process }));
    for (const message of tableProblems(end.names, end.addresses, live)) violations.push({ kind: 'table', t: end.t, message });

    // 3. After the faults stop, every member is enrolled within its bound, and stays so.
    if (calm !== undefined) {
      for (const member of Object.keys(end.boundsMs)) {
        const bound = end.boundsMs[member] as number;
        const last = holds.filter((h) => h.member === member).at(-1);
        if (last === undefined || last.to !== Number.POSITIVE_INFINITY) {
          violations.push({ kind: 'convergence', t: end.t, message: `${member} is not enrolled at the end` });
        } else if (last.from > calm.t + bound) {
          violations.push({
            kind: 'convergence',
            t: last.from,
            message: `${member} enrolled again ${(last.from - calm.t).toFixed(0)} ms after the faults stopped (bound ${bound} ms)`,
          });
        }
      }
    }
  }

  // 4. A member's address changes only after its binding was deleted in etcd.
  const byMember = new Map<string, Hold[]>();
  for (const h of holds) byMember.set(h.member, [...(byMember.get(h.member) ?? []), h]);
  for (const [member, list] of byMember) {
    for (let i = 1; i < list.length; i++) {
      const before = list[i - 1] as Hold;
      const after = list[i] as Hold;
      if (before.address === after.address) continue;
      if (!freed(member, before.address, before.from, after.from)) {
        violations.push({
          kind: 'address-change',
          t: after.from,
          message: `${member}'s address changed from ${before.address} to ${after.address} while etcd still bound it to ${before.address}`,
        });
      }
    }
  }
  return violations.sort((a, b) => a.t - b.t);
}

/** The run's last line: `chaos: N schedules, F faults, V violations`. */
/**
 * What is wrong with etcd's table at one moment: `names` (name -> address)
 * and `addresses` (address -> name) must be a bijection, and every member
 * holding an address (`where` it runs, for the message) must hold the one
 * `names` binds it to. Empty when all is well.
 */
export function tableProblems(
  names: Readonly<Record<string, number>>,
  addresses: Readonly<Record<string, string>>,
  holders: Iterable<{ member: string; address: number; where: string }>,
): string[] {
  const problems: string[] = [];
  const nameTable = new Map<string, number>(Object.entries(names));
  const addressTable = new Map<string, string>(Object.entries(addresses));
  const seen = new Map<number, string>();
  for (const [name, address] of nameTable) {
    const other = seen.get(address);
    if (other !== undefined) problems.push(`etcd binds address ${address} to both ${other} and ${name}`);
    seen.set(address, name);
    if (addressTable.get(String(address)) !== name) {
      problems.push(`etcd names/${name} is ${address} but addresses/${address} is ${addressTable.get(String(address)) ?? 'missing'}`);
    }
  }
  for (const [address, name] of addressTable) {
    if (nameTable.get(name) !== Number(address)) {
      problems.push(`etcd addresses/${address} is ${name} but names/${name} is ${nameTable.get(name) ?? 'missing'}`);
    }
  }
  for (const h of holders) {
    if (nameTable.get(h.member) !== h.address) {
      problems.push(`${h.member} (${h.where}) holds ${h.address} at the end, but etcd binds it to ${nameTable.get(h.member) ?? 'nothing'}`);
    }
  }
  return problems;
}

export function summaryLine(schedules: number, faults: number, violations: number): string {
  return `chaos: ${schedules} schedule${schedules === 1 ? '' : 's'}, ${faults} fault${faults === 1 ? '' : 's'}, ${violations} violation${violations === 1 ? '' : 's'}`;
}
