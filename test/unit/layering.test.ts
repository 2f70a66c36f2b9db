// Proves that dependencies between the top-level folders point one way:
// nothing under persistence/ imports from engine/ (the engine uses the log
// and the database, never the reverse). It reads every TypeScript source file
// under persistence/ and checks each import and require against that rule.

import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const IMPORT = /(?:\bfrom\s+|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm;

/** Every .ts file under `dir`, recursively, as paths relative to ROOT. */
function sourcesUnder(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const relative = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourcesUnder(relative);
    return entry.name.endsWith('.ts') ? [relative] : [];
  });
}

/** The module specifiers a source text imports, as written. */
function specifiersIn(text: string): string[] {
  return [...text.matchAll(IMPORT)].map((match) => match[1]!);
}

/** The modules `file` imports, relative ones resolved to paths relative to ROOT, packages as written. */
function importsOf(file: string): string[] {
  return specifiersIn(fs.readFileSync(path.join(ROOT, file), 'utf8'))
    .map((specifier) => {
      if (!specifier.startsWith('.')) return specifier;
      return path.relative(ROOT, path.resolve(ROOT, path.dirname(file), specifier));
    });
}

t.test('the import scan sees static, type-only, side-effect, dynamic and require imports', async (t) => {
  const probe = [
    "import { a } from '../engine/a';", "import type { B } from '../engine/b';", "import '../engine/c';",
    "const d = require('../engine/d');", "const e = await import('../engine/e');", "import {\n  f,\n} from 'node:fs';",
  ].join('\n');
  t.same(specifiersIn(probe), ['../engine/a', '../engine/b', '../engine/c', '../engine/d', '../engine/e', 'node:fs']);
});

t.test('no file under persistence/ imports from engine/', async (t) => {
  const files = sourcesUnder('persistence');
  t.ok(files.length >= 10, `persistence/ holds its modules (${files.length} files)`);
  const intoEngine = (target: string): boolean => target === 'engine' || target.startsWith(`engine${path.sep}`);
  const crossings = files.flatMap((file) => importsOf(file).filter(intoEngine)
    .map((target) => `${file} imports ${target}`));
  t.same(crossings, [], 'persistence/ depends on nothing in engine/');
});
