import { spawnSync } from 'node:child_process';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Result } from '../src/cdap/messages.js';
import { diagnosticsChannels, EnrollmentManager, type Logger, MemoryRib } from '../src/index.js';
import { createMockShim, createScriptedEnroller } from '../src/testing/index.js';
import { cleanup, member, withEnroller } from './support/helpers.js';
import { LIB_BUILD } from './support/cli-paths.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

function recordingLogger() {
  const lines: Array<{ level: string; fields: Record<string, unknown>; message: string | undefined }> = [];
  const at = (level: string) => (fields: object, message?: string) =>
    lines.push({ level, fields: fields as Record<string, unknown>, message });
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { logger, lines };
}

describe('diagnostics channels', () => {
  it('publish enrollment start and success, a loss and a recovery', async () => {
    vi.useFakeTimers();
    const seen: Array<[string, Record<string, unknown>]> = [];
    const names = Object.values(diagnosticsChannels).map((c) => c.name as string);
    const handlers = names.map((name) => {
      const h = (message: unknown) => seen.push([name, message as Record<string, unknown>]);
      subscribe(name, h);
      return [name, h] as const;
    });
    try {
      const { net } = await withEnroller();
      const { mgr } = member(net, 'm', {
        heartbeatIntervalSecs: 0.2,
        connectionTimeoutSecs: 0.5,
        reenrollBackoffBaseMs: 100,
        reenrollBackoffCapMs: 200,
      });
      await mgr.enrolWithBootstrap('bootstrap');
      mgr.startConnectionMonitoring();
      net.partition('m', 'bootstrap');
      await vi.advanceTimersByTimeAsync(600);
      net.heal('m', 'bootstrap');
      await vi.advanceTimersByTimeAsync(2000);
      const kinds = seen.map(([name, m]) => `${name.replace('rina-enrollment:', '')}${m.outcome ? `/${m.outcome}` : ''}`);
      expect(kinds).toContain('enrollment:start');
      expect(kinds).toContain('enrollment:success');
      expect(kinds).toContain('connection:lost');
      expect(kinds).toContain('reenroll/success');
      expect(kinds).toContain('keepalive');
      expect(kinds).toContain('enroller');
      expect(seen.find(([n]) => n.endsWith('enrollment:success'))?.[1]).toMatchObject({
        ipcpName: 'm',
        address: 1002,
        difName: 'demo.DIF',
      });
    } finally {
      for (const [name, h] of handlers) unsubscribe(name, h);
    }
  });
});

