/**
 * The Enroller's own paths, driven by a raw peer: health(), what its dispatch
 * answers (an operation it does not support, a reply, a request without an
 * invoke id, the size bound), its answers to M_READ and to a stray M_STOP_R,
 * the counters, its goodbye log, and start() and stop() overtaking each other.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AddressStoreListener } from '../../src/store/address-store.js';
import { keepaliveRequest, Result } from '../../src/cdap/messages.js';
import {
  type CdapMessage,
  decodeEnrollmentInfo,
  Enroller,
  encodeCdapMessage,
  MemoryAddressStore,
  MemoryNetwork,
  MemoryRib,
  OpCode,
} from '../../src/index.js';
import {
  cleanup,
  connectMsg,
  enrolledPeer,
  heldRib,
  newEnroller,
  onCleanup,
  RawPeer,
  settle,
  startedPeer,
  startMsg,
  stopReply,
  withEnroller,
} from '../support/helpers.js';
import { recordingLogger } from '../support/logs.js';
import { SharedMemoryStore } from './shared-memory-store.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

/** The answers `peer` got: op code, invoke id, result and reason. */
const answers = (peer: RawPeer) =>
  peer.received.map(({ msg }) => ({ opCode: msg.opCode, invokeId: msg.invokeId, result: msg.result, reason: msg.resultReason }));

describe('Enroller.health()', () => {
  it('not running before start() and after stop(); ok while it serves; not ok while its shared store cannot vouch', async () => {
    const store = new SharedMemoryStore();
    const net = new MemoryNetwork({ seed: 1 });
    onCleanup(() => net.close());
    const enroller = new Enroller({
      shim: net.attach('bootstrap'),
      rib: new MemoryRib(),
      ipcpName: 'bootstrap',
      difName: 'demo.DIF',
      addressPool: { first: 1002, last: 1999 },
      store,
    });
    onCleanup(() => enroller.stop());
    const stopped = { ok: false, reason: 'not running (stopped, or not started yet)' };
    expect(enroller.health()).toEqual(stopped);
    await enroller.start();
    expect(enroller.health()).toEqual({ ok: true });
    const unproven = {
      ok: false,
      reason: 'the shared address store cannot prove bindings current (its lease is lost or cannot be renewed)',
    };
    store.vouch = false; // the lease is in doubt
    expect(enroller.health()).toEqual(unproven);
    store.vouch = true;
    expect(enroller.health()).toEqual({ ok: true });
    (store.listener as AddressStoreListener).fenced?.(true); // the lease is lost
    expect(enroller.health()).toEqual(unproven);
    (store.listener as AddressStoreListener).fenced?.(false); // back: the fence lifts once its members are proven (none here)
    await settle();
    expect(enroller.health()).toEqual({ ok: true });
    await enroller.stop();
    expect(enroller.health()).toEqual(stopped);
  });
});

