/**
 * `npm run demo -- --ha`: several enrollers, one address space. A throw-away
 * etcd, three enrollers sharing it, the members spread over them; one
 * enroller is killed with SIGKILL and every member it served fails over to
 * the others with its address.
 *
 * @module
 */
import type { ChildProcess } from 'node:child_process';
import { ETCD_INSTALL_HINT, type EtcdCluster, findEtcd, startEtcd } from '../etcd-server.js';
import { freeUdpPort } from '../ports.js';
import { startEnroller, stopEnroller } from './enrollers.js';
import { CONFIG, enrolAll, enrollerLabels, type Member, makeMember, markUnnoticed, outcomeNote } from './members.js';
import type { DemoOptions } from './options.js';
import { printSummary, spread } from './report.js';
import { Stage, sleep, waitUntil } from './stage.js';
import { say } from './status.js';

/** etcd's name-to-address table of demo.DIF, read with a client of its own. */
async function etcdTable(endpoint: string): Promise<Map<string, string>> {
  const { Etcd3 } = await import('etcd3');
  const client = new Etcd3({ hosts: endpoint });
  try {
    const prefix = '/rina/demo.DIF/names/';
    const names = await client.getAll().prefix(prefix).strings();
    return new Map(Object.entries(names).map(([k, v]) => [decodeURIComponent(k.slice(prefix.length)), v]));
  } finally {
    client.close();
  }
}

/** Starts the enrollers e1, e2, e3 on etcd at `endpoint`, into `enrollers`; resolves with their addresses. */
async function startEnrollers(endpoint: string, enrollers: ChildProcess[]): Promise<string[]> {
  const ports = [await freeUdpPort(), await freeUdpPort(), await freeUdpPort()];
  for (const [i, port] of ports.entries()) {
    enrollerLabels.set(`127.0.0.1:${port}`, `e${i + 1}`);
    enrollers.push(await startEnroller(port, ['--name', `e${i + 1}`, '--etcd', endpoint]));
    say(`enroller e${i + 1} up on 127.0.0.1:${port} (pid ${enrollers[i]?.pid})`);
  }
  return ports.map((p) => `127.0.0.1:${p}`);
}

/** How many members each enroller at `addresses` serves now. */
const perEnroller = (members: Member[], addresses: string[]) =>
  addresses.map((a) => members.filter((m) => m.mgr.bootstrapAddress === a).length);

/** What the run measured, for the summary. */
interface HaOutcome {
  members: Member[];
  onFirst: Member[];
  addresses: string[];
  before: number[];
  endpoint: string;
}

/**
 * The summary's rows and the verdict: e1's members moved with their
 * addresses, no address twice, etcd's table (read from `endpoint`) agreeing.
 */
async function verdict({
  members,
  onFirst,
  addresses,
  before,
  endpoint,
}: HaOutcome): Promise<{ ok: boolean; rows: Array<[string, string]> }> {
  const movedKept = onFirst.filter((m) => m.mgr.address === m.originalAddress && m.mgr.bootstrapAddress !== addresses[0]).length;
  const allKept = members.filter((m) => m.mgr.address === m.originalAddress).length;
  const distinct = new Set(members.map((m) => m.mgr.address)).size;
  const table = await etcdTable(endpoint);
  const tableOk = members.every((m) => table.get(m.name) === String(m.mgr.address)) && table.size === members.length;
  const rows: Array<[string, string]> = [
    ['members', `${members.length} over 3 enrollers sharing one etcd`],
    ['enrollment time', spread(members.map((m) => m.enrollMs ?? 0))],
    ['per enroller', `before ${before.join(' / ')}   after e1 died ${perEnroller(members, addresses).join(' / ')}`],
    [
      'detection delay',
      `${spread(onFirst.map((m) => m.mgr.metrics().detectionDelayMs.last ?? 0))}   (timeout ${CONFIG.connectionTimeoutSecs * 1000} ms)`,
    ],
    [
      'time to fail over',
      `${spread(onFirst.map((m) => m.mgr.metrics().timeToRecoverMs.last ?? 0))}   (loss noticed -> enrolled elsewhere)`,
    ],
    ["e1's members", `${movedKept}/${onFirst.length} moved to e2 or e3 with their address`],
    [
      'addresses',
      `${allKept}/${members.length} unchanged, ${distinct} distinct; etcd's table ${tableOk ? 'matches every member' : 'DISAGREES'}`,
    ],
  ];
  const ok = movedKept === onFirst.length && allKept === members.length && distinct === members.length && tableOk && onFirst.length > 0;
  return { ok, rows };
}

/** Kills e1 and waits until every member it served is enrolled elsewhere; resolves with when it was killed. */
async function killFirst(stage: Stage, enrollers: ChildProcess[], addresses: string[], onFirst: Member[]): Promise<number> {
  stage.phase = `enroller e1 killed (SIGKILL): its ${onFirst.length} members fail over`;
  const killedAt = stage.mark('e1 killed (SIGKILL)');
  markUnnoticed(stage.members, addresses[0] ?? '', killedAt);
  say(`killing enroller e1 (${addresses[0]}) with SIGKILL`);
  enrollers[0]?.kill('SIGKILL');
  await waitUntil('every member of e1 failing over', 15_000, () =>
    onFirst.every((m) => m.mgr.state.type === 'enrolled' && m.backAt !== undefined),
  );
  await sleep(500);
  return killedAt;
}

/** `--ha`: three enrollers on one etcd; one is killed; its members fail over with their addresses. */
export async function runHa(opts: DemoOptions): Promise<number> {
  if (findEtcd() === undefined) {
    process.stderr.write(`demo --ha needs etcd: ${ETCD_INSTALL_HINT}\n`);
    return 1;
  }
  const enrollers: ChildProcess[] = [];
  const stage = new Stage('starting etcd');
  let etcd: EtcdCluster | undefined;
  try {
    etcd = await startEtcd();
    const endpoint = etcd.endpoints[0] ?? '';
    say(`etcd up on ${endpoint} (a throw-away one, data in a temporary directory)`);
    stage.phase = 'starting three enrollers on etcd';
    const addresses = await startEnrollers(endpoint, enrollers);

    stage.phase = `enrolling ${opts.members} members across three enrollers`;
    // Each member is given one enroller (a third of them each) and learns the other two from its answer.
    for (let i = 0; i < opts.members; i++) stage.members.push(await makeMember(i, [addresses[i % 3] ?? '']));
    await enrolAll(stage.members);
    const onFirst = stage.members.filter((m) => m.mgr.bootstrapAddress === addresses[0]);
    const before = perEnroller(stage.members, addresses);
    say(`members per enroller: ${before.join(' / ')}`);

    stage.phase = 'all enrolled; keepalives every 0.5 s';
    await sleep(1500);
    const killedAt = await killFirst(stage, enrollers, addresses, onFirst);
    const end = stage.done();

    const { ok, rows } = await verdict({ members: stage.members, onFirst, addresses, before, endpoint });
    printSummary(rows);
    return await stage.finish(
      ok,
      {
        ok: 'every member of the killed enroller failed over with its address; no address is held twice',
        failed: 'FAILED: see the summary',
      },
      {
        out: opts.out,
        file: 'timeline-ha.svg',
        title: `${stage.members.length} members, 3 enrollers on one etcd: e1 killed, its members fail over with their addresses`,
        end,
        note: (m) => (onFirst.includes(m) ? outcomeNote(m, killedAt) : undefined),
      },
    );
  } finally {
    await stage.close();
    await Promise.all(enrollers.map(stopEnroller));
    await etcd?.close();
  }
}
