import { describe, expect, it, vi } from 'vitest';
import {
  type AdmissionSteps,
  admit,
  allowListGuard,
  type ConnectRequest,
  type CredentialedRequest,
  capacityGuard,
  destinationGuard,
  nameGuard,
  storeGuard,
} from '../../src/enroller/admission.js';
import { countRefusal, zeroStats } from '../../src/enroller/events.js';
import type { Session } from '../../src/enroller/sessions.js';
import { Result } from '../../src/cdap/messages.js';
import type { ConnectVerdict } from '../../src/auth/auth.js';
import { connectMsg } from '../support/helpers.js';

const request = (over: Partial<ConnectRequest> = {}): ConnectRequest => ({
  msg: connectMsg(1, 'm', 'bootstrap'),
  name: 'm',
  from: 'shim-m',
  existing: undefined,
  ...over,
});
const accepted: Extract<ConnectVerdict, { ok: true }> = {
  ok: true,
  authMech: 0,
  authValue: undefined,
  checkProof: undefined,
  channel: undefined,
};
const credentialed = (over: Partial<CredentialedRequest> = {}): CredentialedRequest => ({
  ...request(),
  verdict: accepted,
  contested: false,
  ...over,
});

describe('M_CONNECT guards, each alone', () => {
  it('destination: passes the IPCP name, the DIF name and the shim address; refuses any other (-1)', () => {
    const guard = destinationGuard('bootstrap', 'demo.DIF', (name) => name === 'shim-b');
    for (const dest of ['bootstrap', 'demo.DIF', 'shim-b']) expect(guard(request({ msg: connectMsg(1, 'm', dest) }))).toBeUndefined();
    expect(guard(request({ msg: connectMsg(1, 'm', 'elsewhere') }))).toEqual({
      reason: 'unknown destination "elsewhere": this is "bootstrap" of DIF "demo.DIF"',
      result: Result.FAILED,
    });
  });

  it('allow-list: without one any name passes; with one, only its names (-6, counted as an authentication failure)', () => {
    expect(allowListGuard(undefined)(request({ name: 'anyone' }))).toBeUndefined();
    const guard = allowListGuard(new Set(['m']));
    expect(guard(request({ name: 'm' }))).toBeUndefined();
    expect(guard(request({ name: 'x' }))).toEqual({
      reason: 'IPCP name "x" is not allowed to enrol',
      result: Result.AUTH_FAILED,
    });
  });

  it('capacity: a new enrollment at the limit is busy (-5) with its slot to come back at; under it, or from an address already enrolling, passes', () => {
    let inProgress = 2;
    const slots = [7, 9];
    const retryIn = vi.fn(() => slots.shift() ?? 0);
    const guard = capacityGuard(() => inProgress, 2, retryIn);
    expect(guard(request())).toEqual({
      reason: 'busy: 2 enrollments in progress, try again in 7 ms',
      result: Result.BUSY,
    });
    expect(guard(request())?.reason).toBe('busy: 2 enrollments in progress, try again in 9 ms'); // each refused member its own slot
    expect(guard(request({ existing: { channel: null } as Session }))).toBeUndefined(); // it replaces the one there
    // With HMAC-SHA256 it waits beside it, unproven: a new one (found by an audit, 2026-12-06).
    expect(guard(request({ existing: { channel: {} } as Session }))?.reason).toBe('busy: 2 enrollments in progress, try again in 0 ms');
    inProgress = 1;
    expect(guard(request())).toBeUndefined();
    expect(retryIn).toHaveBeenCalledTimes(3); // a slot is taken only by a refusal
  });

  it('store: a new enrollment whose bind would wait longer than the bound is busy (-5); at the bound, or the same member asking again, passes', () => {
    let waitMs = 1000.4;
    const retryIn = vi.fn(() => 12);
    const guard = storeGuard(() => waitMs, 1000, retryIn);
    const busy = {
      reason: 'busy: the address store is slow (a bind now would wait about 1000 ms), try again in 12 ms',
      result: Result.BUSY,
    };
    expect(guard(request())).toEqual(busy);
    expect(guard(request({ existing: { name: 'm' } as Session }))).toBeUndefined();
    expect(guard(request({ existing: { name: 'other' } as Session }))).toEqual(busy); // another name from that address is new work
    waitMs = 1000;
    expect(guard(request())).toBeUndefined();
    expect(retryIn).toHaveBeenCalledTimes(2);
  });

  it('name: a contested name is not claimed at M_CONNECT; otherwise the claim decides (busy counted, name in use not)', () => {
    const claim = vi.fn((): { result: number; reason: string } | undefined => undefined);
    const guard = nameGuard(claim);
    expect(guard(credentialed({ contested: true }))).toBeUndefined();
    expect(claim).not.toHaveBeenCalled();
    expect(guard(credentialed())).toBeUndefined();
    expect(claim).toHaveBeenCalledWith('m', 'shim-m');
    claim.mockReturnValueOnce({ result: Result.BUSY, reason: 'checking' });
    expect(guard(credentialed())).toEqual({ result: Result.BUSY, reason: 'checking' });
    claim.mockReturnValueOnce({ result: Result.NAME_IN_USE, reason: 'alive' });
    expect(guard(credentialed())).toEqual({ result: Result.NAME_IN_USE, reason: 'alive' });
  });
});

