/** Prints each scenario's tables and appends them to bench/RESULTS.md. */
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import type { MachineInfo } from './env.js';

export interface Table {
  title: string;
  columns: string[];
  rows: string[][];
}

/** One target of the issue next to its measured figure. */
export interface Verdict {
  target: string;
  measured: string;
  /** undefined: nothing to judge (e.g. the scenario could not run at full size). */
  pass: boolean | undefined;
  /** By how much and why, when missed; or a caveat. */
  note?: string;
}

function textTable(t: Table): string {
  const widths = t.columns.map((c, i) => Math.max(c.length, ...t.rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [t.title, line(t.columns), widths.map((w) => '-'.repeat(w)).join('  '), ...t.rows.map(line)].join('\n');
}

const esc = (s: string): string => s.replaceAll('|', '\\|');

function mdTable(t: Table): string {
  return [
    `**${t.title}**`,
    '',
    `| ${t.columns.map(esc).join(' | ')} |`,
    `|${t.columns.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`,
    ...t.rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

const mark = (v: Verdict): string => (v.pass === undefined ? '—' : v.pass ? 'met' : '**missed**');

const HEADER = `# Benchmark results

Appended by \`npm run bench\` (full) and \`npm run bench -- --quick\` (a smoke
run with smaller sizes and fewer repetitions: not for quoting). Newest at the
bottom. Every figure that matters is printed next to its floor measured in the
same run; medians over several runs unless a table says otherwise. Each
missed target says by how much and why under its table; bench/README.md
explains each scenario and, under "Why targets are missed", the evidence
behind those reasons. A scenario during which other processes used more than
10% of the machine is flagged as disturbed.
`;

export class Report {
  readonly #path: string;
  readonly #write: boolean;
  #headerDone = false;
  readonly verdicts: Array<Verdict & { scenario: string }> = [];

  constructor(
    path: string,
    readonly mode: 'full' | 'quick',
    readonly info: MachineInfo,
    write: boolean,
  ) {
    this.#path = path;
    this.#write = write;
  }

  #append(text: string): void {
    if (!this.#write) return;
    if (!existsSync(this.#path)) writeFileSync(this.#path, HEADER);
    if (!this.#headerDone) {
      this.#headerDone = true;
      const i = this.info;
      appendFileSync(
        this.#path,
        [
          '',
          `## ${i.date} — ${this.mode} run`,
          '',
          `Node ${i.node} · ${i.cpu} × ${i.cores} cores · ${i.platform} · open-files limit ${i.fdLimit} · ` +
            `UDP receive buffer ${i.rmemDefault ?? '?'} B default (max ${i.rmemMax ?? '?'}) · load average at start ${i.loadavg} · ` +
            `measuring ${i.library ?? 'src/'}`,
          '',
        ].join('\n'),
      );
    }
    appendFileSync(this.#path, text);
  }

  /** Prints a scenario and appends it to RESULTS.md. */
  section(name: string, tables: Table[], verdicts: Verdict[], notes: string[] = []): void {
    const out: string[] = ['', `=== ${name}`, ''];
    for (const t of tables) out.push(textTable(t), '');
    if (verdicts.length > 0) {
      out.push(
        textTable({
          title: 'targets',
          columns: ['target', 'measured', 'verdict'],
          rows: verdicts.map((v) => [v.target, v.measured, v.pass === undefined ? '-' : v.pass ? 'met' : 'MISSED']),
        }),
      );
      for (const v of verdicts) if (v.note) out.push(`  * ${v.target}: ${v.note}`);
      out.push('');
    }
    for (const n of notes) out.push(`  note: ${n}`);
    process.stdout.write(`${out.join('\n')}\n`);

    const md: string[] = ['', `### ${name}`, ''];
    for (const t of tables) md.push(mdTable(t), '');
    if (verdicts.length > 0) {
      md.push(
        mdTable({
          title: 'Targets',
          columns: ['target', 'measured', 'verdict'],
          rows: verdicts.map((v) => [v.target, v.measured, mark(v)]),
        }),
        '',
      );
      for (const v of verdicts) if (v.note) md.push(`- *${v.target}*: ${v.note}`);
      if (verdicts.some((v) => v.note)) md.push('');
    }
    for (const n of notes) md.push(`- ${n}`);
    if (notes.length > 0) md.push('');
    this.#append(md.join('\n'));
    for (const v of verdicts) this.verdicts.push({ ...v, scenario: name });
  }

  /** A line under the last section (printed and appended). */
  note(text: string): void {
    process.stdout.write(`  note: ${text}\n`);
    this.#append(`- ${text}\n`);
  }

  /** The closing summary: every target and its verdict. */
  summary(elapsedS: number): void {
    const t: Table = {
      title: `Summary (${this.mode} run, ${elapsedS.toFixed(0)} s)`,
      columns: ['scenario', 'target', 'measured', 'verdict'],
      rows: this.verdicts.map((v) => [v.scenario, v.target, v.measured, mark(v)]),
    };
    process.stdout.write(`\n${textTable({ ...t, rows: t.rows.map((r) => r.map((c) => c.replaceAll('**', ''))) })}\n`);
    this.#append(`\n### Summary\n\n${mdTable(t)}\n`);
  }
}
