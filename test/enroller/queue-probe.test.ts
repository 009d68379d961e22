/**
 * The enroller's receive-queue probe (src/enroller/queue-probe.ts): what it
 * measures, what it takes out of the receive path and what it leaves, and
 * that it stops with the enrollments.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { encodeCdapMessage } from '../../src/cdap/codec.js';
import { keepaliveRequest } from '../../src/cdap/messages.js';
import { PROBE_GAP_MS, QueueProbe } from '../../src/enroller/queue-probe.js';
import { OpCode, type Shim, UdpShim } from '../../src/index.js';
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
    clock.advance(50); // in flight for 50 ms: the queue holds it at least that long
    expect(p.delayMs).toBe(50);
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

  it('a lost probe counts for at most maxMs, then another goes', () => {
    const { p, clock, sent } = probe(300);
    p.watch(true);
    clock.advance(5);
    p.take(sent[0] as Uint8Array);
    clock.advance(PROBE_GAP_MS); // the second goes, and is lost
    clock.advance(299);
    expect(p.delayMs).toBe(299);
    clock.advance(1);
    expect(sent).toHaveLength(3);
    expect(p.delayMs).toBeLessThanOrEqual(300);
    clock.advance(1000);
    expect(p.delayMs).toBeLessThanOrEqual(300);
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

  it('a copy that waited in the queue longer than since the answer went is not answered again', () => {
    const { sessions, session, queue, clock } = sessionTable();
    const s = session('a', 'a-shim');
    sessions.set('a-shim', s);
    queue.delayMs = 400;
    clock.advance(399);
    expect(sessions.sendAgain(s)).toBe(false);
    clock.advance(1);
    expect(sessions.sendAgain(s)).toBe(true);
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
  it('probes its own address while two enrollments are in progress; probes are neither counted nor answered, and stop with them', async () => {
    const clock = new ManualClock();
    const { net, enroller } = await withEnroller({ clock });
    const toSelf: number[] = [];
    net.tap((d) => {
      if (d.from === 'bootstrap' && d.to === 'bootstrap') toSelf.push(d.pdu.length);
    });
    const a = new RawPeer(net.attach('a-shim'));
    const b = new RawPeer(net.attach('b-shim'));
    await a.send('bootstrap', connectMsg(1, 'a'));
    await settle();
    expect(toSelf).toEqual([]); // one enrollment alone: nothing to measure
    await b.send('bootstrap', connectMsg(1, 'b'));
    await settle();
    clock.advance(PROBE_GAP_MS);
    await settle();
    expect(toSelf.length).toBeGreaterThanOrEqual(2);
    expect(toSelf.every((n) => n === 10)).toBe(true);
    expect(enroller.stats()).toMatchObject({ received: 2, malformed: 0 });
    expect(a.ofType(OpCode.M_CONNECT_R)).toHaveLength(1);
    await enroller.stop();
    const after = toSelf.length;
    clock.advance(10_000);
    await settle();
    expect(toSelf.length).toBe(after);
  });

  it('over UDP, on a wildcard socket too: its probes come back, and members enrol as before', async () => {
    const inner = await UdpShim.bind('0.0.0.0:0');
    onCleanup(() => inner.close());
    let probes = 0;
    const shim: Shim = {
      localAddress: inner.localAddress,
      send: (to, pdu) => inner.send(to, pdu),
      onReceive: (handler) =>
        inner.onReceive((pdu, from) => {
          if (pdu.length === 10 && pdu[0] === 0) probes++;
          handler(pdu, from);
        }),
      close: () => inner.close(),
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
    await until(() => probes >= 2, 2000, 'two probes back');
    expect(enroller.stats()).toMatchObject({ received: 3, malformed: 0 });
    expect(enroller.pendingEnrollments).toBe(3);
  });
});
