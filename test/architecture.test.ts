/**
 * The README's "Inside" promises, checked on the code's own imports: which
 * way the parts depend, no import cycle, and files small enough to read.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

const all = files(src).map((f) => relative(src, f));
const generated = (f: string) => f.startsWith('cdap/gen/');

/** Every relative import of a file, resolved to a path under src/ (`import type` included: a type import still ties two parts). */
function importsOf(file: string): string[] {
  const text = readFileSync(join(src, file), 'utf8');
  const specifiers = [...text.matchAll(/(?:^|\n)\s*(?:import|export)[^'";]*?from\s+'(\.[^']+)'/g)].map((m) => m[1] as string);
  specifiers.push(...[...text.matchAll(/import\(\s*'(\.[^']+)'\s*\)/g)].map((m) => m[1] as string));
  return specifiers.map((s) => relative(src, resolve(dirname(join(src, file)), s)).replace(/\.js$/, '.ts'));
}

const graph = new Map(all.map((f) => [f, importsOf(f)]));

describe('the source tree', () => {
  it('every relative import names a file that exists (the check below reads the real graph)', () => {
    for (const [file, targets] of graph) for (const t of targets) expect(all, `${file} imports ${t}`).toContain(t);
    expect(graph.get('member/enrollment-manager.ts')?.length).toBeGreaterThan(5);
  });

  it('member, enroller, stores, etcd and SRV discovery import no shim implementation', () => {
    const implementations = ['shim/udp-shim.ts', 'shim/memory-network.ts'];
    for (const [file, targets] of graph) {
      if (!/^(member|enroller|store|etcd)\//.test(file)) continue;
      for (const t of targets) expect(implementations, `${file} imports ${t}`).not.toContain(t);
    }
  });

  it('shims and the codec import nothing from the member, the enroller or the member configuration', () => {
    for (const [file, targets] of graph) {
      if (!/^(shim|cdap)\//.test(file)) continue;
      for (const t of targets) expect(t, `${file} imports ${t}`).not.toMatch(/^(member\/|enroller\/|config\.ts$)/);
    }
  });

  // Found by an audit (2026-12-06): util/settle.ts imported a type from rib/, a row above it; nothing checked the rows.
  it("depends only down the README's picture: no part imports one on a row above its own", () => {
    // The picture's rows, top to bottom; errors.ts and diagnostics.ts lie under every part, index.ts and warm-up.ts
    // (the entry point and what it offers) above the parts it puts together and below the CLI that imports it.
    const rows = [
      ['cli/', 'testing/'],
      ['index.ts', 'warm-up.ts'],
      ['member/', 'enroller/', 'etcd/'],
      ['auth/', 'cdap/', 'rib/', 'store/', 'config.ts'],
      ['shim/', 'util/'],
      ['errors.ts', 'diagnostics.ts'],
    ];
    const rowOf = (file: string): number => {
      const row = rows.findIndex((parts) => parts.some((p) => file === p || (p.endsWith('/') && file.startsWith(p))));
      expect(row, `${file} is on no row of the picture`).toBeGreaterThanOrEqual(0);
      return row;
    };
    const upward = [...graph].flatMap(([file, targets]) => targets.filter((t) => rowOf(t) < rowOf(file)).map((t) => `${file} -> ${t}`));
    expect(upward).toEqual([]);
    // within a row only what the picture draws: a shim parses addresses with no node:dgram
    const address = readFileSync(join(src, 'shim/udp-address.ts'), 'utf8');
    expect(address).not.toMatch(/['"]node:dgram['"]|['"]dgram['"]/);
  });

  it('has no import cycle', () => {
    const state = new Map<string, 'visiting' | 'done'>();
    const cycles: string[] = [];
    const visit = (file: string, path: string[]): void => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'visiting') {
        cycles.push([...path.slice(path.indexOf(file)), file].join(' -> '));
        return;
      }
      state.set(file, 'visiting');
      for (const t of graph.get(file) ?? []) visit(t, [...path, file]);
      state.set(file, 'done');
    };
    for (const file of all) visit(file, []);
    expect(cycles).toEqual([]);
  });

  it("calls none of the ES2023 methods Node 20's startup-snapshot builder lacks (docs/COLD-START.md)", () => {
    // In `node --build-snapshot` on Node 20 they are undefined, so warmUp() would throw in the builder;
    // test/examples.snapshot.test.ts builds a snapshot, but reaches only the code an enrollment runs.
    const used = all.flatMap((f) =>
      [...readFileSync(join(src, f), 'utf8').matchAll(/\.(toSpliced|toSorted|toReversed|groupBy)\(/g)].map((m) => `${f}: ${m[1]}`),
    );
    expect(used).toEqual([]);
  });

  it('has no file over 400 lines (generated code aside)', () => {
    const long = all
      .filter((f) => !generated(f))
      .map((f) => [f, readFileSync(join(src, f), 'utf8').split('\n').length] as const)
      .filter(([, lines]) => lines > 400);
    expect(long).toEqual([]);
  });

  it('has no function or method over 60 lines (generated code aside)', () => {
    const long: string[] = [];
    for (const file of all.filter((f) => !generated(f))) {
      const source = ts.createSourceFile(file, readFileSync(join(src, file), 'utf8'), ts.ScriptTarget.Latest, true);
      const visit = (node: ts.Node): void => {
        if (ts.isFunctionLike(node) && 'body' in node && node.body !== undefined) {
          const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
          const last = source.getLineAndCharacterOfPosition(node.getEnd()).line;
          const name =
            ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node) ? node.name?.getText(source) : ts.SyntaxKind[node.kind];
          if (last - first + 1 > 60) long.push(`${file}:${first + 1} ${name} (${last - first + 1} lines)`);
        }
        ts.forEachChild(node, visit);
      };
      visit(source);
    }
    expect(long).toEqual([]);
  });
});
