/**
 * The conformance suite every Shim implementation must pass. A shim test file
 * calls `shimConformance(name, makePair)`; `makePair` gives two connected
 * endpoints and a cleanup.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type Shim, ShimError } from '../../src/index.js';

export interface ShimPair {
  a: Shim;
  b: Shim;
  /** A syntactically valid address nobody listens on. */
  nowhere: string;
  /** A malformed destination for this kind of shim. */
  badAddress: string;
  /** The largest PDU the shim accepts. */
  maxPduBytes: number;
  cleanup(): Promise<void>;
}

/** Resolves once `count` PDUs arrived at `shim`, or rejects after `ms` (real time). */
export function collect(shim: Shim, count: number, ms = 2000): Promise<Array<{ pdu: Uint8Array; from: string }>> {
  return new Promise((resolve, reject) => {
    const got: Array<{ pdu: Uint8Array; from: string }> = [];
    const timer = setTimeout(() => {
      off();
      reject(new Error(`only ${got.length} of ${count} PDUs arrived`));
    }, ms);
    const off = shim.onReceive((pdu, from) => {
      got.push({ pdu, from });
      if (got.length === count) {
        clearTimeout(timer);
        off();
        resolve(got);
      }
    });
  });
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function shimConformance(name: string, makePair: () => Promise<ShimPair>): void {
  describe(`Shim conformance: ${name}`, () => {
    let pair: ShimPair | undefined;
    const open = async (): Promise<ShimPair> => {
      pair = await makePair();
      return pair;
    };
    afterEach(async () => {
      await pair?.cleanup();
      pair = undefined;
    });

    it('delivers a PDU with the sender address, byte for byte', async () => {
      const { a, b } = await open();
      const arrived = collect(b, 1);
      await a.send(b.localAddress, Uint8Array.from([1, 2, 3, 255]));
      const [got] = await arrived;
      expect(Array.from(got?.pdu ?? [])).toEqual([1, 2, 3, 255]);
      expect(got?.from).toBe(a.localAddress);
    });

    it('delivers many PDUs both ways without assuming their order', async () => {
      const { a, b } = await open();
      const atB = collect(b, 50);
      const atA = collect(a, 50);
      for (let i = 0; i < 50; i++) {
        await a.send(b.localAddress, Uint8Array.of(i));
        await b.send(a.localAddress, Uint8Array.of(100 + i));
      }
      expect(new Set((await atB).map((g) => g.pdu[0]))).toEqual(new Set(Array.from({ length: 50 }, (_, i) => i)));
      expect(new Set((await atA).map((g) => g.pdu[0]))).toEqual(new Set(Array.from({ length: 50 }, (_, i) => 100 + i)));
    });

    it('copies the PDU: changing the buffer after send does not change what arrives', async () => {
      const { a, b } = await open();
      const arrived = collect(b, 1);
      const buf = Uint8Array.of(7, 7);
      await a.send(b.localAddress, buf);
      buf[0] = 9;
      expect(Array.from((await arrived)[0]?.pdu ?? [])).toEqual([7, 7]);
    });

    it('stops calling a handler once unsubscribed, and keeps calling the others', async () => {
      const { a, b } = await open();
      let removed = 0;
      const off = b.onReceive(() => removed++);
      off();
      const arrived = collect(b, 1);
      await a.send(b.localAddress, Uint8Array.of(1));
      await arrived;
      await pause(20);
      expect(removed).toBe(0);
    });

    it('counts each registration of one handler apart: each unsubscribe removes one, once', async () => {
      const { a, b } = await open();
      let calls = 0;
      const handler = (): void => {
        calls++;
      };
      const first = b.onReceive(handler);
      b.onReceive(handler);
      const oneDatagram = async (): Promise<void> => {
        const arrived = collect(b, 1);
        await a.send(b.localAddress, Uint8Array.of(1));
        await arrived;
        await pause(20);
      };
      await oneDatagram();
      expect(calls).toBe(2); // registered twice, called twice
      first();
      first(); // idempotent: the other registration stays
      calls = 0;
      await oneDatagram();
      expect(calls).toBe(1);
    });

    it('handlers come and go in any order: each datagram reaches exactly those subscribed, a throwing one included', async () => {
      const { a, b } = await open();
      const seen: string[] = [];
      const handler = (name: string) => (): void => {
        seen.push(name);
        if (name === 'x') throw new Error('a handler that throws');
      };
      const send = async (expected: string[]): Promise<void> => {
        seen.length = 0;
        await a.send(b.localAddress, Uint8Array.of(1));
        for (let i = 0; i < 200 && seen.length < expected.length; i++) await pause(5);
        await pause(10); // (time for a handler that should not be called)
        expect([...seen].sort()).toEqual(expected);
      };
      const off1 = b.onReceive(handler('1'));
      await send(['1']);
      const off2 = b.onReceive(handler('2'));
      const offX = b.onReceive(handler('x'));
      const off3 = b.onReceive(handler('3'));
      await send(['1', '2', '3', 'x']);
      off2();
      await send(['1', '3', 'x']);
      offX();
      off1();
      await send(['3']);
      off3();
      off3();
      b.onReceive(handler('4'));
      await send(['4']);
    });

    it('a shim with a selfAddress receives what it sends there (an enroller probes its own receive queue so)', async () => {
      const { a, b } = await open();
      for (const shim of [a, b]) {
        if (shim.selfAddress === undefined) continue;
        const arrived = collect(shim, 1);
        await shim.send(shim.selfAddress, Uint8Array.of(0, 7));
        const [got] = await arrived;
        expect(Array.from(got?.pdu ?? [])).toEqual([0, 7]);
      }
    });

    it('a send to an address nobody listens on resolves (datagrams are fire and forget)', async () => {
      const { a, nowhere } = await open();
      await expect(a.send(nowhere, Uint8Array.of(1))).resolves.toBeUndefined();
    });

    it('refuses a PDU over the maximum size with ShimError', async () => {
      const { a, b, maxPduBytes } = await open();
      await expect(a.send(b.localAddress, new Uint8Array(maxPduBytes + 1))).rejects.toBeInstanceOf(ShimError);
    });

    // Found by an audit (2026-12-06): UdpShim took onReceive(null), and the next datagram from anyone crashed the process.
    it('refuses a receive handler that is not a function with ShimError, and keeps delivering to the others', async () => {
      const { a, b } = await open();
      for (const bad of [null, undefined, 5, 'handler', {}]) {
        expect(() => b.onReceive(bad as never)).toThrow(ShimError);
      }
      expect(() => b.onReceive(null as never)).toThrow(/onReceive needs a function \(pdu, from\) => void, got null/);
      const arrived = collect(b, 1);
      await a.send(b.localAddress, Uint8Array.of(7));
      expect((await arrived)[0]?.pdu[0]).toBe(7);
    });

    it('refuses a malformed destination with ShimError', async () => {
      const { a, badAddress } = await open();
      await expect(a.send(badAddress, Uint8Array.of(1))).rejects.toBeInstanceOf(ShimError);
      await expect(a.send('', Uint8Array.of(1))).rejects.toBeInstanceOf(ShimError);
    });

    it('after close: sends reject with ShimError, nothing more is received, close again is harmless', async () => {
      const { a, b } = await open();
      let received = 0;
      b.onReceive(() => received++);
      await b.close();
      await b.close();
      await expect(b.send(a.localAddress, Uint8Array.of(1))).rejects.toBeInstanceOf(ShimError);
      // Found by an audit (2026-12-06): a handler was taken after close, so an Enroller started on a closed shim
      // reported itself running and never heard anything.
      expect(() => b.onReceive(() => received++)).toThrow(ShimError);
      await a.send(b.localAddress, Uint8Array.of(1));
      await pause(20);
      expect(received).toBe(0);
    });
  });
}