describe('Enroller: the dispatch', () => {
  it('an operation it does not serve is refused "not supported"; a reply or a request without an invoke id gets nothing', async () => {
    const { net, enroller } = await withEnroller();
    const peer = new RawPeer(net.attach('p'));
    let datagrams = 0;
    peer.shim.onReceive(() => datagrams++);
    await peer.send('bootstrap', { opCode: OpCode.M_WRITE, invokeId: 7, objClass: 'x', objName: '/x', objValue: { intval: 1 } });
    await peer.send('bootstrap', { opCode: OpCode.M_CREATE_R, invokeId: 8, result: 0 });
    await peer.send('bootstrap', { opCode: OpCode.M_READ_R, invokeId: 9, result: 0 });
    await peer.send('bootstrap', { ...keepaliveRequest(1), invokeId: 0 });
    await settle();
    expect(answers(peer)).toEqual([
      { opCode: OpCode.M_WRITE_R, invokeId: 7, result: Result.FAILED, reason: 'operation not supported by the enroller' },
    ]);
    expect(datagrams).toBe(1);
    expect(enroller.stats()).toMatchObject({ received: 4, malformed: 0 });
  });

  it('a request without an invoke id is not acted on: an M_START with none binds nothing', async () => {
    const { net, enroller } = await withEnroller();
    const peer = new RawPeer(net.attach('p'));
    await peer.send('bootstrap', connectMsg(1, 'p'));
    await settle();
    await peer.send('bootstrap', startMsg(0));
    await settle();
    expect(enroller.stats()).toMatchObject({ bound: 0, pending: 1 });
    expect(peer.ofType(OpCode.M_START_R)).toEqual([]);
  });

  it('a malformed M_CONNECT is refused naming the enroller and "unknown"; a malformed reply, or request without an invoke id, gets nothing', async () => {
    const { net, enroller } = await withEnroller();
    const peer = new RawPeer(net.attach('p'));
    let datagrams = 0;
    peer.shim.onReceive(() => datagrams++);
    // abs_syntax 73, then: M_CONNECT (0) with invoke id 5 and no names; M_READ_R (9) with invoke id 6, which a reply
    // to a READ must not carry with abs_syntax; M_READ (8) with the same fault and no invoke id, or 0
    await peer.sendRaw('bootstrap', Uint8Array.from([0x08, 0x49, 0x10, 0x00, 0x18, 0x05]));
    await peer.sendRaw('bootstrap', Uint8Array.from([0x08, 0x49, 0x10, 0x09, 0x18, 0x06]));
    await peer.sendRaw('bootstrap', Uint8Array.from([0x08, 0x49, 0x10, 0x08]));
    await peer.sendRaw('bootstrap', Uint8Array.from([0x08, 0x49, 0x10, 0x08, 0x18, 0x00])); // invoke id 0, written out
    await settle();
    expect(peer.received.map((r) => r.msg)).toMatchObject([
      { opCode: OpCode.M_CONNECT_R, invokeId: 5, result: Result.FAILED, srcApName: 'bootstrap', destApName: 'unknown' },
    ]);
    expect(datagrams).toBe(1);
    expect(enroller.stats().malformed).toBe(4);
  });

  it('stop() releases the members and the enrollments told their address, not one that only connected', async () => {
    const { net, enroller } = await withEnroller();
    const member = await enrolledPeer(net, 'm');
    const connected = new RawPeer(net.attach('c'));
    await connected.send('bootstrap', connectMsg(1, 'c'));
    await settle();
    await enroller.stop();
    await settle();
    expect(member.ofType(OpCode.M_RELEASE)).toHaveLength(2);
    expect(connected.ofType(OpCode.M_RELEASE)).toEqual([]);
  });

  it('a RIB that breaks its contract (list() gives no list) costs the member a failure answer, not silence; the enroller serves on', async () => {
    const rib = new MemoryRib();
    rib.list = () => 42 as never;
    const { net, enroller } = await withEnroller({ rib });
    const peer = new RawPeer(net.attach('p'));
    await peer.send('bootstrap', connectMsg(1, 'p'));
    await settle();
    await peer.send('bootstrap', startMsg(2));
    await settle();
    expect(peer.ofType(OpCode.M_START_R)).toMatchObject([{ invokeId: 2, result: Result.FAILED, resultReason: 'enroller failure' }]);
    expect(enroller.running).toBe(true);
    const other = new RawPeer(net.attach('q'));
    await other.send('bootstrap', connectMsg(1, 'q'));
    await settle();
    expect(other.ofType(OpCode.M_CONNECT_R)).toMatchObject([{ result: 0 }]);
  });

  it('a PDU of exactly maxPduBytes is read; one byte more is dropped as oversize', async () => {
    const { net, enroller } = await withEnroller({ maxPduBytes: 64 });
    const peer = new RawPeer(net.attach('p'));
    const read = (invokeId: number, size: number): CdapMessage => {
      const base = { opCode: OpCode.M_READ, invokeId, objClass: 'x', objName: '/' };
      const bare = encodeCdapMessage(base).length;
      return { ...base, objName: '/'.padEnd(1 + size - bare, 'x') };
    };
    for (const [id, size] of [
      [1, 64],
      [2, 65],
    ] as const) {
      const msg = read(id, size);
      expect(encodeCdapMessage(msg).length).toBe(size);
      await peer.send('bootstrap', msg);
    }
    await settle();
    expect(answers(peer).map((a) => a.invokeId)).toEqual([1]);
    expect(enroller.stats()).toMatchObject({ received: 2, oversize: 1 });
  });
});

