import { on, once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { type EnrollmentState, EnrollmentManager, MemoryRib } from '../../src/index.js';
import { NodeCompatibleEmitter } from '../../src/util/node-emitter.js';
import { cleanup, withEnroller } from '../support/helpers.js';

afterEach(cleanup);

describe("Node's events helpers take a manager and an enroller as they are", () => {
  it('events.once(mgr, "enrolled") and events.once(enroller, "member:enrolled") resolve with the event', async () => {
    const { net, enroller } = await withEnroller();
    const mgr = new EnrollmentManager({ shim: net.attach('m'), rib: new MemoryRib(), ipcpName: 'm' });
    const enrolled = once(mgr, 'enrolled');
    const admitted = once(enroller, 'member:enrolled');
    await mgr.enrolWithBootstrap('bootstrap');
    const [info] = await enrolled;
    const [member] = await admitted;
    expect(info).toMatchObject({ address: mgr.address, bootstrap: 'bootstrap' });
    expect(member).toMatchObject({ name: 'm', address: mgr.address });
    expect(mgr.listenerCount('enrolled')).toBe(0);
    await mgr.close();
  });

  it('events.on(mgr, "state:change") iterates the states, and lets go of its listener when the loop ends', async () => {
    const { net } = await withEnroller();
    const mgr = new EnrollmentManager({ shim: net.attach('m'), rib: new MemoryRib(), ipcpName: 'm' });
    const seen: EnrollmentState['type'][] = [];
    const done = (async () => {
      for await (const [state] of on(mgr, 'state:change')) {
        seen.push((state as EnrollmentState).type);
        if ((state as EnrollmentState).type === 'enrolled') break;
      }
    })();
    await mgr.enrolWithBootstrap('bootstrap');
    await done;
    expect(seen).toEqual(['enrolling', 'enrolled']);
    expect(mgr.listenerCount('state:change')).toBe(0);
    await mgr.close();
  });

  it('events.once(mgr, ..., { signal }) is aborted like on any emitter', async () => {
    const { net } = await withEnroller();
    const mgr = new EnrollmentManager({ shim: net.attach('m'), rib: new MemoryRib(), ipcpName: 'm' });
    const ac = new AbortController();
    const waiting = once(mgr, 'connection:lost', { signal: ac.signal });
    ac.abort();
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
    expect(mgr.listenerCount('connection:lost')).toBe(0);
    await mgr.close();
  });
});

describe('NodeCompatibleEmitter', () => {
  type Events = { tick: [n: number] };

  it('prependListener and prependOnceListener put the listener first; the once one runs once', () => {
    const e = new NodeCompatibleEmitter<Events>();
    const calls: string[] = [];
    e.on('tick', () => calls.push('a'));
    e.on('tick', () => calls.push('b'));
    e.prependListener('tick', () => calls.push('first'));
    e.prependOnceListener('tick', () => calls.push('once'));
    e.emit('tick', 1);
    e.emit('tick', 2);
    expect(calls).toEqual(['once', 'first', 'a', 'b', 'first', 'a', 'b']);
  });

  it('prepending to an event with no or one listener works too', () => {
    const e = new NodeCompatibleEmitter<Events>();
    const calls: string[] = [];
    e.prependListener('tick', () => calls.push('only'));
    e.prependListener('tick', () => calls.push('new'));
    e.emit('tick', 1);
    expect(calls).toEqual(['new', 'only']);
  });

  it('records the max-listeners setting (0, unlimited, by default) and gives the raw listeners', () => {
    const e = new NodeCompatibleEmitter<Events>();
    expect(e.getMaxListeners()).toBe(0);
    expect(e.setMaxListeners(5)).toBe(e);
    expect(e.getMaxListeners()).toBe(5);
    const fn = () => undefined;
    e.on('tick', fn);
    expect(e.rawListeners('tick')).toEqual([fn]);
  });
});

describe('Symbol.asyncDispose', () => {
  it('closes a manager (it sends M_RELEASE and lets go of the shim) and stops an enroller', async () => {
    const { net, enroller } = await withEnroller();
    const mgr = new EnrollmentManager({ shim: net.attach('m'), rib: new MemoryRib(), ipcpName: 'm' });
    await mgr.enrolWithBootstrap('bootstrap');
    const released = once(enroller, 'member:released');
    await mgr[Symbol.asyncDispose]();
    expect(mgr.state.type).toBe('closed');
    await released;
    await enroller[Symbol.asyncDispose]();
    expect(enroller.running).toBe(false);
  });
});
