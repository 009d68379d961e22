// The floor of the idle scenario (bench/scenarios/idle.ts): a fresh process with no library that sends what the
// idle managers sent, when they sent it, over bare node:dgram. One socket per manager on 127.0.0.1, each sending a
// keepalive-sized datagram every interval at the phase its manager had in the measured cycle, those due in one
// 10 ms bucket together from one timer (as the library's wheel sends them), to an echo server that answers each
// one. What this process spends is what Node, libuv and the kernel cost for those datagrams at that rate and in
// that pattern: the part of the managers' CPU share no library code can remove. Environment:
//   RINA_IDLE_ECHO         the echo server's UDP address (host:port)
//   RINA_IDLE_PHASES       a file: JSON array, each socket's send time modulo the interval (epoch ms)
//   RINA_IDLE_INTERVAL_MS  the keepalive interval
//   RINA_IDLE_SETTLE_MS    how long to send before measuring (the binding's garbage collected meanwhile)
//   RINA_IDLE_WINDOW_MS    how long to measure then
//   RINA_IDLE_BYTES        the datagram's size
// Prints one JSON line: { cpuMs, wallMs, sent, received }.
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';

const TICK_MS = 10;
const echo = process.env.RINA_IDLE_ECHO;
const colon = echo.lastIndexOf(':');
const host = echo.slice(0, colon);
const port = Number(echo.slice(colon + 1));
const phases = JSON.parse(readFileSync(process.env.RINA_IDLE_PHASES, 'utf8'));
const intervalMs = Number(process.env.RINA_IDLE_INTERVAL_MS);
const windowMs = Number(process.env.RINA_IDLE_WINDOW_MS);
const settleMs = Number(process.env.RINA_IDLE_SETTLE_MS ?? 0);
const payload = new Uint8Array(Number(process.env.RINA_IDLE_BYTES)).fill(7);

let sent = 0;
let received = 0;
const sockets = [];
for (let i = 0; i < phases.length; i += 500) {
  const batch = phases.slice(i, i + 500).map(
    () =>
      new Promise((resolve) => {
        const socket = dgram.createSocket('udp4');
        socket.on('message', () => {
          received++;
        });
        socket.on('error', () => undefined);
        socket.bind(0, '127.0.0.1', () => resolve(socket));
      }),
  );
  sockets.push(...(await Promise.all(batch)));
}

// The schedule repeats every interval: the sockets sorted by the 10 ms bucket of their first send, walked in a
// circle, one timer for the next bucket due (no per-send allocation, no scan of idle sockets).
const start = Date.now() + TICK_MS;
const order = phases
  .map((phase, i) => ({
    socket: sockets[i],
    due: Math.ceil((start + ((((phase - start) % intervalMs) + intervalMs) % intervalMs)) / TICK_MS) * TICK_MS,
  }))
  .sort((x, y) => x.due - y.due);
let next = 0;
let cycle = 0;
const dueAt = (k) => order[k].due + cycle * intervalMs;

let c0;
let t0 = 0;
let measured = { sent: 0, received: 0 };
const end = start + settleMs + windowMs;
setTimeout(
  () => {
    c0 = process.cpuUsage();
    t0 = performance.now();
    measured = { sent, received };
  },
  start + settleMs - Date.now(),
);
const tick = () => {
  const t = Date.now();
  while (dueAt(next) <= t) {
    order[next].socket.send(payload, port, host, () => undefined);
    sent++;
    if (++next === order.length) {
      next = 0;
      cycle++;
    }
  }
  if (t >= end) {
    finish();
    return;
  }
  setTimeout(tick, Math.max(0, Math.min(dueAt(next), end) - Date.now()));
};
const finish = async () => {
  const c = process.cpuUsage(c0);
  const wallMs = performance.now() - t0;
  await Promise.all(sockets.map((s) => new Promise((r) => s.close(r))));
  const counts = { sent: sent - measured.sent, received: received - measured.received };
  process.stdout.write(`${JSON.stringify({ cpuMs: (c.user + c.system) / 1000, wallMs, ...counts })}\n`);
};
setTimeout(tick, start - Date.now());
