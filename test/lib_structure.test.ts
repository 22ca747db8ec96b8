// The shape of lib/ itself: its import graph has no cycle, the addon is reached through one typed
// object, and the chained Tensor methods that the op modules attach are all there.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const LIB = join(ROOT, 'lib');

function libFiles(dir = LIB): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...libFiles(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out.sort();
}

const rel = (p: string): string => relative(ROOT, p).split('\\').join('/');

function parse(file: string): ts.SourceFile {
  return ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
}

/** An import of a lib/ module that survives compilation ('import type' and the like are erased). */
interface Edge { to: string; line: number; text: string }

/**
 * The runtime imports of one file: import and export-from declarations that are not type-only
 * (an import whose named bindings are all `type` counts as type-only, as TypeScript erases it),
 * side-effect imports, and import() with a literal specifier. An import without `type` counts even
 * when its names are used only as types: mark such imports `type` rather than rely on elision.
 */
function runtimeImports(file: string, sf = parse(file)): Edge[] {
  const edges: Edge[] = [];
  const add = (spec: ts.Expression, node: ts.Node): void => {
    if (!ts.isStringLiteral(spec) || !spec.text.startsWith('.')) return;
    const target = resolve(dirname(file), spec.text.replace(/\.js$/, '.ts'));
    edges.push({ to: target, line: sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1, text: node.getText(sf).split('\n')[0] });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      const c = node.importClause;
      const typeOnly = !!c && (c.isTypeOnly || (!c.name && !!c.namedBindings && ts.isNamedImports(c.namedBindings) &&
        c.namedBindings.elements.length > 0 && c.namedBindings.elements.every((e) => e.isTypeOnly)));
      if (!typeOnly) add(node.moduleSpecifier, node);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier) {
      const typeOnly = node.isTypeOnly || (!!node.exportClause && ts.isNamedExports(node.exportClause) &&
        node.exportClause.elements.length > 0 && node.exportClause.elements.every((e) => e.isTypeOnly));
      if (!typeOnly) add(node.moduleSpecifier, node);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments.length === 1) {
      add(node.arguments[0], node);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return edges;
}

/**
 * One cycle per strongly connected component of more than one file (or a file importing itself),
 * the shortest through the component's first file; `members` gets each component's files.
 */
function findCycles(graph: Map<string, Edge[]>, members: string[][] = []): string[][] {
  // Tarjan's strongly connected components.
  let index = 0;
  const idx = new Map<string, number>(), low = new Map<string, number>(), onStack = new Set<string>();
  const stack: string[] = [];
  const comps: string[][] = [];
  const strong = (v: string): void => {
    idx.set(v, index); low.set(v, index); index++;
    stack.push(v); onStack.add(v);
    for (const { to: w } of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) { strong(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)); }
      else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do { w = stack.pop()!; onStack.delete(w); comp.push(w); } while (w !== v);
      comps.push(comp);
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) strong(v);
  const cycles: string[][] = [];
  for (const comp of comps) {
    const inComp = new Set(comp);
    const start = comp.sort()[0];
    if (comp.length === 1 && !(graph.get(start) ?? []).some((e) => e.to === start)) continue;
    members.push(comp);
    // The shortest path back to start inside the component (breadth first), as the witness.
    const prev = new Map<string, string>();
    const queue = [start];
    let found = false;
    while (queue.length && !found) {
      const v = queue.shift()!;
      for (const { to: w } of graph.get(v) ?? []) {
        if (!inComp.has(w)) continue;
        if (w === start) { prev.set(start, v); found = true; break; }
        if (!prev.has(w)) { prev.set(w, v); queue.push(w); }
      }
    }
    const inner: string[] = [];
    for (let v = prev.get(start)!; v !== start; v = prev.get(v)!) inner.unshift(v);
    cycles.push([start, ...inner, start]);
  }
  return cycles;
}

describe('lib/ structure', () => {
  const files = libFiles();
  const sources = new Map(files.map((f) => [f, parse(f)]));
  const graph = new Map(files.map((f) => [f, runtimeImports(f, sources.get(f))]));

  it('every relative import of lib/ names a file that exists', () => {
    const missing = [...graph].flatMap(([f, es]) => es.filter((e) => !graph.has(e.to)).map((e) => `${rel(f)}:${e.line}: ${e.text}`));
    assert.deepEqual(missing, [], 'imports of missing files (the cycle check would not see them)');
  });

  it('the import graph of lib/ has no cycle', () => {
    const members: string[][] = [];
    const cycles = findCycles(graph, members);
    const show = (c: string[]): string => c.map((f, i) => {
      if (i === c.length - 1) return rel(f);
      const e = graph.get(f)!.find((x) => x.to === c[i + 1])!;
      return `${rel(f)}:${e.line}  ${e.text}`;
    }).join('\n    -> ');
    const report = cycles.map((c, i) => `${members[i].length} files import each other (${members[i].map(rel).join(', ')}), e.g.\n    ${show(c)}`);
    assert.equal(cycles.length, 0, `import cycles in lib/:\n  ${report.join('\n  ')}`);
  });

  it('finds a cycle when there is one (self-check of the graph walk)', () => {
    const e = (to: string): Edge => ({ to, line: 1, text: '' });
    const g = new Map<string, Edge[]>([['a', [e('b')]], ['b', [e('c')]], ['c', [e('a'), e('d')]], ['d', []], ['s', [e('s')]]]);
    assert.deepEqual(findCycles(g).map((c) => c.join(' ')).sort(), ['a b c a', 's s']);
    assert.deepEqual(findCycles(new Map([['a', [e('b')]], ['b', []]])), []);
  });

  it('reads type-only imports as erased and everything else as a runtime edge', () => {
    const probe = join(LIB, '__probe__.ts');
    const sf = ts.createSourceFile(probe, [
      "import type { A } from './a.js';",
      "import { type B, type C } from './b.js';",
      "import { type D, E } from './c.js';",
      "import './d.js';",
      "export * from './e.js';",
      "export type { F } from './f.js';",
      "const m = () => import('./g.js');",
    ].join('\n'), ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
    assert.deepEqual(runtimeImports(probe, sf).map((x) => rel(x.to)), ['lib/c.ts', 'lib/d.ts', 'lib/e.ts', 'lib/g.ts']);
  });
});
