/**
 * The main demo: one enroller (with a state file) and the members; the
 * enroller is killed with SIGKILL, stays away, comes back from its state
 * file, and every member re-enrolls with its original address.
 *
 * @module
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeUdpPort } from '../ports.js';
import { startEnroller, stopEnroller } from './enrollers.js';
import { CONFIG, enrolAll, enrollerLabels, type Member, makeMember, markUnnoticed, outcomeNote } from './members.js';
import type { DemoOptions } from './options.js';
import { printSummary, spread } from './report.js';
import { everyAddressKept, Stage, sleep, waitUntil } from './stage.js';
import { say } from './status.js';

/** Kills the enroller, waits out the outage and starts it again on its state file; resolves with it and when it came back. */
async function outage(
  stage: Stage,
  enroller: ChildProcess,
  { port, stateFile, outageMs }: { port: number; stateFile: string; outageMs: number },
): Promise<{ enroller: ChildProcess; killedAt: number; backAt: number }> {
  stage.phase = `enroller killed (SIGKILL); back in ${outageMs / 1000} s`;
  const killedAt = stage.mark('enroller killed (SIGKILL)');
  markUnnoticed(stage.members, `127.0.0.1:${port}`, killedAt);
  say('killing the enroller with SIGKILL');
  enroller.kill('SIGKILL');
  await sleep(outageMs);
  stage.phase = 'enroller restarting from its state file';
  const back = await startEnroller(port, ['--state', stateFile]);
  const backAt = stage.mark('enroller back');
  say(`enroller back (pid ${back.pid}) from ${stateFile}`);
  return { enroller: back, killedAt, backAt };
}

/** The summary's rows: enrollment, detection, recovery and return times, retries, addresses kept. */
function summaryRows(members: Member[], backAt: number, unchanged: number): Array<[string, string]> {
  return [
    ['members', `${members.length}`],
    ['enrollment time', spread(members.map((m) => m.enrollMs ?? 0))],
    [
      'detection delay',
      `${spread(members.map((m) => m.mgr.metrics().detectionDelayMs.last ?? 0))}   (timeout ${CONFIG.connectionTimeoutSecs * 1000} ms)`,
    ],
    ['time to recover', `${spread(members.map((m) => m.mgr.metrics().timeToRecoverMs.last ?? 0))}   (loss noticed -> enrolled)`],
    ['back after return', `${spread(members.map((m) => (m.backAt ?? 0) - backAt))}   (enroller back -> enrolled)`],
    ['retries', `${members.reduce((n, m) => n + m.retries, 0)} failed attempts in all, spread by jittered backoff`],
    ['addresses unchanged', `${unchanged}/${members.length}`],
  ];
}

/** Runs the main demo; resolves with the exit code (0 only if every member got its address back). */
export async function runSingle(opts: DemoOptions): Promise<number> {
  const work = mkdtempSync(join(tmpdir(), 'rina-demo-'));
  const stateFile = join(work, 'enroller-state.json');
  const port = await freeUdpPort();
  const stage = new Stage('starting the enroller');
  let enroller: ChildProcess | undefined;
  try {
    enrollerLabels.set(`127.0.0.1:${port}`, 'the enroller');
    enroller = await startEnroller(port, ['--state', stateFile]);
    say(`enroller up on 127.0.0.1:${port} (pid ${enroller.pid}), address table in ${stateFile}`);

    stage.phase = `enrolling ${opts.members} members`;
    for (let i = 0; i < opts.members; i++) stage.members.push(await makeMember(i, [`127.0.0.1:${port}`]));
    await enrolAll(stage.members);

    stage.phase = 'all enrolled; keepalives every 0.5 s';
    await sleep(1500);

    const back = await outage(stage, enroller, { port, stateFile, outageMs: opts.outageMs });
    enroller = back.enroller;
    stage.phase = 'members re-enrolling';
    await waitUntil('every member re-enrolling', 15_000, () =>
      stage.members.every((m) => m.mgr.state.type === 'enrolled' && m.backAt !== undefined),
    );
    const end = stage.done();

    const unchanged = stage.members.filter((m) => m.mgr.address === m.originalAddress).length;
    printSummary(summaryRows(stage.members, back.backAt, unchanged));
    return await stage.finish(
      everyAddressKept(stage.members, opts.members),
      { ok: 'every member recovered with its original address', failed: 'FAILED: some member did not get its address back' },
      {
        out: opts.out,
        file: 'timeline.svg',
        title: `${stage.members.length} members, one enroller: killed, away ${opts.outageMs / 1000} s, back from its state file`,
        end,
        note: (m) => outcomeNote(m, back.killedAt),
      },
    );
  } finally {
    await stage.close();
    await stopEnroller(enroller);
    rmSync(work, { recursive: true, force: true });
  }
}
