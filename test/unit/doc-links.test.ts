// Proves that the documents a newcomer reads lead somewhere: every relative
// link in README.md, CHANGELOG.md, bench/README.md and docs/*.md names a file
// inside the repository, every `#anchor` names a heading of the file it
// points into, and no document sends the reader outside the repository
// (to ../shared), where users have nothing.

import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';

const ROOT = path.resolve(__dirname, '..', '..', '..');

function documents(): string[] {
  const docs = fs.readdirSync(path.join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => path.join('docs', name));
  return ['README.md', 'CHANGELOG.md', path.join('bench', 'README.md'), ...docs];
}

/** The markdown outside fenced code blocks, where a `#` line is not a heading. */
function outsideBlocks(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```/gm, '');
}

/** The markdown outside code blocks and code spans, where a link is text, not a link. */
function prose(markdown: string): string {
  return outsideBlocks(markdown).replace(/`[^`\n]*`/g, '');
}

/** Link targets of `[text](target)`, without web and mail addresses. */
function relativeLinks(markdown: string): string[] {
  const targets = [...prose(markdown).matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
  return targets.filter((target) => !/^[a-z]+:/i.test(target));
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
}

function anchorsOf(markdown: string): Set<string> {
  return new Set([...outsideBlocks(markdown).matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1]!)));
}

t.test('every document exists and has links to follow', async (t) => {
  const files = documents();
  t.ok(files.length >= 8, `the documents are found (${files.join(', ')})`);
  for (const file of files) t.ok(fs.existsSync(path.join(ROOT, file)), `${file} exists`);
  const readmeLinks = relativeLinks(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8'));
  for (const doc of files.filter((file) => file.startsWith('docs'))) {
    t.ok(readmeLinks.includes(doc.split(path.sep).join('/')), `README.md links to ${doc}`);
  }
});

t.test('every relative link names a file in the repository, and every anchor a heading in it', async (t) => {
  let checked = 0;
  for (const file of documents()) {
    const from = path.dirname(path.join(ROOT, file));
    for (const target of relativeLinks(fs.readFileSync(path.join(ROOT, file), 'utf8'))) {
      const [linkPath, anchor] = target.split('#') as [string, string | undefined];
      const resolved = linkPath === '' ? path.join(ROOT, file) : path.resolve(from, linkPath);
      const inside = !path.relative(ROOT, resolved).startsWith('..');
      t.ok(inside, `${file}: ${target} stays inside the repository`);
      t.ok(inside && fs.existsSync(resolved), `${file}: ${target} names a file`);
      if (anchor !== undefined && resolved.endsWith('.md') && fs.existsSync(resolved)) {
        const anchors = anchorsOf(fs.readFileSync(resolved, 'utf8'));
        t.ok(anchors.has(anchor), `${file}: #${anchor} is a heading of ${linkPath || file}`);
      }
      checked++;
    }
  }
  t.ok(checked >= 30, `links were checked (${checked})`);
});

t.test('no document points outside the repository', async (t) => {
  for (const file of documents()) {
    t.notMatch(fs.readFileSync(path.join(ROOT, file), 'utf8'), /\.\.\/shared\b/, `${file} does not refer to ../shared`);
  }
});
