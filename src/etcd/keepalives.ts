/**
 * Where the lease's keepalives go: to an etcd member of the store's
 * choosing, each member reached through a client of its own.
 *
 * etcd3 sends each call to a member picked at random. A member that accepts
 * calls and answers none (paused, or restarted and catching up) holds each
 * keepalive sent to it until its deadline, and {@link MemberHealth} learns
 * of it only then: one TTL later. Picked at random, four keepalives in a row
 * went to it one time in 81, and the lease expired at etcd although the
 * other members would have renewed it (an enroller in four, at a TTL of 2 s
 * and a member of three paused for 6 s).
 *
 * Here a keepalive goes to the member that answered one last, unless a
 * keepalive sent to that member is unanswered for longer than `slowMs`, or
 * its latest one failed: then to the member that answered last of those not
 * so suspect. With all suspect, to the one sent to least recently, so that
 * a member back from the dead is found. A keepalive sent again because the
 * one before went unanswered (see {@link LeaseProof}) thus never goes to the
 * member that holds it while another is not suspect.
 *
 * @module
 */
import type { Etcd3 } from 'etcd3';
import { makeEtcdClient } from './client.js';
import type { ResolvedEtcdStoreOptions } from './options.js';

/** What etcd answered a keepalive: the lease's remaining TTL in seconds, '0' once it expired. */
export interface KeepaliveAnswer {
  TTL: string;
}

/** An etcd member the keepalives may go to. */
interface Member {
  readonly client: Etcd3;
  /** Send times of its keepalives in flight. */
  readonly inFlight: Set<number>;
  /** When it last answered a keepalive, and when one sent to it last failed (`-Infinity`: never). */
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

  /** `clients`: one per member; `slowMs`: how long an answer may take before its member is suspect. */
  constructor(clients: readonly Etcd3[], slowMs: number, now: () => number = () => performance.now()) {
    const never = Number.NEGATIVE_INFINITY;
    this.#members = clients.map((client) => ({ client, inFlight: new Set(), answeredAt: never, failedAt: never, sentAt: never }));
    this.#slowMs = slowMs;
    this.#now = now;
  }

  /** One keepalive of lease `id`, awaited until `deadline` (wall-clock ms): etcd's answer, or a failure. */
  send(id: string, deadline: number): Promise<KeepaliveAnswer> {
    const now = this.#now();
    const member = this.#pick(now);
    member.sentAt = now;
    member.inFlight.add(now);
    const ended = (failed: boolean): void => {
      member.inFlight.delete(now);
      if (failed) member.failedAt = Math.max(member.failedAt, this.#now());
      else member.answeredAt = Math.max(member.answeredAt, this.#now());
    };
    // (a client that throws at once, closed meanwhile say, fails this keepalive alone)
    return Promise.resolve()
      .then(() => keepaliveOnce(member.client, id, deadline))
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

  /** Closes the members' clients: keepalives in flight fail. */
  close(): void {
    for (const m of this.#members) m.client.close();
  }

  #suspect(m: Member, now: number): boolean {
    if (m.failedAt > m.answeredAt) return true;
    for (const sentAt of m.inFlight) if (now - sentAt > this.#slowMs) return true;
    return false;
  }

  #pick(now: number): Member {
    const trusted = this.#members.filter((m) => !this.#suspect(m, now));
    if (trusted.length > 0) return trusted.reduce((best, m) => (m.answeredAt > best.answeredAt ? m : best));
    return this.#members.reduce((best, m) => (m.sentAt < best.sentAt ? m : best));
  }
}

/** A keepalive of lease `id` through `client`, on a stream of its own (each answer paired with its own request). */
function keepaliveOnce(client: Etcd3, id: string, deadline: number): Promise<KeepaliveAnswer> {
  return client.leaseClient.leaseKeepAlive({ deadline }).then(
    (stream) =>
      new Promise<KeepaliveAnswer>((resolve, reject) => {
        stream.on('data', (res: KeepaliveAnswer) => {
          stream.end();
          resolve(res);
        });
        stream.on('error', reject);
        stream.write({ ID: id });
      }),
  );
}

/**
 * The keepalives of a store with several `hosts`: through a client per member, made here and closed with
 * {@link MemberKeepalives.close}. None for one host, or for a store given its client (whose members it does not
 * know): the lease's own keepalives then go where that client sends them.
 */
export function memberKeepalives(options: ResolvedEtcdStoreOptions, slowMs: number): MemberKeepalives | undefined {
  const given = options.client === undefined ? (options.hosts ?? []) : [];
  const hosts = typeof given === 'string' ? [given] : given;
  if (hosts.length < 2) return undefined;
  return new MemberKeepalives(
    hosts.map((host) => makeEtcdClient({ ...options, hosts: [host] })),
    slowMs,
  );
}
