/**
 * 6. Codec: CDAP messages encoded and decoded per second (tinybench), for the
 * messages of the exchange, next to protobuf-es's reflection (toBinary,
 * fromBinary) on the same bytes, which the generated codec replaced.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { Bench } from 'tinybench';
import type { CdapMessage } from '../../src/index.js';
import {
  DEFAULT_DT_CONSTANTS,
  decodeCdapMessage,
  decodeEnrollmentInfo,
  encodeCdapMessage,
  encodeEnrollmentInfo,
  GEN_PATH,
  OpCode,
} from '../lib/lib.js';
import type { Ctx } from '../lib/context.js';
import type { Table, Verdict } from '../lib/report.js';
import { fmt, int, median } from '../lib/stats.js';

const ENROLLMENT = { objClass: 'enrollment', objName: '/mgmt/enrollment' } as const;

const messages: Record<string, CdapMessage> = {
  M_CONNECT: {
    opCode: OpCode.M_CONNECT,
    absSyntax: 73,
    version: 1n,
    invokeId: 1,
    authMech: 0,
    srcApName: 'member-0001',
    destApName: 'demo.DIF',
  },
  'M_START_R (EnrollmentInfo + DT constants)': {
    opCode: OpCode.M_START_R,
    invokeId: 2,
    result: 0,
    ...ENROLLMENT,
    objValue: {
      byteval: encodeEnrollmentInfo({ address: 1002, difName: 'demo.DIF', dtConstants: DEFAULT_DT_CONSTANTS }),
    },
  },
  'M_READ keepalive': { opCode: OpCode.M_READ, invokeId: 7, objClass: 'keepalive', objName: '/mgmt/keepalive' },
};

/** Loads the generated protobuf-es schema for the floor rows; undefined if it moved. */
async function rawSchema(): Promise<Parameters<typeof fromBinary>[0] | undefined> {
  try {
    const gen = (await import(GEN_PATH)) as Record<string, unknown>;
    return gen.CDAPMessageSchema as Parameters<typeof fromBinary>[0] | undefined;
  } catch {
    return undefined;
  }
}

export async function codec(ctx: Ctx): Promise<void> {
  const schema = await rawSchema();
  const tasks: Array<{ msg: string; op: string; name: string }> = [];
  const perRun: Record<string, number[]> = {};
  for (let r = 0; r < ctx.runs; r++) {
    ctx.log(`codec: run ${r + 1}/${ctx.runs}`);
    const bench = new Bench({ time: ctx.quick ? 80 : 250, warmupTime: ctx.quick ? 20 : 50, throws: true });
    let sink: unknown;
    for (const [label, msg] of Object.entries(messages)) {
      const bytes = encodeCdapMessage(msg);
      const add = (op: string, fn: () => unknown): void => {
        const name = `${op} ${label}`;
        bench.add(name, fn);
        if (r === 0) tasks.push({ msg: `${label} (${bytes.length} B)`, op, name });
      };
      add('encode', () => (sink = encodeCdapMessage(msg)));
      add('decode', () => (sink = decodeCdapMessage(bytes)));
      if (schema !== undefined) {
        const pb = fromBinary(schema, bytes);
        add('protobuf-es toBinary', () => (sink = toBinary(schema, pb)));
        add('protobuf-es fromBinary', () => (sink = fromBinary(schema, bytes)));
        // protobuf-es's own create + toBinary from a plain init object, as the codec starts from one
        add('protobuf-es create+toBinary', () => (sink = toBinary(schema, create(schema, msg as never))));
      }
    }
    const info = messages['M_START_R (EnrollmentInfo + DT constants)']?.objValue?.byteval ?? new Uint8Array();
    bench.add('decode EnrollmentInfo', () => (sink = decodeEnrollmentInfo(info)));
    if (r === 0) tasks.push({ msg: `EnrollmentInfo (${info.length} B)`, op: 'decode', name: 'decode EnrollmentInfo' });
    await bench.run();
    void sink;
    for (const t of bench.tasks) {
      const res = t.result;
      if (res === undefined || !('throughput' in res)) throw new Error(`codec task ${t.name} did not complete`);
      (perRun[t.name] ??= []).push(res.throughput.mean);
    }
  }
  const ops = (name: string): number => median(perRun[name] ?? []);
  const rows = tasks.map((t) => [t.msg, t.op, int(ops(t.name)), fmt(1e9 / ops(t.name), 0)]);
  const tables: Table[] = [
    {
      title: `Codec, one core (tinybench; median of ${ctx.runs} runs of the mean throughput)`,
      columns: ['message', 'operation', 'ops/s', 'ns/op'],
      rows,
    },
  ];
  // One encode + one decode of each exchange message, as a CDAP endpoint does per datagram.
  const cycle = Object.keys(messages).map((label) => 1 / ops(`encode ${label}`) + 1 / ops(`decode ${label}`));
  const meanCycle = cycle.reduce((a, b) => a + b, 0) / cycle.length;
  const overhead = Object.keys(messages).map((label) => ops(`protobuf-es fromBinary ${label}`) / ops(`decode ${label}`));
  const verdicts: Verdict[] = [
    {
      target: 'messages encoded and decoded per second (no target set)',
      measured: `${int(1 / meanCycle)} encode+decode pairs/s (mean over the ${cycle.length} messages)`,
      pass: undefined,
      ...(schema === undefined
        ? {}
        : {
            note: `decode takes ${overhead.map((x) => `${fmt(x, 1)}x`).join(', ')} the time of protobuf-es fromBinary alone on the same bytes (the codec's generated readers check wire types and closed enums as they go and give plain objects; the codec then checks the field rules).`,
          }),
    },
  ];
  ctx.report.section('6. Codec', tables, verdicts, []);
}
