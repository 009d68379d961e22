import { describe, expect, it } from 'vitest';
import { EnrollmentAbortedError } from '../../src/errors.js';
import { joinShared, type Shared } from '../../src/util/join.js';

function shared() {
  let resolve!: (v: string) => void;
  const promise = new Promise<string>((r) => {
    resolve = r;
  });
  const s: Shared<string> = { promise, waiters: 0 };
  return { s, resolve };
}

describe('joinShared', () => {
  it('a caller that stops waiting is told so; the others still get the result', async () => {
    const { s, resolve } = shared();
    const abandoned: unknown[] = [];
    const ac = new AbortController();
    const leaving = joinShared(s, ac.signal, (r) => abandoned.push(r));
    const staying = joinShared(s, new AbortController().signal, (r) => abandoned.push(r));
    ac.abort('bored');
    await expect(leaving).rejects.toBeInstanceOf(EnrollmentAbortedError);
    resolve('done');
    await expect(staying).resolves.toBe('done');
    expect(abandoned).toEqual([]);
  });

  it('when the last caller stops waiting, the work is abandoned with its reason', async () => {
    const { s } = shared();
    const abandoned: unknown[] = [];
    const a = new AbortController();
    const b = new AbortController();
    const pa = joinShared(s, a.signal, (r) => abandoned.push(r)).catch((e) => e);
    const pb = joinShared(s, b.signal, (r) => abandoned.push(r)).catch((e) => e);
    a.abort('first');
    expect(abandoned).toEqual([]);
    b.abort('second');
    expect(abandoned).toEqual(['second']);
    expect((await pb).cause).toBe('second');
    expect(await pa).toBeInstanceOf(EnrollmentAbortedError);
  });

  it('a caller without a signal waits for the work itself and keeps it wanted', async () => {
    const { s, resolve } = shared();
    const abandoned: unknown[] = [];
    const plain = joinShared(s, undefined, (r) => abandoned.push(r));
    const ac = new AbortController();
    const leaving = joinShared(s, ac.signal, (r) => abandoned.push(r)).catch(() => 'left');
    ac.abort();
    expect(await leaving).toBe('left');
    expect(abandoned).toEqual([]);
    resolve('x');
    expect(await plain).toBe('x');
  });

  it('a signal already aborted is refused at once and does not count as a waiter', async () => {
    const { s } = shared();
    await expect(joinShared(s, AbortSignal.abort(), () => undefined)).rejects.toBeInstanceOf(EnrollmentAbortedError);
    expect(s.waiters).toBe(0);
  });
});
