import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigError, type MemoryPacket, MemoryNetwork, ShimError } from '../../src/index.js';
import { shimConformance } from './conformance.js';

shimConformance('MemoryNetwork', async () => {
  const net = new MemoryNetwork({ maxPduBytes: 1500 });
  return {
    a: net.attach('a'),
    b: net.attach('b'),
    nowhere: 'nobody',
    badAddress: '',
    maxPduBytes: 1500,
    cleanup: async () => net.close(),
  };
});

/**
 * Sends `count` one-byte PDUs from a to b and returns the bytes b received, a second of fake time later (every
 * delay here is under 20 ms). Not `vi.runAllTimersAsync()`: that runs until no timer is left, and a timer of the
 * process-wide wheel (a manager's, say, another file's) re-arms itself from `performance.now()`, which fake
 * timers do not move, so it fired until vitest gave up after 10,000 (a CI run of 2026-12-04).
 */
async function exchange(net: MemoryNetwork, count: number): Promise<number[]> {
  const a = net.attach('a');
  const b = net.attach('b');
  const got: number[] = [];
  b.onReceive((pdu) => got.push(pdu[0] ?? -1));
  for (let i = 0; i < count; i++) await a.send('b', Uint8Array.of(i % 256));
  await vi.advanceTimersByTimeAsync(1000);
  return got;
}

describe('MemoryNetwork faults', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('is reproducible under a seed: the same seed gives the same losses, duplicates and order', async () => {
    vi.useFakeTimers();
    const opts = { seed: 42, drop: 0.3, duplicate: 0.2, delayMs: 1, jitterMs: 10 };
    const first = await exchange(new MemoryNetwork(opts), 200);
    const second = await exchange(new MemoryNetwork(opts), 200);
    const other = await exchange(new MemoryNetwork({ ...opts, seed: 43 }), 200);
    expect(second).toEqual(first);
    expect(other).not.toEqual(first);
  });

  it('drops about the configured share of datagrams', async () => {
    vi.useFakeTimers();
    const net = new MemoryNetwork({ seed: 1, drop: 0.2 });
    const got = await exchange(net, 2000);
    expect(net.stats().lost + net.stats().sent).toBe(2000);
    expect(got.length).toBe(net.stats().sent);
    // 2000 draws at p = 0.2: the mean is 400, the standard deviation about 18.
    expect(net.stats().lost).toBeGreaterThan(300);
    expect(net.stats().lost).toBeLessThan(500);
  });

  it('duplicates datagrams when told to', async () => {
    vi.useFakeTimers();
    const net = new MemoryNetwork({ seed: 2, duplicate: 1 });
    const got = await exchange(net, 10);
    expect(got.length).toBe(20);
    expect(net.stats().duplicated).toBe(10);
  });

  it('delays by delayMs plus jitter, and jitter reorders', async () => {
    vi.useFakeTimers();
    const net = new MemoryNetwork({ seed: 3, delayMs: 100, jitterMs: 50 });
    const a = net.attach('a');
    const b = net.attach('b');
    const got: number[] = [];
    b.onReceive((pdu) => got.push(pdu[0] ?? -1));
    for (let i = 0; i < 20; i++) await a.send('b', Uint8Array.of(i));
    await vi.advanceTimersByTimeAsync(99);
    expect(got).toEqual([]);
    await vi.advanceTimersByTimeAsync(51);
    expect(got.length).toBe(20);
    expect(got).not.toEqual([...got].sort((x, y) => x - y));
  });

  it('setFaults changes faults at run time and validates them', async () => {
    const net = new MemoryNetwork({ seed: 4 });
    net.setFaults({ drop: 1 });
    const a = net.attach('a');
    const b = net.attach('b');
    let got = 0;
    b.onReceive(() => got++);
    await a.send('b', Uint8Array.of(1));
    net.setFaults({ drop: 0 });
    await a.send('b', Uint8Array.of(2));
    await Promise.resolve();
    expect(got).toBe(1);
    expect(() => net.setFaults({ drop: 1.5 })).toThrow(ConfigError);
    expect(() => net.setFaults({ delayMs: -1 })).toThrow(/delayMs/);
  });

  it('partition cuts both directions until heal', async () => {
    const net = new MemoryNetwork();
    const a = net.attach('a');
    const b = net.attach('b');
    const c = net.attach('c');
    const got: string[] = [];
    for (const s of [a, b, c]) s.onReceive((_pdu, from) => got.push(`${from}>${s.localAddress}`));
    net.partition('a', 'b');
    await a.send('b', Uint8Array.of(1));
    await b.send('a', Uint8Array.of(1));
    await a.send('c', Uint8Array.of(1));
    await Promise.resolve();
    expect(got).toEqual(['a>c']);
    net.heal('b', 'a');
    await a.send('b', Uint8Array.of(1));
    await Promise.resolve();
    expect(got).toEqual(['a>c', 'a>b']);
    expect(net.stats().partitioned).toBe(2);
  });

  it('detach makes a node vanish; its address can be attached again', async () => {
    const net = new MemoryNetwork();
    const a = net.attach('a');
    const old = net.attach('b');
    net.detach('b');
    await expect(old.send('a', Uint8Array.of(1))).rejects.toBeInstanceOf(ShimError);
    await a.send('b', Uint8Array.of(1));
    await Promise.resolve();
    expect(net.stats().undeliverable).toBe(1);
    const fresh = net.attach('b');
    let got = 0;
    fresh.onReceive(() => got++);
    await old.close(); // closing the vanished shim must not detach its successor
    await a.send('b', Uint8Array.of(1));
    await Promise.resolve();
    expect(got).toBe(1);
  });

  it('refuses a second node at the same address, and bad options', () => {
    const net = new MemoryNetwork();
    net.attach('a');
    expect(() => net.attach('a')).toThrow(ShimError);
    expect(() => new MemoryNetwork({ drop: -0.1 })).toThrow(ConfigError);
    expect(() => new MemoryNetwork({ duplicate: Number.NaN })).toThrow(/duplicate/);
    expect(() => new MemoryNetwork({ seed: 1.5 })).toThrow(/seed: must be an integer/);
  });

  it('a throwing handler does not stop delivery to the others', async () => {
    const net = new MemoryNetwork();
    const a = net.attach('a');
    const b = net.attach('b');
    let got = 0;
    b.onReceive(() => {
      throw new Error('boom');
    });
    b.onReceive(() => got++);
    await a.send('b', Uint8Array.of(1));
    await Promise.resolve();
    expect(got).toBe(1);
    expect(net.stats().handlerErrors).toBe(1);
  });

  it('tap sees every datagram and its fate', async () => {
    const net = new MemoryNetwork({ seed: 5, drop: 0.5 });
    const a = net.attach('a');
    net.attach('b');
    const seen: MemoryPacket['fate'][] = [];
    const off = net.tap((p) => seen.push(p.fate));
    for (let i = 0; i < 20; i++) await a.send('b', Uint8Array.of(i));
    expect(seen.length).toBe(20);
    expect(seen.filter((f) => f === 'lost').length).toBe(net.stats().lost);
    expect(net.stats().lost).toBeGreaterThan(0);
    off();
    await a.send('b', Uint8Array.of(1));
    expect(seen.length).toBe(20);
  });

  it('close drops datagrams in flight and leaves no timer behind', async () => {
    vi.useFakeTimers();
    const net = new MemoryNetwork({ delayMs: 1000 });
    const a = net.attach('a');
    const b = net.attach('b');
    let got = 0;
    b.onReceive(() => got++);
    await a.send('b', Uint8Array.of(1));
    expect(vi.getTimerCount()).toBe(1);
    net.close();
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(2000);
    expect(got).toBe(0);
  });
});

