// The shape of lib/ itself: its import graph has no cycle, the addon is reached through one object
// typed by one complete interface, the chained Tensor methods that the op modules attach are all
// there (and lib/ does not depend on them), and no file outgrows 500 lines.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { Tensor } from '../lib/index.js';
import { addon, rawAddon } from '../lib/native.js';

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

/** Names declared on Tensor by module augmentation (`declare module '…/tensor.js' { interface Tensor {…} }`), by file. */
function chainedDeclarations(sources: Map<string, ts.SourceFile>): Map<string, string> {
  const where = new Map<string, string>();
  for (const [file, sf] of sources) {
    for (const st of sf.statements) {
      if (!ts.isModuleDeclaration(st) || !ts.isStringLiteral(st.name) || !/(^|\/)tensor\.js$/.test(st.name.text)) continue;
      const body = st.body && ts.isModuleBlock(st.body) ? st.body.statements : [];
      for (const d of body) {
        if (!ts.isInterfaceDeclaration(d) || d.name.text !== 'Tensor') continue;
        for (const m of d.members) if (m.name && ts.isIdentifier(m.name)) {
          assert.ok(!where.has(m.name.text), `Tensor.${m.name.text} is declared in ${rel(file)} and in ${where.get(m.name.text)}`);
          where.set(m.name.text, rel(file));
        }
      }
    }
  }
  return where;
}

describe('lib/ structure: the addon', () => {
  const files = libFiles();
  const sources = new Map(files.map((f) => [f, parse(f)]));
  const nativeTs = join(LIB, 'native.ts');

  it('the Addon interface in lib/native.ts lists exactly the entries the addon exports', () => {
    const sf = sources.get(nativeTs)!;
    const decl = sf.statements.find((s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === 'Addon');
    assert.ok(decl, 'lib/native.ts declares no interface Addon');
    const typed = decl.members.map((m) => (m.name && ts.isIdentifier(m.name) ? m.name.text : '?')).sort();
    const exported = Object.keys(rawAddon).sort();
    assert.deepEqual(typed.filter((n) => !exported.includes(n)), [], 'typed in Addon but not exported by the addon');
    assert.deepEqual(exported.filter((n) => !typed.includes(n)), [], 'exported by the addon but missing from Addon');
    assert.deepEqual(Object.keys(addon).sort(), exported, 'the guarded addon has other entries than the addon');
    // binding/entries.h is the list the addon registers (plus the NativeTensor constructor).
    const entries = [...readFileSync(join(ROOT, 'binding/entries.h'), 'utf8').matchAll(/^\s*X\((\w+),/gm)].map((m) => m[1]);
    assert.deepEqual([...entries, 'NativeTensor'].sort(), exported);
  });

  it('lib/ reaches the addon only through `addon` from lib/native.ts, never through a cast', () => {
    const bad: string[] = [];
    for (const [file, sf] of sources) {
      const at = (n: ts.Node): string => `${rel(file)}:${sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1}: ${n.getText(sf).split('\n')[0]}`;
      const visit = (n: ts.Node): void => {
        // Values imported from native.ts: addon and helpers over it; rawAddon is for tests and benches.
        if (ts.isImportDeclaration(n) && ts.isStringLiteral(n.moduleSpecifier) && /(^|\/)native\.js$/.test(n.moduleSpecifier.text)) {
          const c = n.importClause;
          if (c?.name || (c?.namedBindings && !ts.isNamedImports(c.namedBindings))) bad.push(at(n));
          if (c && !c.isTypeOnly && c.namedBindings && ts.isNamedImports(c.namedBindings))
            for (const e of c.namedBindings.elements)
              if (!e.isTypeOnly && !['addon', 'addonFile', 'opNames', 'packageRoot'].includes((e.propertyName ?? e.name).text) || (e.propertyName && e.propertyName.text === 'addon')) bad.push(at(n));
        }
        // A cast of the addon (or of anything named like it) means the interface is incomplete.
        if ((ts.isAsExpression(n) || ts.isTypeAssertionExpression(n)) && /\b(addon|native|binding)\b/.test(n.expression.getText(sf))) bad.push(at(n));
        if (ts.isCallExpression(n) && n.arguments.some((a) => ts.isStringLiteral(a) && a.text === 'node-gyp-build') && file !== nativeTs) bad.push(at(n));
        ts.forEachChild(n, visit);
      };
      visit(sf);
    }
    assert.deepEqual(bad, []);
  });
});

describe('lib/ structure: chained Tensor methods', () => {
  const files = libFiles();
  const sources = new Map(files.map((f) => [f, parse(f)]));
  const chained = chainedDeclarations(sources);

  it('every method declared on Tensor by an op module is attached, like a class method', () => {
    assert.ok(chained.size >= 20, `only ${chained.size} chained methods declared`);
    for (const [name, file] of chained) {
      const d = Object.getOwnPropertyDescriptor(Tensor.prototype, name);
      assert.ok(d && typeof d.value === 'function', `Tensor.prototype.${name} (declared in ${file}) is not attached`);
      assert.equal(d.enumerable, false, `Tensor.prototype.${name} is enumerable`);
    }
    // Nothing is attached without a declaration (the class's own members are in tensor.ts).
    const own = new Set<string>();
    const cls = sources.get(join(LIB, 'tensor.ts'))!.statements.find((s): s is ts.ClassDeclaration => ts.isClassDeclaration(s) && s.name?.text === 'Tensor')!;
    for (const m of cls.members) if (m.name && ts.isIdentifier(m.name)) own.add(m.name.text);
    const undeclared = Object.getOwnPropertyNames(Tensor.prototype).filter((n) => n !== 'constructor' && !own.has(n) && !chained.has(n));
    assert.deepEqual(undeclared, []);
  });

  it('lib/ calls op functions, not chained methods (which exist only once their op module is loaded)', function () {
    this.timeout(120000);
    // Type information tells a Tensor's t.add(b) from a Set's s.add(v).
    const program = ts.createProgram(files, {
      target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext,
      strict: true, skipLibCheck: true, noEmit: true, types: ['node'],
    });
    const checker = program.getTypeChecker();
    const uses: string[] = [];
    for (const file of files) {
      const sf = program.getSourceFile(file)!;
      const visit = (n: ts.Node): void => {
        if (ts.isPropertyAccessExpression(n) && chained.has(n.name.text)) {
          const decl = checker.getSymbolAtLocation(n.name)?.declarations?.[0];
          const owner = decl?.parent;
          if (owner && ts.isInterfaceDeclaration(owner) && owner.name.text === 'Tensor' && ts.isModuleBlock(owner.parent))
            uses.push(`${rel(file)}:${sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1}: ${n.getText(sf)}`);
        }
        ts.forEachChild(n, visit);
      };
      visit(sf);
    }
    assert.deepEqual(uses, [], 'chained methods used inside lib/: call the op function, imported from its module');
  });
});

describe('lib/ structure: file sizes', () => {
  it('no file of lib/ has more than 500 lines', () => {
    const big = libFiles().map((f) => [rel(f), readFileSync(f, 'utf8').split('\n').length] as const).filter(([, n]) => n > 500);
    assert.deepEqual(big, []);
  });
});
