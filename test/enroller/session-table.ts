/** A SessionTable on a ManualClock, with what it sends and abandons recorded, and a factory of sessions. */
import { InvokeIds } from '../../src/cdap/messages.js';
import { type Session, SessionTable } from '../../src/enroller/sessions.js';
import { ManualClock } from './manual-clock.js';

export function sessionTable({ running = true, retransmitMs = 100, pendingTimeoutMs = 5000, maxRefused = 100 } = {}) {
  const clock = new ManualClock();
  /** The receive queue's delay, set by the test; `watched` says whether the table asks it to be measured. */
  const queue = {
    delayMs: 0,
    watched: false,
    watch(on: boolean) {
      queue.watched = on;
    },
  };
  const sent: Array<{ to: string; pdu: string; at: number }> = [];
  const abandoned: string[] = [];
  const sessions = new SessionTable({
    clock,
    retransmitMs,
    pendingTimeoutMs,
    maxRefused,
    running: () => running,
    abandoned: (s) => abandoned.push(s.name),
    sendBytes: (to, pdu) => sent.push({ to, pdu: new TextDecoder().decode(pdu), at: clock.now() }),
    queue,
  });
  const session = (name: string, from: string, over: Partial<Session> = {}): Session => ({
    name,
    shimAddress: from,
    lastSeenAt: clock.now(),
    contested: false,
    fences: 0,
    connectInvokeId: 1,
    connectReply: new Uint8Array(),
    ids: new InvokeIds(2),
    createdAt: clock.now(),
    lastSentAt: clock.now(),
    retransmitMs,
    channel: null,
    ...over,
  });
  return { sessions, clock, sent, abandoned, session, queue };
}
