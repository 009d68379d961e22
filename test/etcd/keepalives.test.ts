/**
 * Which etcd member a lease keepalive goes to (no etcd: a client per member
 * whose keepalive streams the test answers, holds or fails). A real paused
 * member is in faults.paused-member.test.ts.
 */
import { EventEmitter } from 'node:events';
import type { Etcd3 } from 'etcd3';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemberKeepalives, memberKeepalives } from '../../src/etcd/keepalives.js';
import { etcdStoreOptionsSchema } from '../../src/etcd/options.js';

const SLOW_MS = 333;

/** What a member does with a keepalive: answers alive, holds it (answers nothing), fails it at once, or ends the stream unanswered. */
type Behaviour = 'answers' | 'holds' | 'fails' | 'ends';

/** A client of one member: its keepalive streams behave as `behaviour` says; each id written is recorded. */
class FakeMember {
  behaviour: Behaviour = 'answers';
  readonly ids: string[] = [];
  readonly deadlines: number[] = [];
  closed = 0;
  readonly held: EventEmitter[] = [];
  cancelled = 0;
  readonly client = {
    leaseClient: {
      leaseKeepAlive: async (options: { deadline: number }) => {
        this.deadlines.push(options.deadline);
        const stream = Object.assign(new EventEmitter(), {
          write: (req: { ID: string }) => {
            this.ids.push(req.ID);
            if (this.behaviour === 'answers') queueMicrotask(() => stream.emit('data', { ID: req.ID, TTL: '10' }));
            else if (this.behaviour === 'fails') queueMicrotask(() => stream.emit('error', new Error('14 UNAVAILABLE')));
            else if (this.behaviour === 'ends') queueMicrotask(() => stream.emit('end'));
            else this.held.push(stream);
          },
          end: () => {},
          cancel: () => {
            this.cancelled++;
            stream.emit('error', new Error('1 CANCELLED: Cancelled on client'));
          },
        });
        return stream;
      },
    },
    close: () => {
      this.closed++;
    },
  } as unknown as Etcd3;
}

/** `n` members, their keepalives (the first member tried drawn with `random`: by default the first), and a clock the test moves. */
function cluster(n: number, random = () => 0) {
  const members = Array.from({ length: n }, () => new FakeMember());
  const clock = { now: 0 };
  const keepalives = new MemberKeepalives(
    members.map((m) => m.client),
    SLOW_MS,
    () => clock.now,
    random,
  );
  /** Sends one keepalive at the clock's time, and settles it (held ones stay in flight). */
  const send = async (): Promise<number> => {
    const before = members.map((m) => m.ids.length);
    keepalives.send('lease-1', 1_000_000).catch(() => undefined);
    await settle();
    return members.findIndex((m, i) => m.ids.length > (before[i] ?? 0));
  };
  return { members, clock, keepalives, send };
}

