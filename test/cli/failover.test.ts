/**
 * A member with two bootstraps fails over when the first one goes away: after
 * its connection timeout when the enroller is killed (SIGKILL), at once when
 * it stops gracefully (SIGTERM: the enroller releases its members). The
 * second enroller has another pool, so the member is renumbered and says so.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type CliProcess, cliRunner, freePort } from '../support/cli.js';

/** The member's default `reenrollBackoffBaseMs` (not a CLI flag): the ceiling of one re-enrollment backoff. */
const REENROLL_BACKOFF_BASE_MS = 1000;
/** Allowance for process scheduling on a busy machine (2 cores, vitest and three node processes). */
const SLACK_MS = 500;

const { cli, killAll } = cliRunner();
afterEach(killAll);

/** `rina-enroll member m1` of demo.DIF with bootstraps `a` then `b`, and the given flags. */
const memberOf = (a: string, b: string, flags: string[]) =>
  cli(['member', '--name', 'm1', '--dif', 'demo.DIF', '--bootstrap', a, '--bootstrap', b, ...flags]);

const reEscape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Two enrollers of demo.DIF on 127.0.0.1 with disjoint pools (1002-1502 and 3002-3502), both serving. */
async function twoEnrollers(): Promise<{ first: CliProcess; second: CliProcess; a: string; b: string }> {
  const portA = await freePort();
  const portB = await freePort();
  const a = `127.0.0.1:${portA}`;
  const b = `127.0.0.1:${portB}`;
  const first = cli(['bootstrap', '--listen', a, '--dif', 'demo.DIF', '--pool', '1002-1502', '--name', 'e1']);
  const second = cli(['bootstrap', '--listen', b, '--dif', 'demo.DIF', '--pool', '3002-3502', '--name', 'e2']);
  await Promise.all([first.waitFor(/serving demo\.DIF/), second.waitFor(/serving demo\.DIF/)]);
  return { first, second, a, b };
}

describe('rina-enroll member: failover between two bootstraps', () => {
  it('SIGKILL of the first bootstrap: back at the second within the connection timeout plus one backoff, renumbered', async () => {
    const { first, a, b } = await twoEnrollers();
    const heartbeatSecs = 0.2;
    const timeoutSecs = 1;
    const m = memberOf(a, b, ['--heartbeat-interval', String(heartbeatSecs), '--connection-timeout', String(timeoutSecs)]);
    await m.waitFor(new RegExp(`enrolled in demo\\.DIF as address 1002 via ${reEscape(a)}$`));

    const killedAt = performance.now();
    first.child.kill('SIGKILL');
    // Loss noticed at most timeoutSecs after the kill (the last heartbeat came before it), then the
    // second bootstrap is tried at once; one backoff is the most a failed first try there could add.
    const bound = timeoutSecs * 1000 + REENROLL_BACKOFF_BASE_MS + SLACK_MS;
    const change = await m.waitFor(new RegExp(`address changed from 1002 to 3002 \\(assigned by ${reEscape(b)}\\)`), bound + 1000);
    const elapsed = performance.now() - killedAt;

    expect(await first.exited).toBe('SIGKILL');
    expect(change).toMatch(/ m1: address changed from 1002 to 3002/);
    expect(elapsed).toBeLessThan(bound);
    // Not at once either: nothing told the member, only the silence can have (loosely: a late keepalive tick makes it earlier).
    expect(elapsed).toBeGreaterThan((timeoutSecs * 1000) / 2);
    await m.waitFor(new RegExp(`enrolled in demo\\.DIF as address 3002 via ${reEscape(b)}$`), 1);
    const lost = await m.waitFor(new RegExp(`lost ${reEscape(a)}: .*\\(timeout\\)`), 1);
    // One line each, in order: lost, (re-enrolling,) enrolled at the second, address changed.
    expect(m.lines.filter((l) => l.includes('address changed'))).toHaveLength(1);
    expect(m.lines.indexOf(lost)).toBeLessThan(m.lines.indexOf(change));
    expect(m.stderr.filter((l) => l.trim() !== '')).toEqual([]);
  });

  it('SIGTERM of the first bootstrap: the member is released and back at the second long before its connection timeout', async () => {
    const { first, second, a, b } = await twoEnrollers();
    const timeoutSecs = 30;
    const m = memberOf(a, b, ['--heartbeat-interval', '1', '--connection-timeout', String(timeoutSecs), '--json']);
    await m.waitFor(new RegExp(`"msg":"enrolled in demo\\.DIF as address 1002 via ${reEscape(a)}"`));
    await first.waitFor(/member m1 enrolled with address 1002/);

    const stoppedAt = performance.now();
    first.child.kill('SIGTERM');
    const changeLine = await m.waitFor(/"event":"address:change"/, 3000);
    const elapsed = performance.now() - stoppedAt;

    expect(await first.exited).toBe(0);
    expect(first.lines.join('\n')).toMatch(/stopped on SIGTERM/);
    const entries = m.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const lost = entries.filter((e) => e.event === 'connection:lost');
    expect(lost).toEqual([expect.objectContaining({ role: 'm1', level: 'warn', bootstrap: a, reason: 'released' })]);
    expect(JSON.parse(changeLine)).toMatchObject({
      role: 'm1',
      level: 'warn',
      event: 'address:change',
      previous: 1002,
      address: 3002,
      bootstrap: b,
    });
    expect(JSON.parse(changeLine).msg).toMatch(new RegExp(`^address changed from 1002 to 3002 \\(assigned by ${reEscape(b)}\\)`));
    const enrolled = entries.filter((e) => e.event === 'state:change' && e.type === 'enrolled');
    expect(enrolled.map((e) => [e.address, e.bootstrap])).toEqual([
      [1002, a],
      [3002, b],
    ]);
    // A timeout-based detection would take 30 s; the release makes it a round trip or two.
    expect(elapsed).toBeLessThan(2000);
    await second.waitFor(/member m1 enrolled with address 3002/, 1000);
    expect(m.stderr.filter((l) => l.trim() !== '')).toEqual([]);
  });
});