describe('Enroller: a repeated M_CONNECT', () => {
  it('one arriving between M_START and M_STOP_R is answered as before and the enrollment completes', async () => {
    const { net, enroller } = await withEnroller();
    const peer = await startedPeer(net, 'm');
    await peer.send('bootstrap', connectMsg(1, 'm')); // the network delivers it again, late
    await settle();
    expect(peer.ofType(OpCode.M_CONNECT_R)).toHaveLength(2);
    await peer.send('bootstrap', stopReply(peer));
    await settle();
    expect(enroller.members()).toMatchObject([{ name: 'm', address: 1002 }]);
  });

  it('one with the same invoke id but another name is a new enrollment, not a repeat', async () => {
    const { net, enroller } = await withEnroller();
    const peer = new RawPeer(net.attach('m-shim'));
    await peer.send('bootstrap', connectMsg(1, 'a'));
    await settle();
    await peer.send('bootstrap', connectMsg(1, 'b'));
    await settle();
    expect(peer.ofType(OpCode.M_CONNECT_R).map((r) => r.destApName)).toEqual(['a', 'b']);
    await peer.send('bootstrap', startMsg(2));
    await settle();
    await peer.send('bootstrap', stopReply(peer));
    await settle();
    expect(enroller.members()).toMatchObject([{ name: 'b' }]);
  });
});

describe('Enroller: an M_START of no object', () => {
  it('is refused "cannot start that object", connected or not', async () => {
    const { net } = await withEnroller();
    const peer = new RawPeer(net.attach('p'));
    await peer.send('bootstrap', { opCode: OpCode.M_START, invokeId: 3 });
    await peer.send('bootstrap', connectMsg(1, 'p'));
    await settle();
    await peer.send('bootstrap', { opCode: OpCode.M_START, invokeId: 4 });
    await settle();
    expect(answers(peer).filter((a) => a.opCode === OpCode.M_START_R)).toEqual([
      { opCode: OpCode.M_START_R, invokeId: 3, result: Result.FAILED, reason: 'cannot start that object' },
      { opCode: OpCode.M_START_R, invokeId: 4, result: Result.FAILED, reason: 'cannot start that object' },
    ]);
  });
});

describe('Enroller: the M_STOP_R that completes an enrollment', () => {
  it('one answering another invoke id completes nothing; the one answering its M_STOP does', async () => {
    const { net, enroller } = await withEnroller();
    const peer = await startedPeer(net, 'm');
    const stop = peer.ofType(OpCode.M_STOP).at(-1)?.invokeId ?? 0;
    await peer.send('bootstrap', { opCode: OpCode.M_STOP_R, invokeId: stop + 1, result: 0 });
    await settle();
    expect(enroller.members()).toEqual([]);
    expect(enroller.pendingEnrollments).toBe(1);
    await peer.send('bootstrap', { opCode: OpCode.M_STOP_R, invokeId: stop, result: 0 });
    await settle();
    expect(enroller.members()).toMatchObject([{ name: 'm' }]);
    expect(enroller.pendingEnrollments).toBe(0);
  });

  it('with a shared store, one that comes after the lease its address was bound under lapsed completes nothing: M_RELEASE, enrol again', async () => {
    const store = new SharedMemoryStore();
    const { net, enroller } = await withEnroller({ store });
    const peer = await startedPeer(net, 'm');
    expect(peer.ofType(OpCode.M_START_R)).toMatchObject([{ result: 0 }]);
    (store.listener as AddressStoreListener).fenced?.(true); // the lease is lost...
    (store.listener as AddressStoreListener).fenced?.(false); // ...and a new one taken: bindings of the old one are unproven
    await settle();
    await peer.send('bootstrap', stopReply(peer));
    await settle();
    expect(peer.ofType(OpCode.M_RELEASE)).toHaveLength(1);
    expect(enroller.members()).toEqual([]);
    expect(enroller.pendingEnrollments).toBe(0);
  });
});

describe('Enroller: a keepalive for an M_STOP_R that was lost', () => {
  /** `name` connected and started from `${name}-shim`; its M_STOP out, its M_STOP_R never sent. */
  async function stopUnanswered(net: MemoryNetwork, name: string, peer?: RawPeer, first = 1) {
    const started = await startedPeer(net, name, peer, first);
    expect(started.ofType(OpCode.M_STOP).length).toBeGreaterThan(0);
    return started;
  }

  it('completes the enrollment (only an enrolled member sends one); any other M_READ does not', async () => {
    const { net, enroller } = await withEnroller();
    const peer = await stopUnanswered(net, 'm');
    await peer.send('bootstrap', { opCode: OpCode.M_READ, invokeId: 20, objClass: 'x', objName: '/x' });
    await settle();
    expect(peer.ofType(OpCode.M_READ_R)).toMatchObject([{ invokeId: 20, result: Result.FAILED, resultReason: 'not enrolled' }]);
    expect(enroller.pendingEnrollments).toBe(1);
    await peer.send('bootstrap', keepaliveRequest(21));
    await settle();
    expect(peer.ofType(OpCode.M_READ_R).at(-1)).toMatchObject({ invokeId: 21, result: 0 });
    expect(enroller.members()).toMatchObject([{ name: 'm' }]);
    expect(enroller.pendingEnrollments).toBe(0);
  });

  it('from a member listed by an earlier enrollment, it may predate the new one: answered, and the new one still waits for its M_STOP_R', async () => {
    const { net, enroller } = await withEnroller();
    const peer = await enrolledPeer(net, 'm');
    await stopUnanswered(net, 'm', peer, 5); // enrolling again, from the same address
    await peer.send('bootstrap', keepaliveRequest(21));
    await settle();
    expect(peer.ofType(OpCode.M_READ_R).at(-1)).toMatchObject({ invokeId: 21, result: 0 });
    expect(enroller.pendingEnrollments).toBe(1);
  });
});