/** Lets the keepalives in flight (not held) settle. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('MemberKeepalives', () => {
  it('sends the keepalive with the lease id and deadline, and goes on to the member that answered', async () => {
    const c = cluster(3);
    const first = c.keepalives.send('lease-7', 12_345);
    await expect(first).resolves.toEqual({ ID: 'lease-7', TTL: '10' });
    expect(c.members[0]?.ids).toEqual(['lease-7']);
    expect(c.members[0]?.deadlines).toEqual([12_345]);
    for (let i = 0; i < 5; i++) {
      c.clock.now += 1000;
      expect(await c.send()).toBe(0);
    }
  });

  it('a member that holds a keepalive longer than slowMs is passed over; an answer from it makes it trusted again', async () => {
    const c = cluster(3);
    const [a] = c.members as [FakeMember];
    a.behaviour = 'holds';
    void c.keepalives.send('lease-1', 1_000_000);
    await settle();
    c.clock.now += SLOW_MS - 1; // not yet suspect: it may still answer
    expect(await c.send()).toBe(0);
    c.clock.now += 1; // unanswered for SLOW_MS: suspect
    const next = await c.send();
    expect(next).not.toBe(0);
    c.clock.now += 1000;
    expect(await c.send()).toBe(next); // the member that answered
    // The member answers its held keepalives at last (it caught up): trusted again, and picked once the one that
    // answered since fails.
    a.behaviour = 'answers';
    for (const stream of a.held) stream.emit('data', { ID: 'lease-1', TTL: '10' });
    await settle();
    (c.members[next] as FakeMember).behaviour = 'fails';
    c.clock.now += 1000;
    expect(await c.send()).toBe(next);
    c.clock.now += 1;
    expect(await c.send()).toBe(0);
  });

  it('a member whose keepalive failed is passed over until it answers one', async () => {
    const c = cluster(2);
    const [a, b] = c.members as [FakeMember, FakeMember];
    a.behaviour = 'fails';
    await expect(c.keepalives.send('lease-1', 1)).rejects.toThrow('UNAVAILABLE');
    expect(await c.send()).toBe(1);
    c.clock.now += 10_000;
    expect(await c.send()).toBe(1);
    // Both suspect: the one sent to least recently is tried (a member back from the dead is found).
    b.behaviour = 'fails';
    c.clock.now += 1;
    await c.send(); // b fails
    a.behaviour = 'answers';
    c.clock.now += 1;
    expect(await c.send()).toBe(0);
    c.clock.now += 1;
    expect(await c.send()).toBe(0);
  });

  it('close() cancels the keepalives in flight (a member holding one would keep it to its deadline) and closes every member client', async () => {
    const c = cluster(3);
    const [a] = c.members as [FakeMember];
    a.behaviour = 'holds';
    const held = c.keepalives.send('lease-1', 1_000_000);
    await settle();
    c.keepalives.close();
    await expect(held).rejects.toThrow('CANCELLED');
    expect(c.members.map((m) => m.closed)).toEqual([1, 1, 1]);
    expect(a.cancelled).toBe(1);
  });

  it('a stream etcd ends without an answer fails its keepalive, and leaves nothing in flight', async () => {
    const c = cluster(2);
    const [a] = c.members as [FakeMember];
    a.behaviour = 'ends';
    await expect(c.keepalives.send('lease-1', 1)).rejects.toThrow('without an answer');
    a.behaviour = 'answers';
    c.clock.now += 10_000;
    expect(await c.send()).toBe(1); // (its latest failed: suspect until it answers, but not held for ever)
    (c.members[1] as FakeMember).behaviour = 'fails';
    c.clock.now += 1;
    await c.send();
    c.clock.now += 1;
    expect(await c.send()).toBe(0);
    c.clock.now += 1;
    expect(await c.send()).toBe(0); // it answered: trusted, and nothing of the ended stream keeps it suspect
  });

  it('members are ranked by the send time of the keepalive they answered: a slow member answering late is not preferred', async () => {
    const c = cluster(2);
    const [slow] = c.members as [FakeMember];
    slow.behaviour = 'holds';
    void c.keepalives.send('lease-1', 1_000_000); // to the slow member, sent at 0
    await settle();
    c.clock.now += SLOW_MS;
    expect(await c.send()).toBe(1); // the other, sent at SLOW_MS, answered at once
    c.clock.now += 100;
    for (const stream of slow.held) stream.emit('data', { ID: 'lease-1', TTL: '10' }); // the slow one answers last
    await settle();
    c.clock.now += 1000;
    expect(await c.send()).toBe(1);
  });

  it('the first member tried is drawn at random', async () => {
    const c = cluster(3, () => 0.7);
    expect(await c.send()).toBe(2);
  });

  it('one member of several holds every keepalive sent to it: it gets one, whatever the schedule, while the others answer', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 5 }),
        fc.nat(4),
        fc.array(fc.integer({ min: SLOW_MS + 1, max: 5000 }), { minLength: 1, maxLength: 30 }),
        async (n, holderAt, gaps) => {
          const c = cluster(n);
          const holder = holderAt % n;
          (c.members[holder] as FakeMember).behaviour = 'holds';
          for (const gap of gaps) {
            await c.send();
            c.clock.now += gap;
          }
          expect((c.members[holder] as FakeMember).ids.length).toBeLessThanOrEqual(1);
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('MemberKeepalives: what a late answer or failure says (found by a second review, 2026-12-07)', () => {
  it('all suspect: each member is tried in turn, so one back from the dead is found', async () => {
    const c = cluster(3);
    for (const m of c.members) m.behaviour = 'fails';
    for (let i = 0; i < 6; i++) {
      c.clock.now += 1;
      await c.send();
    }
    expect(c.members.map((m) => m.ids.length)).toEqual([2, 2, 2]);
  });

  it("a late answer of a member's older keepalive does not undo its newer one", async () => {
    const c = cluster(2);
    const [a, b] = c.members as [FakeMember, FakeMember];
    a.behaviour = 'holds';
    void c.keepalives.send('lease-1', 1e6).catch(() => undefined); // K0 to a at 0, held
    await settle();
    a.behaviour = 'fails';
    c.clock.now = 1;
    expect(await c.send()).toBe(0); // a failed at 1
    b.behaviour = 'fails';
    c.clock.now = 2;
    expect(await c.send()).toBe(1); // b failed at 2: all suspect
    a.behaviour = 'answers';
    c.clock.now = 3;
    expect(await c.send()).toBe(0); // least recently sent: a, answers at 3
    for (const s of a.held) s.emit('data', { ID: 'lease-1', TTL: '10' }); // K0 (sent at 0) answered now
    await settle();
    c.clock.now = 400;
    expect(await c.send()).toBe(0);
  });

  it("a late failure of a member's older keepalive does not clear a newer one's", async () => {
    const c = cluster(2);
    const [a] = c.members as [FakeMember];
    a.behaviour = 'holds';
    void c.keepalives.send('lease-1', 1e6).catch(() => undefined); // K0 to a at 0, held
    await settle();
    a.behaviour = 'answers';
    c.clock.now = 1;
    expect(await c.send()).toBe(0);
    a.behaviour = 'fails';
    c.clock.now = 2;
    expect(await c.send()).toBe(0); // a's latest (sent at 2) failed: suspect
    for (const s of a.held) s.emit('error', new Error('4 DEADLINE_EXCEEDED')); // K0 (sent at 0) fails now
    await settle();
    c.clock.now = 3;
    expect(await c.send()).toBe(1);
  });
});

describe('memberKeepalives', () => {
  const options = (hosts: string[]) => etcdStoreOptionsSchema.parse({ hosts, difName: 'k.DIF' });
  it('one member listed twice (however its scheme is spelt) is one member: no client per member for one', () => {
    expect(memberKeepalives(options(['http://127.0.0.1:2379', 'http://127.0.0.1:2379']))).toBeUndefined();
    expect(memberKeepalives(options(['http://127.0.0.1:2379', 'HTTP://127.0.0.1:2379']))).toBeUndefined();
    expect(memberKeepalives(options(['http://127.0.0.1:2379']))).toBeUndefined();
    const two = memberKeepalives(options(['http://127.0.0.1:2379', 'http://127.0.0.1:2380', 'HTTP://127.0.0.1:2380']));
    expect(two).toBeInstanceOf(MemberKeepalives);
    two?.close();
  });
});
