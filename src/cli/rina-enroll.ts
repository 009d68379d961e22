#!/usr/bin/env node
/**
 * `rina-enroll`: run an enroller (bootstrap) or a member over UDP.
 *
 *   rina-enroll bootstrap --listen 127.0.0.1:7000 --dif demo.DIF --pool 1002-1999 --state ./enroller-state.json
 *   rina-enroll bootstrap --listen 127.0.0.1:7001 --dif demo.DIF --pool 1-65535 --name e1 --etcd http://127.0.0.1:2379
 *   rina-enroll member --name m1 --bootstrap 127.0.0.1:7000 [--bootstrap ...]
 *   rina-enroll member --name m2 --bootstrap srv:_rina-enroll._udp.example.net
 *   RINA_ENROLL_AUTH_KEY=... rina-enroll bootstrap ... --auth hmac-sha256 --allowed-names ./names.txt
 *
 * Bad flags: one line on stderr, exit 2; a failure while running (port in
 * use, store out of reach or locked, enrollment refused): exit 1.
 * SIGINT/SIGTERM/SIGHUP: leave gracefully, exit 0.
 *
 * This file is the bin entry: it runs the CLI (./run.ts) on the process's
 * arguments and exits with its code. The command tree is in ./program.ts,
 * each command in ./commands/, the flags' parsers and checks in ./flags/.
 *
 * @module
 */
import { run } from './run.js';

// gRPC sets TLS's server name to etcd's IP address, which Node warns about
// (DEP0123) on every connection: one line of noise per run, nothing to act on.
const emitWarning = process.emitWarning.bind(process);
process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  const code = typeof rest[0] === 'object' && rest[0] !== null ? (rest[0] as { code?: string }).code : rest[1];
  if (code === 'DEP0123') return;
  (emitWarning as (...args: unknown[]) => void)(warning, ...rest);
}) as typeof process.emitWarning;

// Output that cannot be written (stdout piped into `head -1`, a journal that went away) is dropped: a closed pipe
// must not kill an IPCP with an unhandled 'error' (EPIPE) before it released its members or its state file's lock.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);

run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Stopped: exit even if a client library keeps a handle open (gRPC
    // reconnecting to an etcd that does not answer), after a grace second
    // for the output to drain.
    setTimeout(() => process.exit(code), 1000).unref();
  },
  (err: unknown) => {
    process.stderr.write(`rina-enroll: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
