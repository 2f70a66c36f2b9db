// Proves that every line of the project's own source fits in 120 columns, so
// a function can be read whole in a side-by-side diff without wrapping. It
// walks the source folders (engine/, persistence/, scripts/, static/, bench/,
// test/) for .ts and .js files, skipping installed packages and build output,
// and names each line that is too long, with its length.

import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const FOLDERS = ['engine', 'persistence', 'scripts', 'static', 'bench', 'test'];
const SKIPPED = new Set(['node_modules', 'dist', 'results']);
/** The house limit: two files side by side fit a wide screen unwrapped. */
const LINE_CHARACTERS_MAX = 120;

/** Every .ts and .js file under `dir`, recursively, relative to ROOT. */
function sourcesUnder(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const relative = path.join(dir, entry.name);
    if (entry.isDirectory()) return SKIPPED.has(entry.name) ? [] : sourcesUnder(relative);
    return /\.(ts|js)$/.test(entry.name) ? [relative] : [];
  });
}

/** "file:line (length)" for each line of `text` longer than the limit. */
function longLines(file: string, text: string): string[] {
  return text.split('\n').flatMap((line, index) =>
    (line.length > LINE_CHARACTERS_MAX ? [`${file}:${index + 1} (${line.length})`] : []));
}

t.test('the check names a line one past the limit, and passes one at it', async (t) => {
  const atLimit = 'x'.repeat(LINE_CHARACTERS_MAX);
  t.same(longLines('probe.ts', `${atLimit}\n${atLimit}y\nshort`), [`probe.ts:2 (${LINE_CHARACTERS_MAX + 1})`]);
});

t.test(`no source line is longer than ${LINE_CHARACTERS_MAX} characters`, async (t) => {
  const files = FOLDERS.flatMap(sourcesUnder);
  t.ok(files.length > 100, `${files.length} source files read`);
  const long = files.flatMap((file) => longLines(file, fs.readFileSync(path.join(ROOT, file), 'utf8')));
  t.same(long, [], 'lines over the limit');
});
