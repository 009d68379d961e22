/**
 * LivenessProber through the Enroller, on a clock moved by hand: a newcomer
 * asking for a name that another IPCP holds from another shim address (an
 * enrollment in progress, or a member) makes the enroller ask that one
 * whether it is still there, and the answer, or a silence of PROBE_MS, decides.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { PROBE_MS } from '../../src/enroller/liveness.js';
import { Result } from '../../src/cdap/messages.js';
import { type MemoryNetwork, OpCode } from '../../src/index.js';
import { cleanup, connectMsg, RawPeer, settle, startedPeer, stopReply, withEnroller } from '../support/helpers.js';
import { HmacPeer } from '../support/hmac-peer.js';
import { ManualClock } from './manual-clock.js';

afterEach(cleanup);

/** An enroller on a clock moved by hand, ten probe lengths past its start (so clock times are large). */
async function world() {
  const clock = new ManualClock();
  const { net, enroller } = await withEnroller({ clock, leaseMs: 600_000 });
  clock.advance(10 * PROBE_MS);
  /** The answers to M_CONNECT `peer` got: result and reason. */
  const connectAnswers = (peer: RawPeer) => peer.ofType(OpCode.M_CONNECT_R).map((m) => ({ result: m.result, reason: m.resultReason }));
  /** `peer` asks for `name` with a new invoke id. */
  let invokeId = 100;
  const ask = async (peer: RawPeer, name: string) => {
    await peer.send('bootstrap', connectMsg(invokeId++, name));
    await settle();
  };
  return { clock, net, enroller, connectAnswers, ask };
}

/** A peer at `shim` connected and started as `name`, its M_STOP unanswered: an enrollment in progress holding the name. */
async function enrolling(net: MemoryNetwork, shim: string, name: string): Promise<RawPeer> {
  const peer = await startedPeer(net, name, new RawPeer(net.attach(shim)));
  expect(peer.ofType(OpCode.M_STOP)).toHaveLength(1);
  return peer;
}

const probesTo = (peer: RawPeer) => peer.ofType(OpCode.M_READ);