describe('Enroller: a keepalive while its shared store cannot vouch', () => {
  it('is refused "not enrolled", and the member is let go: it enrols again, here or elsewhere', async () => {
    const store = new SharedMemoryStore();
    const { net, enroller } = await withEnroller({ store });
    const peer = await enrolledPeer(net, 'm');
    store.vouch = false; // the lease is in doubt
    await peer.send('bootstrap', keepaliveRequest(30));
    await settle();
    expect(answers(peer)).toEqual([
      {
        opCode: OpCode.M_READ_R,
        invokeId: 30,
        result: Result.FAILED,
        reason: 'not enrolled: this enroller lost its lease in the shared store; enrol again',
      },
    ]);
    expect(enroller.members()).toEqual([]);
    expect(enroller.stats().keepalives).toBe(0);
  });
});

describe('Enroller: M_READ and a stray M_STOP_R', () => {
  it('a member’s keepalive is answered and counted; another object is "cannot read" it; a stranger is "not enrolled"', async () => {
    const { net, enroller } = await withEnroller();
    const member = await enrolledPeer(net, 'm');
    await member.send('bootstrap', keepaliveRequest(10));
    await member.send('bootstrap', { opCode: OpCode.M_READ, invokeId: 11, objClass: 'x', objName: '/dif/secret' });
    await member.send('bootstrap', { opCode: OpCode.M_READ, invokeId: 12 });
    const stranger = new RawPeer(net.attach('s'));
    await stranger.send('bootstrap', keepaliveRequest(13));
    await settle();
    expect(answers(member)).toEqual([
      { opCode: OpCode.M_READ_R, invokeId: 10, result: Result.OK, reason: undefined },
      { opCode: OpCode.M_READ_R, invokeId: 11, result: Result.FAILED, reason: 'cannot read /dif/secret' },
      { opCode: OpCode.M_READ_R, invokeId: 12, result: Result.FAILED, reason: 'cannot read that object' },
    ]);
    expect(answers(stranger)).toEqual([{ opCode: OpCode.M_READ_R, invokeId: 13, result: Result.FAILED, reason: 'not enrolled' }]);
    expect(enroller.stats().keepalives).toBe(1);
  });

  it('an M_STOP_R from a peer it holds nothing for gets M_RELEASE when it says success, nothing when it says failure', async () => {
    const { net } = await withEnroller();
    const peer = new RawPeer(net.attach('p'));
    await peer.send('bootstrap', { opCode: OpCode.M_STOP_R, invokeId: 5, result: Result.FAILED });
    await settle();
    expect(peer.received).toEqual([]);
    await peer.send('bootstrap', { opCode: OpCode.M_STOP_R, invokeId: 6, result: 0 });
    await peer.send('bootstrap', { opCode: OpCode.M_STOP_R, invokeId: 7 }); // no result: success
    await settle();
    expect(peer.ofType(OpCode.M_RELEASE)).toHaveLength(2);
  });
});

describe('Enroller: the alternates it advertises', () => {
  it('its configured alternates, then the other enrollers of its shared store live now, each address once', async () => {
    const store = new SharedMemoryStore();
    const { net } = await withEnroller({ store, alternates: ['alt:7000', 'e2:7000', 'alt:7000'] });
    const told = async (name: string) => {
      const peer = new RawPeer(net.attach(`${name}-shim`));
      await peer.send('bootstrap', connectMsg(1, name));
      await settle();
      await peer.send('bootstrap', startMsg(2));
      await settle();
      const reply = peer.ofType(OpCode.M_START_R)[0];
      return decodeEnrollmentInfo(reply?.objValue?.byteval ?? new Uint8Array()).alternates;
    };
    expect(await told('a')).toEqual(['alt:7000', 'e2:7000']); // none live: the configured ones
    (store.listener as AddressStoreListener).enrollers(['e2:7000', 'e3:7000']);
    expect(await told('b')).toEqual(['alt:7000', 'e2:7000', 'e3:7000']);
  });
});

