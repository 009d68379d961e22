/**
 * The command tree of `rina-enroll`: its description, version and examples,
 * and the `bootstrap`, `member` and `members` commands.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { addBootstrapCommand } from './commands/bootstrap.js';
import { addMemberCommand } from './commands/member.js';
import { addMembersCommand } from './commands/members.js';

const EXAMPLES = `
Examples:
  # an enroller for demo.DIF on port 7000, keeping its address table in a file
  rina-enroll bootstrap --listen 127.0.0.1:7000 --dif demo.DIF --pool 1002-1999 --state ./enroller-state.json

  # three enrollers sharing one address space through etcd (each with its own --name)
  rina-enroll bootstrap --listen 127.0.0.1:7001 --dif demo.DIF --pool 1-65535 --name e1 --etcd http://127.0.0.1:2379
  rina-enroll bootstrap --listen 127.0.0.1:7002 --dif demo.DIF --pool 1-65535 --name e2 --etcd http://127.0.0.1:2379
  rina-enroll bootstrap --listen 127.0.0.1:7003 --dif demo.DIF --pool 1-65535 --name e3 --etcd http://127.0.0.1:2379

  # a member finding the enrollers through DNS SRV records
  rina-enroll member --name m3 --bootstrap srv:_rina-enroll._udp.example.net

  # a member enrolling through it (or another one, when it fails)
  rina-enroll member --name m1 --bootstrap 127.0.0.1:7000 --bootstrap 127.0.0.1:7001

  # authenticated: every member must hold the key (here in a file only its user reads)
  rina-enroll bootstrap --listen 127.0.0.1:7000 --dif demo.DIF --pool 1002-1999 --auth hmac-sha256 --auth-key-file /etc/rina/dif.key
  rina-enroll member --name m4 --dif demo.DIF --bootstrap 127.0.0.1:7000 --auth hmac-sha256 --auth-key-file /etc/rina/dif.key

  # faster loss detection, machine-readable output
  rina-enroll member --name m2 --bootstrap [::1]:7000 --heartbeat-interval 1 --connection-timeout 3 --json
`;

/** The package's version (package.json sits two levels up, from src/cli and from dist/cli alike). */
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Builds the command line; a command's action stores its exit code in the `exitCode` option of the root. */
export function program(): Command {
  const cmd = new Command('rina-enroll')
    .description('Run a RINA enroller (bootstrap IPCP) or a member IPCP over UDP.')
    .addHelpText('after', EXAMPLES)
    .showHelpAfterError(false)
    .version(VERSION, '-V, --version', 'print the version')
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(`${text.split('\n')[0]}\n`) });
  addBootstrapCommand(cmd);
  addMemberCommand(cmd);
  addMembersCommand(cmd);
  return cmd;
}
