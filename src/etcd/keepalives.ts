/**
 * Where the lease's keepalives go: to an etcd member of the store's
 * choosing, each member reached through a client of its own.
 *
 * etcd3 sends each call to a member picked at random. A member that accepts
 * calls and answers none (paused, or restarted and catching up) holds each
 * keepalive sent to it until its deadline, and {@link MemberHealth} learns
 * of it only then: one TTL later. Picked at random, enough keepalives in a
 * row went to it now and then for the lease to expire at etcd although the
 * other members would have renewed it: even sent again every sixth of the
 * TTL while unanswered, 8 lapses in four runs of 10 stores (a TTL of 2 s,
 * one member of three paused for 40 s; none with the pick below:
 * bench/lease-paused-member.ts, docs/SCALING.md item 20).
 *
 * Here a keepalive goes to the member that answered the latest-sent one,
 * unless a keepalive sent to that member is unanswered for `slowMs` (the
 * store takes half the time after which {@link LeaseProof} sends another),
 * or the latest one it settled failed: then to the member that answered
 * the latest-sent one of those not so suspect. With all suspect, to the one
 * sent to least recently, so that a member back from the dead is found. A
 * keepalive sent again because the one before went unanswered thus goes to
 * another member than the one that holds it, while one is not suspect. Each
 * member's client has a connection of its own.
 *
 * @module
 */
import type { Etcd3 } from 'etcd3';
import { makeEtcdClient } from './client.js';
import { askEveryMs, type KeepaliveAnswer } from './lease-proof.js';
import type { ResolvedEtcdStoreOptions } from './options.js';

/** A keepalive's stream, as much of it as is used here. */
interface KeepaliveStream {
  on(event: string, listener: (arg: never) => void): unknown;
  write(req: { ID: string }): unknown;
  end(): unknown;
  cancel?(): void;
}

/** An etcd member the keepalives may go to. */
interface Member {
  readonly client: Etcd3;
  /** Its keepalives in flight: the send time of each. */
  readonly inFlight: Map<number, number>;
  /** The send time of the latest keepalive it answered, and of the latest that failed on it (`-Infinity`: none). */
  answeredAt: number;
  failedAt: number;
  /** When a keepalive was last sent to it. */
  sentAt: number;
}

/** The keepalives of one store's lease, each sent to a member picked as the module says. */
export class MemberKeepalives {
  readonly #members: Member[];
  readonly #slowMs: number;
  readonly #now: () => number;
  /** The streams of the keepalives in flight: cancelled by {@link close}. */
  readonly #streams = new Set<KeepaliveStream>();
  #sent = 0;

  /**
   * `clients`: one per member; `slowMs`: how long a keepalive may go unanswered before its member is suspect.
   * The first member tried is drawn with `random`, so that enrollers do not all start on the first host.
   */
  constructor(clients: readonly Etcd3[], slowMs: number, now: () => number = () => performance.now(), random = Math.random) {
    const never = Number.NEGATIVE_INFINITY;
    const first = Math.floor(random() * clients.length) % Math.max(1, clients.length);
    const order = [...clients.slice(first), ...clients.slice(0, first)];
    this.#members = order.map((client) => ({ client, inFlight: new Map(), answeredAt: never, failedAt: never, sentAt: never }));
    this.#slowMs = slowMs;
    this.#now = now;
  }

  /** One keepalive of lease `id`, awaited until `deadline` (wall-clock ms): etcd's answer, or a failure. */
  send(id: string, deadline: number): Promise<KeepaliveAnswer> {
    const sentAt = this.#now();
    const member = this.#pick(sentAt);
    const seq = ++this.#sent;
    member.sentAt = sentAt;
    member.inFlight.set(seq, sentAt);
    const ended = (failed: boolean): void => {
      member.inFlight.delete(seq);
      if (failed) member.failedAt = Math.max(member.failedAt, sentAt);
      else member.answeredAt = Math.max(member.answeredAt, sentAt); // (by its send time: a late answer is old news)
    };
    // (a client that throws at once, closed meanwhile say, fails this keepalive alone)
    return Promise.resolve()
      .then(() => this.#keepaliveOnce(member.client, id, deadline))
      .then(
        (answer) => {
          ended(false);
          return answer;
        },
        (err: unknown) => {
          ended(true);
          throw err;
        },
      );
  }

  /** Cancels the keepalives in flight (a member that holds one would keep it to its deadline) and closes the members' clients. */
  close(): void {
    for (const stream of this.#streams) stream.cancel?.();
    this.#streams.clear();
    for (const m of this.#members) m.client.close();
  }

  #suspect(m: Member, now: number): boolean {
    if (m.failedAt > m.answeredAt) return true;
    for (const sentAt of m.inFlight.values()) if (now - sentAt >= this.#slowMs) return true;
    return false;
  }

  #pick(now: number): Member {
    const trusted = this.#members.filter((m) => !this.#suspect(m, now));
    if (trusted.length > 0) return trusted.reduce((best, m) => (m.answeredAt > best.answeredAt ? m : best));
    return this.#members.reduce((best, m) => (m.sentAt < best.sentAt ? m : best));
  }

  /** A keepalive of lease `id` through `client`, on a stream of its own (each answer paired with its own request). */
  async #keepaliveOnce(client: Etcd3, id: string, deadline: number): Promise<KeepaliveAnswer> {
    const stream = (await client.leaseClient.leaseKeepAlive({ deadline })) as unknown as KeepaliveStream;
    this.#streams.add(stream);
    try {
      return await new Promise<KeepaliveAnswer>((resolve, reject) => {
        stream.on('data', (res: KeepaliveAnswer) => {
          stream.end();
          resolve(res);
        });
        stream.on('error', reject);
        stream.on('end', () => reject(new Error('etcd ended the keepalive stream without an answer')));
        stream.write({ ID: id });
      });
    } finally {
      this.#streams.delete(stream);
    }
  }
}

/**
 * The keepalives of a store with several `hosts`: through a client per member, made here and closed with
 * {@link MemberKeepalives.close}. None for one host, or for a store given its client (whose members it does not
 * know): the lease's own keepalives then go where that client sends them. A member holding a keepalive is suspect
 * after half the time {@link LeaseProof} waits before it sends another, so the next goes elsewhere.
 */
export function memberKeepalives(options: ResolvedEtcdStoreOptions): MemberKeepalives | undefined {
  const given = options.client === undefined ? (options.hosts ?? []) : [];
  // One member listed twice (with and without its scheme, say) is one member: two clients to it would not share
  // what they know of it, and a keepalive sent again could go back to it.
  const byMember = new Map(
    (typeof given === 'string' ? [given] : given).map((h) => [h.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').toLowerCase(), h]),
  );
  const hosts = [...byMember.values()];
  if (hosts.length < 2) return undefined;
  // (each on a connection of its own: a keepalive's answer does not queue behind the store's watch events)
  return new MemberKeepalives(
    hosts.map((host) => makeEtcdClient({ ...options, hosts: [host] }, undefined, { ownConnection: true })),
    askEveryMs(options.leaseTtlSecs * 1000) / 2,
  );
}