describe('Enroller: counters and the goodbye', () => {
  it('stats(): free is the pool less what is bound', async () => {
    const { net, enroller } = await withEnroller({ addressPool: { first: 1002, last: 1011 } });
    expect(enroller.stats()).toMatchObject({ bound: 0, free: 10 });
    await enrolledPeer(net, 'a');
    await enrolledPeer(net, 'b');
    expect(enroller.stats()).toMatchObject({ bound: 2, free: 8, members: 2 });
  });

  it('stop() says how many members it releases, one or several; none, nothing', async () => {
    for (const count of [0, 1, 2]) {
      const { logger, lines } = recordingLogger();
      const { net, enroller } = await withEnroller({ logger }, new MemoryNetwork({ seed: count + 1 }));
      for (let i = 0; i < count; i++) await enrolledPeer(net, `m${i}`);
      await enroller.stop();
      const releasing = lines.filter((l) => (l.fields as { event?: string }).event === 'enroller:releasing');
      const said = [
        '',
        'stopping: releasing 1 member (M_RELEASE), so they fail over at once',
        'stopping: releasing 2 members (M_RELEASE), so they fail over at once',
      ];
      expect(releasing.map((l) => [l.level, l.fields, l.message])).toEqual(
        count === 0 ? [] : [['info', { enroller: 'bootstrap', event: 'enroller:releasing', members: count }, said[count]]],
      );
      await cleanup();
    }
  });
});

describe('Enroller: start() and stop() overtaking each other', () => {
  it('a stop() while start() writes the RIB wins: the store is not opened and the enroller does not serve', async () => {
    const { rib, release } = heldRib();
    const store = new SharedMemoryStore();
    const { net, enroller } = newEnroller({ rib, store });
    const starting = enroller.start();
    await settle();
    const stopping = enroller.stop();
    release();
    await starting;
    await stopping;
    expect(enroller.running).toBe(false);
    expect(store.listener).toBeUndefined(); // the store was never opened: no lease taken for an enroller already stopped
    const peer = new RawPeer(net.attach('p'));
    await peer.send('bootstrap', connectMsg(1, 'p'));
    await settle();
    expect(peer.received).toEqual([]);
    await enroller.start(); // and it can start again
    expect(enroller.running).toBe(true);
    await peer.send('bootstrap', connectMsg(2, 'p'));
    await settle();
    expect(peer.ofType(OpCode.M_CONNECT_R)).toHaveLength(1);
  });

  it('a start() right after a stop() that is still saying goodbye waits for it, then serves', async () => {
    const { net, enroller } = await withEnroller();
    await enrolledPeer(net, 'm');
    const stopping = enroller.stop();
    const starting = enroller.start();
    await stopping;
    await starting;
    expect(enroller.running).toBe(true);
    expect(enroller.health()).toEqual({ ok: true });
  });

  it('start() while it serves does nothing: the store is opened once, and the DIF name is in the RIB', async () => {
    const store = new MemoryAddressStore();
    const load = vi.spyOn(store, 'load');
    const { rib, enroller, net } = await withEnroller({ store });
    await enroller.start();
    expect(load).toHaveBeenCalledTimes(1);
    expect(await rib.read('/dif/config/name')).toMatchObject({ class: 'dif_config', value: { strval: 'demo.DIF' } });
    const peer = await enrolledPeer(net, 'm'); // and it serves as before
    expect(enroller.members()).toMatchObject([{ name: 'm' }]);
    expect(peer.received).toEqual([]);
  });

  it('start(), stop(), start() called together: the last start() wins alone, and the RIB is written and the store opened once', async () => {
    const store = new MemoryAddressStore();
    const load = vi.spyOn(store, 'load');
    const rib = new MemoryRib();
    const write = vi.spyOn(rib, 'write');
    const { net, enroller } = newEnroller({ rib, store });
    await Promise.all([enroller.start(), enroller.stop(), enroller.start()]);
    expect(enroller.running).toBe(true);
    expect(write).toHaveBeenCalledTimes(1);
    expect(load).toHaveBeenCalledTimes(1);
    await enrolledPeer(net, 'm');
    expect(enroller.members()).toMatchObject([{ name: 'm', address: 1002 }]);
  });

  it('await using stops it at the end of the scope', async () => {
    const { enroller } = await withEnroller();
    {
      await using scoped = enroller;
      expect(scoped.running).toBe(true);
    }
    expect(enroller.running).toBe(false);
  });
});
