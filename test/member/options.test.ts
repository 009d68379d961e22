import { afterEach, describe, expect, it } from 'vitest';
import {
  ConfigError,
  decodeCdapMessage,
  decodeEnrollmentInfo,
  EnrollmentManager,
  MemoryNetwork,
  MemoryRib,
  OpCode,
} from '../../src/index.js';
import { cleanup, member, withEnroller } from '../support/helpers.js';

afterEach(cleanup);

const net = new MemoryNetwork();
const shim = net.attach('m');

/** The message of the ConfigError that constructing a manager with `extra` throws. */
function refusal(extra: Record<string, unknown>): string {
  try {
    new EnrollmentManager({ shim, rib: new MemoryRib(), ...extra } as never);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).message;
  }
  throw new Error('no ConfigError');
}

describe('EnrollmentManager options: each bad value is a ConfigError naming the option and what it must be', () => {
  it.each([
    [{ ipcpName: '' }, 'ipcpName: must be a non-empty string'],
    [{ ipcpName: 5 }, 'ipcpName: must be a non-empty string'],
    [{ ipcpName: 'a\uDC00' }, 'ipcpName: must be well-formed Unicode (no lone surrogates)'],
    // found by a new user's review (2026-12-07): a 20,000-character name passed, and failed only at the first send
    [{ ipcpName: 'n'.repeat(1025) }, 'ipcpName: must be at most 1024 characters'],
    [{ difName: '' }, 'difName: must be a non-empty string'],
    [{ difName: 7 }, 'difName: must be a non-empty string'],
    [{ lowerDifs: 'x' }, 'lowerDifs: must be an array of DIF names'],
    [{ lowerDifs: [3] }, 'lowerDifs.0: must be a DIF name (string)'],
    [{ lowerDifs: ['a', ''] }, 'lowerDifs.1: must not be empty'],
    [{ shim: { send() {}, onReceive() {} } }, 'shim: must implement Shim (send, onReceive, close)'],
    [{ rib: { read() {}, write() {} } }, 'rib: must implement Rib (read, write, delete, list)'],
    [{ logger: { info() {} } }, 'logger: must implement Logger (debug, info, warn, error)'],
    [
      { auth: { mechanism: 'hmac-sha256', key: 'k'.repeat(32) } },
      'difName: is required with hmac-sha256 authentication (the proofs are bound to the DIF)',
    ],
  ])('%j: %s', (extra, message) => {
    expect(refusal(extra)).toContain(message);
  });

  it('takes the defaults: no name, no DIF name, no lower DIFs, no authentication', async () => {
    const mgr = new EnrollmentManager({ shim: net.attach('d'), rib: new MemoryRib() });
    expect(mgr.ipcpName).toBeUndefined();
    expect(mgr.config.maxRetries).toBe(3);
    await mgr.close();
  });

  it('takes a well-formed name, DIF name and lower DIFs, and hmac-sha256 with a DIF name', async () => {
    const mgr = new EnrollmentManager({
      shim: net.attach('ok'),
      rib: new MemoryRib(),
      ipcpName: 'm\u00e9',
      difName: 'd.DIF',
      lowerDifs: ['eth0'],
      auth: { mechanism: 'hmac-sha256', key: 'k'.repeat(32) },
    });
    expect(mgr.ipcpName).toBe('m\u00e9');
    await mgr.close();
  });
});

it('without lowerDifs, M_START names no lower DIF; with them, those', async () => {
  const { net: n } = await withEnroller();
  const starts: Array<readonly string[] | undefined> = [];
  n.tap((p) => {
    const msg = decodeCdapMessage(p.pdu);
    if (msg.opCode === OpCode.M_START) starts.push(decodeEnrollmentInfo(msg.objValue?.byteval as Uint8Array).lowerDifs);
  });
  await member(n, 'plain').mgr.enrolWithBootstrap('bootstrap');
  await member(n, 'lower', {}, { lowerDifs: ['eth0', 'wlan0'] }).mgr.enrolWithBootstrap('bootstrap');
  expect(starts.map((l) => l ?? [])).toEqual([[], ['eth0', 'wlan0']]);
});

describe('a manager config is an immutable value: equal configs built one after another are one object', () => {
  const build = (config: Record<string, unknown>): EnrollmentManager =>
    new EnrollmentManager({ shim: net.attach(`c${Math.random()}`), rib: new MemoryRib(), config });

  it('two managers with equal settings share one frozen config, its bootstraps frozen too', async () => {
    const a = build({ heartbeatIntervalSecs: 1, connectionTimeoutSecs: 3, bootstraps: ['x:1', 'y:2'] });
    const b = build({ connectionTimeoutSecs: 3, heartbeatIntervalSecs: 1, bootstraps: ['x:1', 'y:2'] });
    expect(b.config).toBe(a.config);
    expect(Object.isFrozen(a.config)).toBe(true);
    expect(Object.isFrozen(a.config.bootstraps)).toBe(true);
    expect(() => (a.config.bootstraps as string[]).push('z:3')).toThrow(TypeError);
    const plain = build({});
    expect(Object.isFrozen(plain.config.bootstraps)).toBe(true);
    expect(plain.config.bootstraps).toEqual([]);
    await Promise.all([a.close(), b.close(), plain.close()]);
  });

  it('a config that differs in one setting, or in one bootstrap, is its own', async () => {
    const base = { heartbeatIntervalSecs: 1, connectionTimeoutSecs: 3, bootstraps: ['x:1', 'y:2'] };
    const a = build(base);
    const otherSetting = build({ ...base, heartbeatIntervalSecs: 2 });
    expect(otherSetting.config).not.toBe(a.config);
    expect(otherSetting.config.heartbeatIntervalSecs).toBe(2);
    const again = build(base);
    const otherBootstrap = build({ ...base, bootstraps: ['x:1', 'y:3'] });
    const fewerBootstraps = build({ ...base, bootstraps: ['x:1'] });
    expect(again.config).toEqual(a.config); // equal; shared only with the config built just before
    expect(otherBootstrap.config.bootstraps).toEqual(['x:1', 'y:3']);
    expect(fewerBootstraps.config.bootstraps).toEqual(['x:1']);
    expect(new Set([again.config, otherBootstrap.config, fewerBootstraps.config]).size).toBe(3);
    await Promise.all([a, otherSetting, again, otherBootstrap, fewerBootstraps].map((m) => m.close()));
  });
});

it('the enrolled state shown is frozen: changing it cannot change where keepalives go or what is released', async () => {
  const { net: n } = await withEnroller();
  const { mgr } = member(n, 'frozen');
  await mgr.enrolWithBootstrap('bootstrap');
  const state = mgr.state;
  expect(Object.isFrozen(state)).toBe(true);
  expect(() => {
    (state as { bootstrap: string }).bootstrap = 'elsewhere';
  }).toThrow(TypeError);
  expect(mgr.bootstrapAddress).toBe('bootstrap');
});