describe('LivenessProber: a name held from another shim address', () => {
  it('by an enrollment in progress that answers the probe: "busy" while asked, then "in use", naming what it is doing', async () => {
    const { clock, net, connectAnswers, ask } = await world();
    const holder = await enrolling(net, 'a-shim', 'dup');
    const newcomer = new RawPeer(net.attach('b-shim'));
    await ask(newcomer, 'dup');
    const [probe] = probesTo(holder);
    expect(probe).toBeDefined();
    clock.advance(1);
    await holder.send('bootstrap', { opCode: OpCode.M_READ_R, invokeId: probe?.invokeId, result: 0 });
    await settle();
    await ask(newcomer, 'dup');
    expect(connectAnswers(newcomer)).toEqual([
      {
        result: Result.BUSY,
        reason: 'busy: IPCP name "dup" is enrolling from a-shim; checking whether that IPCP is still alive, try again',
      },
      { result: Result.NAME_IN_USE, reason: 'IPCP name "dup" is enrolling from another shim address' },
    ]);
  });

  it('by one silent for exactly PROBE_MS after the probe: gone, and the newcomer has the name', async () => {
    const { clock, net, connectAnswers, ask } = await world();
    await enrolling(net, 'a-shim', 'dup');
    const newcomer = new RawPeer(net.attach('b-shim'));
    await ask(newcomer, 'dup');
    clock.advance(PROBE_MS - 1);
    await ask(newcomer, 'dup');
    clock.advance(1);
    await ask(newcomer, 'dup');
    expect(connectAnswers(newcomer).map((a) => a.result)).toEqual([Result.BUSY, Result.BUSY, 0]);
  });

  it('a probe decides for ten probe lengths after it was sent; one older is sent anew', async () => {
    const { clock, net, connectAnswers, ask } = await world();
    await enrolling(net, 'a-shim', 'dup');
    const newcomer = new RawPeer(net.attach('b-shim'));
    await ask(newcomer, 'dup'); // probe of a-shim
    clock.advance(10 * PROBE_MS);
    await ask(newcomer, 'dup'); // the probe is exactly 10 probe lengths old: it decides (gone)
    const b2 = new RawPeer(net.attach('b2-shim'));
    const holder = await enrolling(net, 'd-shim', 'third');
    await ask(b2, 'third');
    clock.advance(10 * PROBE_MS + 1);
    await ask(b2, 'third'); // older than that: a new probe, "busy" again
    expect(connectAnswers(newcomer).map((a) => a.result)).toEqual([Result.BUSY, 0]);
    expect(connectAnswers(b2).map((a) => a.result)).toEqual([Result.BUSY, Result.BUSY]);
    expect(probesTo(holder).length).toBeGreaterThanOrEqual(2);
  });

  // Found by an audit (2026-12-06): the second M_READ was checked only where it must not go.
  it('asks a silent holder again PROBE_MS / 2 later, with a fresh invoke id; an answer to the second alone keeps the name', async () => {
    const { clock, net, connectAnswers, ask } = await world();
    const holder = await startedPeer(net, 'dup', new RawPeer(net.attach('a-shim')));
    await holder.send('bootstrap', stopReply(holder));
    await settle();
    const newcomer = new RawPeer(net.attach('b-shim'));
    await ask(newcomer, 'dup');
    expect(probesTo(holder)).toHaveLength(1);
    clock.advance(PROBE_MS / 2 - 1);
    await settle();
    expect(probesTo(holder)).toHaveLength(1);
    clock.advance(11); // the wheel's bucket (10 ms) at most past its time
    await settle();
    const [first, second] = probesTo(holder);
    expect(second?.invokeId).toBeDefined();
    expect(second?.invokeId).not.toBe(first?.invokeId);
    await holder.send('bootstrap', { opCode: OpCode.M_READ_R, invokeId: second?.invokeId, result: 0 }); // the first was lost
    await settle();
    clock.advance(PROBE_MS);
    await ask(newcomer, 'dup');
    expect(connectAnswers(newcomer).map((a) => a.result)).toEqual([Result.BUSY, Result.NAME_IN_USE]);
  });

  it('the second M_READ does not go to a holder that left meanwhile', async () => {
    const { clock, net, enroller, ask } = await world();
    const holder = await startedPeer(net, 'dup', new RawPeer(net.attach('a-shim')));
    await holder.send('bootstrap', stopReply(holder));
    await settle();
    expect(enroller.members()).toMatchObject([{ name: 'dup', shimAddress: 'a-shim' }]);
    await ask(new RawPeer(net.attach('b-shim')), 'dup');
    expect(probesTo(holder)).toHaveLength(1);
    await holder.send('bootstrap', { opCode: OpCode.M_RELEASE, invokeId: 3 }); // it leaves
    await settle();
    clock.advance(PROBE_MS);
    await settle();
    expect(probesTo(holder)).toHaveLength(1);
  });

  it('stop() forgets a probe not decided yet: no timer of it is left', async () => {
    const { clock, net, enroller, ask } = await world();
    await enrolling(net, 'a-shim', 'dup');
    await ask(new RawPeer(net.attach('b-shim')), 'dup');
    await enroller.stop();
    expect(clock.pending).toBe(0);
  });
});

describe('LivenessProber: a holder enrolled and enrolling again from one address, with HMAC-SHA256', () => {
  it('is alive when its new enrollment answers the probe, though its old enrollment has been silent', async () => {
    const KEY = 'correct horse battery staple';
    const clock = new ManualClock();
    const { net } = await withEnroller({ clock, leaseMs: 600_000, auth: { mechanism: 'hmac-sha256', key: KEY } });
    clock.advance(10 * PROBE_MS);
    const shim = net.attach('a-shim');
    const old = new HmacPeer(shim, 'dup', KEY);
    await old.enrol();
    clock.advance(5 * PROBE_MS); // the enrolled one says nothing more
    const again = new HmacPeer(shim, 'dup', KEY); // the same IPCP enrolling again, from the same address
    await again.connect(10);
    await settle();
    expect(again.ofType(OpCode.M_CONNECT_R).at(-1)).toMatchObject({ result: 0 });
    const newcomer = new HmacPeer(net.attach('b-shim'), 'dup', KEY);
    await newcomer.connect(1);
    await settle();
    await newcomer.start(2); // with HMAC-SHA256 the name is claimed once the newcomer has given its proof
    await settle();
    const probe = again.ofType(OpCode.M_READ).at(-1);
    expect(probe).toBeDefined();
    clock.advance(1);
    await again.send({ opCode: OpCode.M_READ_R, invokeId: probe?.invokeId, result: 0 }); // through the new enrollment's channel
    await settle();
    await newcomer.start(3);
    await settle();
    expect(newcomer.ofType(OpCode.M_START_R).map((m) => m.result)).toEqual([Result.BUSY, Result.NAME_IN_USE]);
  });
});
