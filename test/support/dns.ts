/** A small DNS server on 127.0.0.1 (node:dgram and dns-packet) for the tests of SRV discovery. */
import { createSocket } from 'node:dgram';
import * as packet from 'dns-packet';
import type { SrvRecord } from '../../src/member/srv.js';
import { onCleanup } from './helpers.js';

/**
 * Serves SRV and A records from mutable tables on a free UDP port of
 * 127.0.0.1; any other name is NXDOMAIN. Closed by the helpers' cleanup().
 */
export async function dnsServer() {
  const zone = { srv: new Map<string, SrvRecord[]>(), a: new Map<string, string>() };
  let srvQueries = 0;
  const socket = createSocket('udp4');
  socket.on('message', (msg, from) => {
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
  return { zone, address: `127.0.0.1:${socket.address().port}`, srvQueries: () => srvQueries };
}
