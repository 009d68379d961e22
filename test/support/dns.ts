/** DNS for the tests of SRV discovery: a small DNS server on 127.0.0.1 (node:dgram and dns-packet), and a scripted resolver. */
import { createSocket } from 'node:dgram';
import * as packet from 'dns-packet';
import type { SrvRecord, SrvResolver } from '../../src/member/srv.js';
import { onCleanup } from './helpers.js';

/**
 * Serves SRV and A records from mutable tables on a free UDP port of
 * 127.0.0.1; any other name is NXDOMAIN. `control.drop` leaves that many
 * queries unanswered (a lost datagram). Closed by the helpers' cleanup().
 */
export async function dnsServer() {
  const zone = { srv: new Map<string, SrvRecord[]>(), a: new Map<string, string>() };
  let srvQueries = 0;
  /** `drop`: how many queries to leave unanswered from now on. */
  const control = { drop: 0 };
  const socket = createSocket('udp4');
  socket.on('message', (msg, from) => {
    if (control.drop > 0) {
      control.drop--;
      return;
    }
    let query: packet.Packet;
    try {
      query = packet.decode(msg);
    } catch {
      return; // not DNS
    }
    const question = query.questions?.[0];
    const answers: packet.Answer[] = [];
    let found = false;
    if (question?.type === 'SRV' && zone.srv.has(question.name)) {
      srvQueries++;
      found = true;
      for (const r of zone.srv.get(question.name) ?? []) {
        answers.push({
          type: 'SRV',
          name: question.name,
          ttl: 0,
          data: { priority: r.priority, weight: r.weight, port: r.port, target: r.name },
        });
      }
    } else if (question?.type === 'A' && zone.a.has(question.name)) {
      found = true;
      answers.push({ type: 'A', name: question.name, ttl: 0, data: zone.a.get(question.name) ?? '' });
    }
    const NXDOMAIN = 3;
    const reply = packet.encode({
      type: 'response',
      id: query.id ?? 0,
      flags: packet.AUTHORITATIVE_ANSWER | ((query.flags ?? 0) & packet.RECURSION_DESIRED) | (found ? 0 : NXDOMAIN),
      questions: query.questions ?? [],
      answers,
    });
    socket.send(reply, from.port, from.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  onCleanup(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return { zone, control, address: `127.0.0.1:${socket.address().port}`, srvQueries: () => srvQueries };
}

/** The A and AAAA answers of one host for {@link scriptedResolver}: addresses, or an Error the lookup throws; none given: no address. */
export interface HostAnswers {
  a?: string[] | Error;
  aaaa?: string[] | Error;
}

/**
 * A resolver for the member's SRV discovery that answers from live tables
 * (change them and the next lookup sees it): `srv[name]` is a name's SRV
 * answer (an Error is thrown; a name not listed fails with ENOTFOUND),
 * `hosts[host]` a target's A and AAAA answers. It counts the SRV lookups,
 * lists the lookups in order (`asked`: `SRV name`, `A host`, `AAAA host`), and
 * while `hold()` is in force its SRV lookups wait for `release()`.
 */
export function scriptedResolver(srv: Record<string, SrvRecord[] | Error>, hosts: Record<string, HostAnswers> = {}) {
  const calls = { srv: 0 };
  const asked: string[] = [];
  let gate: Promise<void> | undefined;
  let open: () => void = () => undefined;
  const answer = async (v: string[] | Error | undefined) => {
    if (v instanceof Error) throw v;
    return v ?? [];
  };
  const resolver: SrvResolver = {
    async resolveSrv(name) {
      calls.srv++;
      asked.push(`SRV ${name}`);
      await gate;
      const records = srv[name] ?? dnsError('ENOTFOUND');
      if (records instanceof Error) throw records;
      return records;
    },
    resolve4: (host) => {
      asked.push(`A ${host}`);
      return answer(hosts[host]?.a);
    },
    resolve6: (host) => {
      asked.push(`AAAA ${host}`);
      return answer(hosts[host]?.aaaa);
    },
  };
  const hold = () => {
    gate = new Promise((resolve) => {
      open = resolve;
    });
  };
  const release = () => {
    gate = undefined;
    open();
  };
  return { resolver, calls, asked, hold, release };
}

/** An error as `node:dns` makes them: `query failed: CODE` with that `code` (none for `undefined`). */
export const dnsError = (code: string | undefined, message = `query failed: ${code}`) =>
  Object.assign(new Error(message), code === undefined ? {} : { code });
