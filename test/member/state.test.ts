import { describe, expect, it } from 'vitest';
import type { EnrollmentState } from '../../src/member/events.js';
import { MemberState } from '../../src/member/state.js';

function tracked() {
  const calls: string[] = [];
  const changes: Array<[EnrollmentState['type'], EnrollmentState['type']]> = [];
  const state = new MemberState({
    leftEnrolled: () => calls.push('leftEnrolled'),
    changed: (next, previous) => {
      calls.push('changed');
      changes.push([next.type, previous.type]);
    },
  });
  return { state, calls, changes };
}

const enrolled: EnrollmentState = { type: 'enrolled', bootstrap: 'b', address: 1, difName: 'd', since: 0 };

describe('MemberState', () => {
  it('starts idle, with no record and no outage', () => {
    const { state } = tracked();
    expect(state.current).toEqual({ type: 'idle' });
    expect(state.record).toBeUndefined();
    expect(state.outageAt).toBeUndefined();
    expect(state.lost).toBe(false);
  });

  it('runs the exit action of enrolled when leaving it, before reporting the change', () => {
    const { state, calls } = tracked();
    state.set(enrolled);
    calls.length = 0;
    state.set({ type: 'reenrolling', bootstrap: 'b', attempt: 1, previousAddress: 1 });
    expect(calls).toEqual(['leftEnrolled', 'changed']);
  });

  it('does not run it for enrolled to enrolled, nor from other states', () => {
    const { state, calls } = tracked();
    state.set({ type: 'enrolling', bootstrap: 'b', attempt: 1 });
    state.set(enrolled);
    state.set({ ...enrolled, address: 2 });
    expect(calls).toEqual(['changed', 'changed', 'changed']);
  });

  it('closing from enrolled runs both exit actions', () => {
    const { state, calls, changes } = tracked();
    state.set(enrolled);
    calls.length = 0;
    state.set({ type: 'closed' });
    expect(calls).toEqual(['leftEnrolled', 'changed']);
    expect(changes.at(-1)).toEqual(['closed', 'enrolled']);
  });

  it('knows when it shows an attempt, and which bootstrap it names', () => {
    const { state } = tracked();
    expect(state.attempting).toBe(false);
    expect(state.shownBootstrap).toBeUndefined();
    state.set({ type: 'reenrolling', bootstrap: 'b', attempt: 2, previousAddress: 1 });
    expect(state.attempting).toBe(true);
    expect(state.shownBootstrap).toBe('b');
    expect(state.shows('reenrolling', 'b', 2)).toBe(true);
    expect(state.shows('reenrolling', 'b', 3)).toBe(false);
    expect(state.shows('enrolling', 'b', 2)).toBe(false);
  });
});