describe('logger', () => {
  it('gets a line per state change and per enroller event, fields first, no secrets', async () => {
    const member_ = recordingLogger();
    const enroller_ = recordingLogger();
    const { net } = await withEnroller({ logger: enroller_.logger, auth: { mechanism: 'passwd', password: 'hunter2-secret' } });
    const { mgr } = member(net, 'm', {}, { logger: member_.logger, auth: { mechanism: 'passwd', password: 'hunter2-secret' } });
    await mgr.enrolWithBootstrap('bootstrap');
    await vi.waitFor(() => expect(enroller_.lines.some((l) => l.fields.event === 'member:enrolled')).toBe(true));
    expect(member_.lines.filter((l) => l.level === 'info').map((l) => l.message)).toEqual([
      'enrolling with bootstrap (attempt 1)',
      'enrolled in demo.DIF as address 1002 via bootstrap',
    ]);
    expect(enroller_.lines.map((l) => l.message)).toContain('member m enrolled with address 1002 from m');
    const bad = member(net, 'x', {}, { auth: { mechanism: 'passwd', password: 'wrong-guess' } }).mgr;
    await bad.enrolWithBootstrap('bootstrap').catch(() => undefined);
    const all = JSON.stringify([...member_.lines, ...enroller_.lines]);
    expect(all).not.toContain('hunter2-secret');
    expect(all).not.toContain('wrong-guess');
    expect(
      enroller_.lines.some(
        (l) => l.level === 'warn' && l.message === "refused x at x: authentication failed: the enroller refused the member's password",
      ),
    ).toBe(true);
  });

  it('a logger that throws does not break enrollment', async () => {
    const { net } = await withEnroller();
    const throwing: Logger = {
      debug: () => {
        throw new Error('log sink down');
      },
      info: () => {
        throw new Error('log sink down');
      },
      warn: () => undefined,
      error: () => undefined,
    };
    const { mgr } = member(net, 'm', {}, { logger: throwing });
    await expect(mgr.enrolWithBootstrap('bootstrap')).resolves.toBe('demo.DIF');
    expect(mgr.state.type).toBe('enrolled');
  });

  it('gets a failure as { err }, the error itself with its stack and code (as pino expects)', async () => {
    vi.useFakeTimers();
    const { net } = await withEnroller();
    const m = recordingLogger();
    const { mgr } = member(net, 'm', { timeoutMs: 200, maxRetries: 1 }, { logger: m.logger });
    const failed = mgr.enrolWithBootstrap('nobody').catch((e: Error) => e);
    await vi.advanceTimersByTimeAsync(300);
    const error = await failed;
    const line = m.lines.find((l) => l.fields.event === 'enrollment:failure');
    expect(line?.fields.err).toBe(error);
    expect(String((line?.fields.err as Error | undefined)?.stack)).toContain('EnrollmentTimeoutError');
    expect(line?.fields.error).toBeUndefined();
  });

  it('reports durations to 0.1 ms in events, metrics and logs', async () => {
    vi.useFakeTimers();
    const { net } = await withEnroller();
    // a clock whose every difference has digits far below 0.1 ms, as real clocks do
    const clock = { now: () => performance.now() * (1 + 1e-7) + 0.0123 };
    const { mgr } = member(net, 'm', { heartbeatIntervalSecs: 0.2, connectionTimeoutSecs: 0.5 }, { clock });
    const durations: number[] = [];
    mgr.on('keepalive:rtt', ({ rttMs }) => durations.push(rttMs));
    mgr.on('connection:lost', ({ silentMs }) => durations.push(silentMs));
    mgr.on('reenroll:success', ({ recoveryMs }) => durations.push(recoveryMs));
    await mgr.enrolWithBootstrap('bootstrap');
    mgr.startConnectionMonitoring();
    await vi.advanceTimersByTimeAsync(333.333);
    net.partition('m', 'bootstrap');
    await vi.advanceTimersByTimeAsync(777.777);
    net.heal('m', 'bootstrap');
    await vi.advanceTimersByTimeAsync(3000);
    const m = mgr.metrics();
    const all = [...durations, m.detectionDelayMs.mean, m.timeToRecoverMs.mean, m.keepaliveRttMs.smoothed].filter(
      (d): d is number => d !== undefined,
    );
    expect(durations.length).toBeGreaterThanOrEqual(3);
    for (const d of all) expect(Math.round(d * 10) / 10).toBe(d);
  });

  // Found by an audit (2026-12-06): only the monitor's recovery rounded retryInMs.
  it("reports retryInMs to 0.1 ms on every path: reEnroll()'s backoff, a busy answer's, the monitor's recovery", async () => {
    vi.useFakeTimers();
    const shim = createMockShim();
    const enroller = createScriptedEnroller(shim);
    // initialBackoffMs with digits below 0.1 ms; timeoutMs 333 gives a retransmitMs of 83.25, a busy wait's floor
    const config = { initialBackoffMs: 12.34, timeoutMs: 333, maxRetries: 3, heartbeatIntervalSecs: 0.2, connectionTimeoutSecs: 0.5 };
    const mgr = new EnrollmentManager({ shim, rib: new MemoryRib(), ipcpName: 'm', config, random: () => 0.123456 });
    const waits: Array<[string, number | undefined]> = [];
    mgr.on('reenroll:failure', ({ error, retryInMs }) => waits.push([error.code, retryInMs]));
    try {
      await mgr.enrolWithBootstrap('bootstrap');
      enroller.update({ connect: 'silence' }); // reEnroll()'s attempts time out: p-retry's backoff
      const silent = mgr.reEnroll().catch((e: unknown) => e);
      await vi.advanceTimersByTimeAsync(2000);
      await silent;
      enroller.update({ connect: { reject: 'busy', result: Result.BUSY } }); // busy, naming no time: the member's own jitter
      const busy = mgr.reEnroll().catch((e: unknown) => e);
      await vi.advanceTimersByTimeAsync(300);
      enroller.update({ connect: 'ok' });
      await vi.advanceTimersByTimeAsync(2000);
      await busy;
      mgr.startConnectionMonitoring();
      enroller.update({ keepalive: 'silence', connect: 'silence' }); // lost, then the monitor's recovery
      await vi.advanceTimersByTimeAsync(3000);
    } finally {
      enroller.stop();
      await mgr.close();
    }
    const drawn = waits.flatMap(([, ms]) => (ms === undefined ? [] : [ms]));
    // p-retry's 12.34 and 24.68, the busy floor's 83.25, then the recovery's own backoffs
    expect(drawn.slice(0, 3)).toEqual([12.3, 24.7, 83.3]);
    expect(drawn.length).toBeGreaterThan(4);
    for (const ms of drawn) expect(Math.round(ms * 10) / 10).toBe(ms);
  });
});

describe('NODE_DEBUG=rina-enrollment', () => {
  it('prints the library lines on stderr when no logger is given, and nothing without it', () => {
    const script = [
      `import { EnrollmentManager, Enroller, MemoryNetwork, MemoryRib } from ${JSON.stringify(pathToFileURL(LIB_BUILD).href)};`,
      'const net = new MemoryNetwork();',
      "const e = new Enroller({ shim: net.attach('b'), rib: new MemoryRib(), ipcpName: 'b', difName: 'd.DIF', addressPool: { first: 7, last: 9 } });",
      'await e.start();',
      "const m = new EnrollmentManager({ shim: net.attach('m'), rib: new MemoryRib(), ipcpName: 'm' });",
      "await m.enrolWithBootstrap('b');",
      'await m.close(); await e.stop(); net.close();',
    ].join('\n');
    const run = (env: NodeJS.ProcessEnv) =>
      spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        env: { ...process.env, ...env },
        encoding: 'utf8',
        timeout: 20_000,
      });
    const on = run({ NODE_DEBUG: 'rina-enrollment' });
    expect(on.status).toBe(0);
    expect(on.stderr).toMatch(/RINA-ENROLLMENT \d+: info enrolled in d\.DIF as address 7 via b/);
    expect(on.stderr).toMatch(/RINA-ENROLLMENT \d+: info member m enrolled with address 7 from m/);
    const off = run({ NODE_DEBUG: '' });
    expect(off.status).toBe(0);
    expect(off.stderr).not.toContain('RINA-ENROLLMENT');
  });
});