// Found by an audit (2026-12-06): tap(null) was taken and every later send rejected with a TypeError; a tap that threw
// made the send reject with its error, and the datagram was dropped, counted nowhere.
describe('MemoryNetwork.tap', () => {
  it('refuses a listener that is not a function; one that throws changes nothing of what is delivered', async () => {
    const net = new MemoryNetwork();
    expect(() => net.tap(null as never)).toThrow(ShimError);
    const warnings: string[] = [];
    const onWarning = (w: Error & { code?: string }) => warnings.push(`${w.code}: ${w.message}`);
    process.on('warning', onWarning);
    try {
      net.tap(() => {
        throw new RangeError('a broken observer');
      });
      const seen: MemoryPacket[] = [];
      net.tap((p) => seen.push(p));
      const a = net.attach('a');
      const b = net.attach('b');
      const got: number[] = [];
      b.onReceive((pdu) => got.push(pdu[0] ?? -1));
      await expect(a.send('b', Uint8Array.of(9))).resolves.toBeUndefined();
      await vi.waitFor(() => expect(got).toEqual([9]));
      expect(seen.map((p) => p.fate)).toEqual(['sent']);
      expect(net.stats()).toMatchObject({ sent: 1 });
      await vi.waitFor(() => expect(warnings).toEqual(['RINA_ENROLLMENT_LISTENER: a MemoryNetwork tap threw: a broken observer']));
    } finally {
      process.off('warning', onWarning);
      net.close();
    }
  });
});
