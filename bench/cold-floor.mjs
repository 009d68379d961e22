// The floor of the cold scenario (bench/scenarios/cold.ts): a fresh process that enrols with no library at all.
// It replays, over bare node:dgram, the datagrams of one real enrollment recorded by the scenario, each sent when
// the enroller's datagrams that came before it in the recording have arrived; the member's name is swapped for
// one of the same length, so the enroller admits a new member and every length prefix stays right. What is left
// is Node's start-up of a socket and its first sends and receives, and the enroller's own work. Environment:
//   RINA_COLD_BOOTSTRAP  the enroller's UDP address (host:port)
//   RINA_COLD_EXCHANGE   JSON: { name, steps: [['out' | 'in', hex], ...] } as recorded
// Prints one JSON line of durations in ms: the first exchange, then a second one in the same process.
// Timed with process.hrtime, as bench/cold-member.mjs is (the first use of `performance` loads perf_hooks).
const hrMs = () => Number(process.hrtime.bigint()) / 1e6;
const started = hrMs();
const dgram = await import('node:dgram');
const bootstrap = process.env.RINA_COLD_BOOTSTRAP;
const colon = bootstrap.lastIndexOf(':');
const host = bootstrap.slice(0, colon);
const port = Number(bootstrap.slice(colon + 1));
const { name, steps } = JSON.parse(process.env.RINA_COLD_EXCHANGE);

/** The recorded steps with `name` replaced by another name of the same length. */
function withName(other) {
  const from = Buffer.from(name).toString('hex');
  const to = Buffer.from(other).toString('hex');
  return steps.map(([dir, hex]) => [dir, Buffer.from(hex.replaceAll(from, to), 'hex')]);
}

/** A name of `name`'s length, unique to this process and round. */
function freshName(round) {
  const tag = `${process.pid}-${round}`;
  return name.slice(0, name.length - tag.length) + tag;
}

/** Binds a socket, replays `script`; resolves with the ms from the first send to the last step. */
async function replay(script) {
  const socket = dgram.createSocket('udp4');
  await new Promise((resolve) => socket.bind(0, '127.0.0.1', resolve));
  let next = 0;
  let t0 = 0;
  const ms = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the enroller did not answer the replayed enrollment')), 5000);
    const finish = () => {
      clearTimeout(timer);
      resolve(hrMs() - t0);
    };
    // Sends every step of the member's up to the next one of the enroller's; finishes after the last step.
    const advance = () => {
      while (next < script.length && script[next][0] === 'out') {
        const last = next === script.length - 1;
        socket.send(script[next][1], port, host, last ? finish : undefined);
        next++;
      }
      if (next === script.length && script[next - 1][0] === 'in') finish();
    };
    socket.on('message', () => {
      if (next < script.length && script[next][0] === 'in') next++;
      advance();
    });
    t0 = hrMs();
    advance();
  });
  socket.close();
  return ms;
}

const bound = hrMs();
const firstMs = await replay(withName(freshName(1)));
const secondMs = await replay(withName(freshName(2)));
// Node's start-up: ms since the process began, read once nothing else is timed.
const startupMs = performance.now() - (hrMs() - started);
process.stdout.write(`${JSON.stringify({ startupMs, importMs: bound - started, firstMs, secondMs })}\n`);
