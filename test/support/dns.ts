/** A small DNS server on 127.0.0.1 (dns2) for the tests of SRV discovery. */
import { createServer, Packet } from 'dns2';
import type { SrvRecord } from '../../src/member/srv.js';
import { onCleanup } from './helpers.js';

/**
 * Serves SRV and A records from mutable tables on a free UDP port of
 * 127.0.0.1; anything else is NXDOMAIN. Closed by the helpers' cleanup().
 */
export async function dnsServer() {
  const zone = { srv: new Map<string, SrvRecord[]>(), a: new Map<string, string>() };
  let srvQueries = 0;
  const server = createServer({
    udp: true,
    handle: (request, send) => {
      const response = Packet.createResponseFromRequest(request);
      const question = request.questions[0];
      if (question !== undefined && question.type === Packet.TYPE.SRV && zone.srv.has(question.name)) {
        srvQueries++;
        for (const r of zone.srv.get(question.name) ?? []) {
          response.answers.push(
            Packet.createResourceFromQuestion(question, { ttl: 0, priority: r.priority, weight: r.weight, port: r.port, target: r.name }),
          );
        }
      } else if (question !== undefined && question.type === Packet.TYPE.A && zone.a.has(question.name)) {
        response.answers.push(Packet.createResourceFromQuestion(question, { ttl: 0, address: zone.a.get(question.name) ?? '' }));
      } else {
        response.header.rcode = 3; // NXDOMAIN
      }
      void send(response).catch(() => undefined);
    },
  });
  const { udp } = await server.listen({ udp: { port: 0, address: '127.0.0.1' } });
  onCleanup(() => server.close());
  return { zone, address: `127.0.0.1:${udp?.port}`, srvQueries: () => srvQueries };
}