describe('admit: the guards in order', () => {
  const steps = (over: Partial<AdmissionSteps> = {}): AdmissionSteps => ({
    before: [],
    credentials: () => accepted,
    rivalled: () => false,
    after: [],
    ...over,
  });

  it('a refusal before the credentials stops there: the credentials are never judged (no nonce drawn)', () => {
    const credentials = vi.fn(() => accepted);
    const after = vi.fn(() => undefined);
    const refused = admit(request(), steps({ before: [() => ({ reason: 'no', result: -1 })], credentials, after: [after] }));
    expect(refused).toEqual({ reason: 'no', result: -1 });
    expect(credentials).not.toHaveBeenCalled();
    expect(after).not.toHaveBeenCalled();
  });

  it('refused credentials are an authentication failure (-6), and the guards after them do not run', () => {
    const after = vi.fn(() => undefined);
    const refused = admit(request(), steps({ credentials: () => ({ ok: false, reason: 'bad password' }), after: [after] }));
    expect(refused).toEqual({ reason: 'bad password', result: Result.AUTH_FAILED });
    expect(after).not.toHaveBeenCalled();
  });

  it('the guards after the credentials see the verdict; the name is contested only when a proof is still due and a rival exists', () => {
    const proofDue = { ...accepted, checkProof: () => true };
    const seen: CredentialedRequest[] = [];
    const after = (r: CredentialedRequest) => {
      seen.push(r);
      return undefined;
    };
    const admitted = admit(request(), steps({ credentials: () => proofDue, rivalled: () => true, after: [after] }));
    expect(admitted).toMatchObject({ name: 'm', contested: true, verdict: proofDue });
    expect(seen).toHaveLength(1);
    expect(admit(request(), steps({ credentials: () => accepted, rivalled: () => true }))).toMatchObject({ contested: false });
    expect(admit(request(), steps({ credentials: () => proofDue, rivalled: () => false }))).toMatchObject({ contested: false });
  });

  it('counts a refusal in exactly one counter, by its result: busy, authFailures, or rejected for every other', () => {
    const stats = zeroStats();
    for (const result of [Result.BUSY, Result.FAILED, Result.AUTH_FAILED, Result.UNAVAILABLE, Result.NAME_IN_USE, Result.BUSY]) {
      countRefusal(stats, result);
    }
    expect(stats).toMatchObject({ rejected: 3, busy: 2, authFailures: 1 });
  });
});
