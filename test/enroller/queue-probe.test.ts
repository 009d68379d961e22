/**
 * The enroller's receive-queue probe (src/enroller/queue-probe.ts): what it
 * measures, what it takes out of the receive path and what it leaves, and
 * that it stops with the enrollments.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { encodeCdapMessage } from '../../src/cdap/codec.js';
import { keepaliveRequest } from '../../src/cdap/messages.js';
import { PROBE_GAP_MS, QueueProbe } from '../../src/enroller/queue-probe.js';
import { MemoryNetwork, OpCode, UdpShim } from '../../src/index.js';
import { cleanup, connectMsg, onCleanup, RawPeer, settle, until, withEnroller } from '../support/helpers.js';
import { ManualClock } from './manual-clock.js';
import { sessionTable } from './session-table.js';

afterEach(cleanup);

function probe(maxMs = 2000, send: 'ok' | 'throws' | 'rejects' = 'ok') {
  const clock = new ManualClock();
  const sent: Uint8Array[] = [];
  const p = new QueueProbe({
    clock,
    maxMs,
    sendToSelf: (pdu) => {
      sent.push(pdu);
      if (send === 'throws') throw new Error('no route');
      return send === 'rejects' ? Promise.reject(new Error('no route')) : Promise.resolve();
    },
  });
  return { p, clock, sent };
}

describe('QueueProbe', () => {
  it('sends nothing and measures nothing until watched', () => {
    const { p, clock, sent } = probe();
    clock.advance(1000);
    expect(sent).toEqual([]);
    expect(p.delayMs).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('measures the time its probe took to come back, sends the next one a gap later, one in flight at a time', () => {
    const { p, clock, sent } = probe();
    p.watch(true);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toHaveLength(10);
    expect(sent[0]?.[0]).toBe(0); // no CDAP PDU starts so
    clock.advance(30);
    expect(p.take(sent[0] as Uint8Array)).toBe(true);
    expect(p.delayMs).toBe(30);
    clock.advance(PROBE_GAP_MS - 1);
    expect(sent).toHaveLength(1);
    clock.advance(1);
    expect(sent).toHaveLength(2);
    clock.advance(50);
    expect(p.delayMs).toBe(30); // what it measured, not a guess from the one in flight
    p.take(sent[1] as Uint8Array);
    expect(p.delayMs).toBe(50);
  });

  it('shows no delay while no probe ever came back (a shim that does not deliver to its own address)', () => {
    const { p, clock, sent } = probe(500);
    p.watch(true);
    clock.advance(1200);
    expect(p.delayMs).toBe(0);
    expect(sent).toHaveLength(3); // one lost every 500 ms
  });

  it('a lost probe is not counted: another goes after maxMs, and the delay stays what was measured', () => {
    const { p, clock, sent } = probe(300);
    p.watch(true);
    clock.advance(5);
    p.take(sent[0] as Uint8Array);
    clock.advance(PROBE_GAP_MS); // the second goes, and is lost
    clock.advance(299);
    expect(p.delayMs).toBe(5);
    clock.advance(1);
    expect(sent).toHaveLength(3);
    expect(p.delayMs).toBe(5);
  });

  it('takes only its own probes: not a CDAP PDU, not another key, not another length; a stale one is taken but not measured', () => {
    const { p, clock, sent } = probe();
    const other = probe();
    p.watch(true);
    other.p.watch(true);
    const mine = sent[0] as Uint8Array;
    expect(p.take(encodeCdapMessage(keepaliveRequest(1)))).toBe(false);
    expect(p.take(other.sent[0] as Uint8Array)).toBe(false);
    expect(p.take(new Uint8Array(10))).toBe(false);
    expect(p.take(mine.slice(0, 9))).toBe(false);
    clock.advance(20);
    expect(p.take(mine)).toBe(true);
    clock.advance(PROBE_GAP_MS + 5);
    expect(p.take(mine)).toBe(true); // the first again (the network duplicated it): ours, but not the one in flight
    expect(p.delayMs).toBe(20);
  });

  it('stops when no longer watched: no timer left, nothing measured', () => {
    const { p, clock } = probe();
    p.watch(true);
    p.watch(false);
    expect(clock.pending).toBe(0);
    expect(p.delayMs).toBe(0);
  });

  it('a shim that throws or rejects the probe loses it, nothing more', async () => {
    for (const mode of ['throws', 'rejects'] as const) {
      const { p, clock, sent } = probe(100, mode);
      p.watch(true);
      clock.advance(250);
      await settle();
      expect(sent).toHaveLength(3);
      expect(p.delayMs).toBe(0);
      p.watch(false);
    }
  });
});

describe('SessionTable and the queue', () => {
  it('asks for the queue to be measured only while more than one enrollment is in progress and the enroller serves', () => {
    const { sessions, session, queue } = sessionTable();
    sessions.set('a-shim', session('a', 'a-shim'));
    expect(queue.watched).toBe(false);
    sessions.set('b-shim', session('b', 'b-shim'));
    expect(queue.watched).toBe(true);
    sessions.delete('b-shim');
    expect(queue.watched).toBe(false);
    const stopped = sessionTable({ running: false });
    stopped.sessions.set('a-shim', stopped.session('a', 'a-shim'));
    stopped.sessions.set('b-shim', stopped.session('b', 'b-shim'));
    expect(stopped.queue.watched).toBe(false);
  });

  it('M_STOP waits its interval plus the queue delay', () => {
    const { sessions, session, queue, clock, sent } = sessionTable({ retransmitMs: 100 });
    queue.delayMs = 250;
    sessions.set('a-shim', session('a', 'a-shim', { stopInvokeId: 7, burst: [new Uint8Array([1])] }));
    clock.advance(349);
    expect(sent).toEqual([]);
    clock.advance(100);
    expect(sent).toHaveLength(1);
  });
});

describe('Enroller: the probe on a shim', () => {
  it('sends no probe on a shim without a selfAddress (its localAddress may be where others reach it, not its own socket)', async () => {
    const { net } = await withEnroller();
    const toSelf: number[] = [];
    net.tap((d) => {
      if (d.to === 'bootstrap' && d.from === 'bootstrap') toSelf.push(d.pdu.length);
    });
    const peers = [new RawPeer(net.attach('a-shim')), new RawPeer(net.attach('b-shim'))];
    for (const [i, peer] of peers.entries()) await peer.send('bootstrap', connectMsg(1, `m${i}`));
    await settle();
    await new Promise((resolve) => setTimeout(resolve, 3 * PROBE_GAP_MS));
    expect(peers.every((peer) => peer.ofType(OpCode.M_CONNECT_R).length === 1)).toBe(true);
    expect(toSelf).toEqual([]);
  });

  it('a shim whose selfAddress getter throws, or is no string, is not probed; the enroller works', async () => {
    for (const bad of [
      () => {
        throw new Error('no self');
      },
      () => 42,
    ]) {
      const net = new MemoryNetwork({ seed: 1 });
      const inner = net.attach('bootstrap');
      const shim = {
        localAddress: inner.localAddress,
        get selfAddress(): string {
          return bad() as unknown as string;
        },
        send: (to: string, pdu: Uint8Array) => inner.send(to, pdu),
        onReceive: (h: (pdu: Uint8Array, from: string) => void) => inner.onReceive(h),
        close: () => inner.close(),
      };
      const { enroller } = await withEnroller({ shim, ipcpName: 'bootstrap' }, net, 'unused');
      const peers = [new RawPeer(net.attach('a-shim')), new RawPeer(net.attach('b-shim'))];
      for (const [i, peer] of peers.entries()) await peer.send('bootstrap', connectMsg(1, `m${i}`));
      await settle();
      expect(peers.every((peer) => peer.ofType(OpCode.M_CONNECT_R).length === 1)).toBe(true);
      expect(enroller.pendingEnrollments).toBe(2);
    }
  });

  it('over UDP, on a wildcard socket too: its probes come back, are neither counted nor answered, and stop with the enroller', async () => {
    const shim = await UdpShim.bind('0.0.0.0:0');
    onCleanup(() => shim.close());
    // Probes sent: the next goes 10 ms after the last came back, or 2 s after it went if it did not (8 x retransmitMs).
    let probes = 0;
    const send = shim.send.bind(shim);
    shim.send = (to, pdu) => {
      if (pdu.length === 10 && pdu[0] === 0) probes++;
      return send(to, pdu);
    };
    const { enroller } = await withEnroller({ shim, ipcpName: 'bootstrap' });
    const port = shim.localAddress.split(':')[1];
    const peers = await Promise.all([0, 1, 2].map(async () => UdpShim.bind('127.0.0.1:0')));
    for (const p of peers) onCleanup(() => p.close());
    const replies: number[] = [0, 0, 0];
    peers.forEach((p, i) => {
      p.onReceive(() => {
        replies[i] = (replies[i] ?? 0) + 1;
      });
    });
    await Promise.all(peers.map((p, i) => p.send(`127.0.0.1:${port}`, encodeCdapMessage(connectMsg(1, `m${i}`)))));
    await until(() => replies.every((n) => n >= 1), 2000, 'three CONNECT_Rs');
    await until(() => probes >= 3, 1500, 'three probes sent (each after the last came back)');
    expect(enroller.stats()).toMatchObject({ received: 3, malformed: 0 }); // neither counted nor answered
    expect(enroller.pendingEnrollments).toBe(3);
    await enroller.stop();
    const after = probes;
    await new Promise((resolve) => setTimeout(resolve, 5 * PROBE_GAP_MS));
    expect(probes).toBe(after); // stopped with the enrollments
  });
});
