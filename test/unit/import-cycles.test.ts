// Proves that no module of engine/, persistence/ or scripts/ imports itself
// through others: dependencies point one way, so each module can be read
// and tested apart from the modules that use it. The test reads every .ts
// file under those folders, collects its relative imports and re-exports
// (`import ... from './x'`, `import type ... from './x'`, `import './x'`,
// `export ... from './x'`), and fails naming each cycle it finds.
//
// Type-only imports count. They vanish at run time, but a cycle of types
// still ties two modules together for a reader (neither makes sense
// without the other), and it turns into a run-time cycle the day someone
// adds one value import along it. Counting them is the stricter rule.
//
// The cycle finder is checked first on small graphs made in memory, with
// and without a cycle, so a pass on the real tree means "no cycle", never
// "the finder cannot see one".

import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';

/** The compiled test runs from dist/test/unit; the sources are at the repository root. */
const ROOT = path.resolve(__dirname, '..', '..', '..');
const FOLDERS = ['engine', 'persistence', 'scripts'];

/** `import` or `export`, a clause ending in `from` (no quote or semicolon in it) or none, then a relative path. */
const IMPORT = /(?:^|\n)[ \t]*(?:import|export)[ \t]+(?:type[ \t]+)?(?:[^'";]*?\sfrom\s+)?['"](\.{1,2}\/[^'"]+)['"]/g;

/** Relative import specifiers of a module's source; comments are dropped first. */
export function relativeImports(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^[ \t]*\/\/.*$/gm, '');
  return [...code.matchAll(IMPORT)].map((match) => match[1]!);
}

function tsFilesUnder(folder: string): string[] {
  if (!fs.existsSync(folder)) return [];
  return fs.readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(folder, entry.name);
    if (entry.isDirectory()) return tsFilesUnder(full);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [full] : [];
  });
}

/** The module graph: each file (relative to ROOT) to the files it imports that are in the graph. */
function moduleGraph(): Map<string, string[]> {
  const files = FOLDERS.flatMap((folder) => tsFilesUnder(path.join(ROOT, folder)));
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const targets = relativeImports(fs.readFileSync(file, 'utf8'))
      .map((specifier) => path.resolve(path.dirname(file), specifier))
      .map((target) => [`${target}.ts`, path.join(target, 'index.ts')].find((candidate) => known.has(candidate)))
      .filter((target): target is string => target !== undefined);
    graph.set(path.relative(ROOT, file), targets.map((target) => path.relative(ROOT, target)));
  }
  return graph;
}

/**
 * Every cycle a depth-first walk meets, each as the path that closes it
 * (first module repeated at the end). A graph without cycles gives none.
 */
export function findCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const done = new Set<string>();
  const onPath = new Map<string, number>();
  const trail: string[] = [];
  const cycles: string[][] = [];
  const visit = (node: string): void => {
    onPath.set(node, trail.length);
    trail.push(node);
    for (const next of graph.get(node) ?? []) {
      const at = onPath.get(next);
      if (at !== undefined) cycles.push([...trail.slice(at), next]);
      else if (!done.has(next)) visit(next);
    }
    trail.pop();
    onPath.delete(node);
    done.add(node);
  };
  for (const node of [...graph.keys()].sort()) if (!done.has(node)) visit(node);
  return cycles;
}

t.test('the parser reads value, type, side-effect and re-export imports on several lines, not comments', async (t) => {
  const source = [
    "import fs from 'node:fs';",
    "import { a, b } from './a';",
    "import type { C } from '../c';",
    'import {',
    '  d,',
    "  type E,",
    "} from './d';",
    "import './side-effect';",
    "export { f } from './f';",
    "export * from \"./g\";",
    "// import { h } from './commented';",
    "/* import { i } from './blocked'; */",
    "export const j = 'not an import';",
  ].join('\n');
  t.same(relativeImports(source), ['./a', '../c', './d', './side-effect', './f', './g']);
});

t.test('the cycle finder names a cycle, a self-import and none in a graph without one', async (t) => {
  t.same(findCycles(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']]])), [['a', 'b', 'c', 'a']]);
  t.same(findCycles(new Map([['a', ['a']]])), [['a', 'a']]);
  t.same(findCycles(new Map([['a', ['b', 'c']], ['b', ['c']], ['c', []]])), []);
  t.same(findCycles(new Map([['x', ['y']], ['y', ['z']], ['z', ['y']]])), [['y', 'z', 'y']]);
});

t.test('no module of engine/, persistence/ or scripts/ imports itself through others', async (t) => {
  const graph = moduleGraph();
  t.ok(graph.size > 50, `the graph holds the source tree (${graph.size} modules)`);
  const serverImports = graph.get(path.join('engine', 'http-server.ts'))!;
  t.ok(serverImports.includes(path.join('engine', 'shopper-routes.ts')), 'and its imports');
  const cycles = findCycles(graph).map((cycle) => cycle.join(' -> '));
  t.same(cycles, [], cycles.length === 0 ? 'no cycle' : `cycles:\n${cycles.join('\n')}`);
});
