/**
 * The demo's members: `m01`, `m02`, ... over UDP on 127.0.0.1, with the
 * demo's short timers, each recording its states for the timeline and saying
 * what it does.
 *
 * @module
 */
import { EnrollmentManager, MemoryRib, UdpShim } from '../../index.js';
import type { Span } from '../timeline.js';
import { say, since } from './status.js';

/** The members' settings: keepalives every 0.5 s, the bootstrap lost after 1.5 s of silence. */
export const CONFIG = {
  heartbeatIntervalSecs: 0.5,
  connectionTimeoutSecs: 1.5,
  timeoutMs: 1000,
  retransmitMs: 50,
  maxRetransmitMs: 200,
  reenrollBackoffBaseMs: 250,
  reenrollBackoffCapMs: 2000,
};

/** The enrollers' labels (`e1`, ...) by shim address, for the timeline and the log. */
export const enrollerLabels = new Map<string, string>();

/** The label of the enroller at `address` (the address itself when it has none). */
export const labelOf = (address: string) => enrollerLabels.get(address) ?? address;

/** A member and what the demo measured of it. */
export interface Member {
  name: string;
  mgr: EnrollmentManager;
  shim: UdpShim;
  spans: Span[];
  enrollMs?: number;
  originalAddress?: number;
  backAt?: number;
  retries: number;
}

/** The member `m01`, `m02`, ... over UDP, recording its states for the timeline and saying what it does. */
export async function makeMember(i: number, bootstraps: string[]): Promise<Member> {
  const name = `m${String(i + 1).padStart(2, '0')}`;
  const shim = await UdpShim.bind('127.0.0.1:0');
  const mgr = new EnrollmentManager({
    shim,
    rib: new MemoryRib(),
    ipcpName: name,
    difName: 'demo.DIF',
    config: { ...CONFIG, bootstraps },
  });
  const member: Member = { name, mgr, shim, spans: [{ at: since(), state: 'idle' }], retries: 0 };
  mgr.on('state:change', (s) =>
    member.spans.push(s.type === 'enrolled' ? { at: since(), state: s.type, via: labelOf(s.bootstrap) } : { at: since(), state: s.type }),
  );
  mgr.on('connection:lost', (i) => say(`${name} noticed the loss: silent ${i.silentMs.toFixed(0)} ms (${i.reason})`));
  mgr.on('reenroll:failure', (i) => {
    member.retries++;
    if (i.retryInMs !== undefined) say(`${name} attempt ${i.attempt} failed, next in ${i.retryInMs.toFixed(0)} ms`);
  });
  mgr.on('reenroll:success', (i) => {
    member.backAt = since();
    say(
      `${name} back with address ${i.address} via ${labelOf(i.bootstrap)}${i.address === member.originalAddress ? ' (unchanged)' : ` (was ${member.originalAddress})`}`,
    );
  });
  return member;
}

/** Enrols every member at once, then starts their monitors. */
export async function enrolAll(members: Member[]): Promise<void> {
  await Promise.all(
    members.map(async (m) => {
      const start = performance.now();
      await m.mgr.enrol();
      const ms = performance.now() - start;
      m.enrollMs = ms;
      if (m.mgr.address !== undefined) m.originalAddress = m.mgr.address;
      say(`${m.name} enrolled with address ${m.mgr.address} via ${labelOf(m.mgr.bootstrapAddress ?? '')} in ${ms.toFixed(1)} ms`);
      m.mgr.startConnectionMonitoring();
    }),
  );
}

/**
 * Marks, at `at`, every member enrolled with the enroller at `address` as
 * enrolled with a dead enroller it has not noticed yet (until its next state).
 */
export function markUnnoticed(members: readonly Member[], address: string, at: number): void {
  for (const m of members) {
    if (m.mgr.state.type === 'enrolled' && m.mgr.bootstrapAddress === address)
      m.spans.push({ at, state: 'unnoticed', via: labelOf(address) });
  }
}

/**
 * What happened to a member through an outage that began at `outageAt`, for
 * the end of its timeline row: where it went, when it noticed, how long it
 * took to be back.
 */
export function outcomeNote(m: Member, outageAt: number): string | undefined {
  const recover = m.mgr.metrics().timeToRecoverMs.last;
  if (m.backAt === undefined || recover === undefined) return undefined;
  // The enroller of its first enrollment and of its last, from its timeline.
  const vias = m.spans.filter((s) => s.state === 'enrolled').map((s) => s.via);
  const [first, last] = [vias[0], vias.at(-1)];
  const moved = first !== undefined && last !== undefined && first !== last ? `${first} → ${last}: ` : '';
  const noticed = m.spans.find((s) => s.state === 'reenrolling' && s.at >= outageAt)?.at;
  const took = (ms: number) => (ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(2)} s`);
  const after = noticed === undefined ? '' : `noticed in ${took(noticed - outageAt)}, `;
  return `${moved}${after}enrolled ${took(recover)} later, ${m.mgr.address === m.originalAddress ? 'same address' : 'new address'}`;
}
