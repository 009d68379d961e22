import { describe, expect, it } from 'vitest';
import { ConfigError, MemoryNetwork, MemoryRib } from '../../src/index.js';
import { resolveEnrollerOptions } from '../../src/enroller/options.js';
import { DEFAULT_DT_CONSTANTS } from '../../src/cdap/messages.js';
import { SharedMemoryStore } from './shared-memory-store.js';

const net = new MemoryNetwork();
const shim = net.attach('e:1');
const base = { shim, rib: new MemoryRib(), ipcpName: 'e', difName: 'd.DIF', addressPool: { first: 1, last: 100 } };

/** The message of the ConfigError that resolving `base` with `extra` throws. */
function refusal(extra: Record<string, unknown>): string {
  try {
    resolveEnrollerOptions({ ...base, ...extra } as never);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).message;
  }
  throw new Error('no ConfigError');
}

describe('Enroller options: each bad value is a ConfigError naming the option and what it must be', () => {
  const refusals: Array<[Record<string, unknown>, string]> = [
    [{ ipcpName: '' }, 'ipcpName: must be a non-empty string'],
    [{ ipcpName: 3 }, 'ipcpName: must be a non-empty string'],
    [{ difName: 3 }, 'difName: must be a non-empty string'],
    [{ difName: '' }, 'difName: must be a non-empty string'],
    // found by an audit (2026-12-06): a lone surrogate went out as U+FFFD, so that members read another name
    [{ ipcpName: 'e\uD800' }, 'ipcpName: must be well-formed Unicode (no lone surrogates)'],
    [{ difName: 'x\uDC00' }, 'difName: must be well-formed Unicode (no lone surrogates)'],
    [{ shim: { send: () => undefined } }, 'shim: must implement Shim (send, onReceive, close)'],
    [{ rib: {} }, 'rib: must implement Rib (read, write, delete, list)'],
    [{ store: { load: () => [] } }, 'store: must implement AddressStore (load, bind, release)'],
    [{ logger: { info: () => undefined } }, 'logger: must implement Logger (debug, info, warn, error)'],
    [{ alternates: 'a:1' }, 'alternates: must be an array of shim addresses'],
    [{ alternates: [''] }, 'alternates.0: must not be empty'],
    [{ advertisedAddress: '' }, 'advertisedAddress: must not be empty'],
    [{ allowedNames: 'm' }, 'allowedNames: must be an array of IPCP names'],
    [{ allowedNames: ['m', ''] }, 'allowedNames.1: must not be empty'],
    [{ addressPool: { first: 0, last: 5 } }, 'addressPool.first: must be >= 1'],
    [{ addressPool: { first: 10, last: 9 } }, 'addressPool.last: must be >= addressPool.first'],
    [{ addressPool: { first: 1, last: 2 ** 32 } }, 'addressPool.last: must fit in dtConstants.addressWidth bytes (4 by default)'],
    [
      { addressPool: { first: 1, last: 256 }, dtConstants: { ...DEFAULT_DT_CONSTANTS, addressWidth: 1 } },
      'addressPool.last: must fit in dtConstants.addressWidth bytes (4 by default)',
    ],
    [{ maxPduBytes: 63 }, 'maxPduBytes: must be >= 64'],
    [{ holdMs: -1 }, 'holdMs: must be >= 0'],
    [
      { pendingTimeoutMs: 1000, retransmitMs: 501 },
      'retransmitMs: must be at most half of pendingTimeoutMs (retransmitMs 501 > pendingTimeoutMs 1000 / 2): M_STOP, sent after the first exchange, would go only once; leave retransmitMs unset to derive it as min(250, pendingTimeoutMs / 4)',
    ],
  ];
  it.each(refusals.map(([extra, message]) => [message, extra] as const))('refuses with "%s"', (message, extra) => {
    expect(refusal(extra)).toContain(message);
  });

  it('takes the edges: a pool of one address, the widest pool of a 1-byte width, retransmitMs of exactly half', () => {
    expect(() => resolveEnrollerOptions({ ...base, addressPool: { first: 5, last: 5 } })).not.toThrow();
    const width1 = { addressPool: { first: 1, last: 255 }, dtConstants: { ...DEFAULT_DT_CONSTANTS, addressWidth: 1 } };
    expect(() => resolveEnrollerOptions({ ...base, ...width1 })).not.toThrow();
    expect(resolveEnrollerOptions({ ...base, pendingTimeoutMs: 1000, retransmitMs: 500 }).retransmitMs).toBe(500);
  });

  it('bounds enrollments in progress at 8,192 with a store of one enroller and at 1,024 with a shared one, unless set', () => {
    const shared = new SharedMemoryStore();
    expect(resolveEnrollerOptions(base).maxPendingEnrollments).toBe(8192);
    expect(resolveEnrollerOptions({ ...base, store: shared }).maxPendingEnrollments).toBe(1024);
    expect(resolveEnrollerOptions({ ...base, store: shared, maxPendingEnrollments: 5000 }).maxPendingEnrollments).toBe(5000);
  });

  it('derives what is left unset: retransmitMs, the DT constants, the advertised address, the defaults', () => {
    const s = resolveEnrollerOptions(base);
    expect(s.retransmitMs).toBe(250); // min(250, 30,000 / 4)
    expect(resolveEnrollerOptions({ ...base, pendingTimeoutMs: 400 }).retransmitMs).toBe(100);
    expect(s.dtConstants).toBe(DEFAULT_DT_CONSTANTS);
    expect(s.advertisedAddress).toBe('e:1');
    expect(s).toMatchObject({
      pendingTimeoutMs: 30_000,
      leaseMs: 90_000,
      holdMs: 300_000,
      alternates: [],
      auth: { mechanism: 'none' },
      maxPduBytes: 8192,
      maxPendingEnrollments: 8192,
      maxMembers: 1_000_000,
      ratePerSecond: 100,
      rateBurst: 200,
      maxTrackedPeers: 10_000,
    });
    expect(s.allowedNames).toBeUndefined();
    expect(s.random).toBe(Math.random);
    expect(typeof s.clock.now()).toBe('number');
  });

  it('alternates leave out the enroller itself, by its shim address and by its advertised address', () => {
    const own = resolveEnrollerOptions({ ...base, alternates: ['e:1', 'f:1', 'g:1'] });
    expect(own.alternates).toEqual(['f:1', 'g:1']);
    const advertised = resolveEnrollerOptions({ ...base, advertisedAddress: 'pub:1', alternates: ['pub:1', 'e:1', 'f:1'] });
    expect(advertised.advertisedAddress).toBe('pub:1');
    expect(advertised.alternates).toEqual(['f:1']);
  });
});
