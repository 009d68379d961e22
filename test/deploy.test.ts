/**
 * deploy/rina-enroll.service: `systemd-analyze verify` (scripts/verify-systemd.sh)
 * reads the unit but not its command, so this runs the unit's own ExecStart
 * (on 127.0.0.1, its state in a temporary directory): the flags it ships
 * with start an enroller, and stop cleanly on the unit's KillSignal.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, expect, it } from 'vitest';
import { cliRunner } from './support/cli.js';

const { cli, killAll } = cliRunner();
afterEach(killAll);
const dir = mkdtempSync(join(tmpdir(), 'rina-deploy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The unit's `Key=value` settings of its [Service] section. */
function service(): Map<string, string> {
  const text = readFileSync(new URL('../deploy/rina-enroll.service', import.meta.url), 'utf8');
  const section = text.split(/^\[Service\]$/m)[1]?.split(/^\[/m)[0] ?? '';
  return new Map(
    section
      .split('\n')
      .filter((l) => /^[A-Za-z]+=/.test(l))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

// Found by an audit (2026-12-06): a flag the unit ships with that the CLI refused would exit 2 at every start, and
// RestartPreventExitStatus=2 would leave the enroller down for good, with systemd-analyze verify passing.
it("the unit's ExecStart starts an enroller (no usage error, exit 2) and stops with exit 0 on its KillSignal", async () => {
  const unit = service();
  expect(unit.get('RestartPreventExitStatus')).toBe('2');
  expect(unit.get('Restart')).toBe('on-failure');
  const [program, command, ...flags] = (unit.get('ExecStart') ?? '').split(' ');
  expect(program).toBe('/usr/local/bin/rina-enroll');
  const args = [command ?? '', ...flags].map((a) => a.replace('${STATE_DIRECTORY}', dir).replace(/^0\.0\.0\.0:\d+$/, '127.0.0.1:0'));
  expect(args).toContain('--json');
  const enroller = cli(args, { RINA_ENROLL_AUTH_KEY: randomBytes(32).toString('base64') });
  await enroller.waitFor(/"event":"enroller:started"/);
  enroller.child.kill(unit.get('KillSignal') as NodeJS.Signals);
  expect(await enroller.exited).toBe(0);
});
