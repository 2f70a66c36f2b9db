// Proves that the engine's flags are described once: `--help` and the table
// in docs/operations.md are both made from the table in engine/config.ts.
// The docs' table must be exactly what `node scripts/flag-table` writes (so a
// flag added, removed or reworded without rerunning it fails here), every
// flag and variable must appear in --help and in the docs, the marker
// rewriting must keep the rest of the file, and each plain "Default N." the
// help states must be the value the parser defaults to.

import fs from 'node:fs';
import t from 'tap';
import {
  configNames, defaultConfig, flagTableMarkdown, helpText, parseConfig, type EngineConfig,
} from '../../engine/config';
import { FLAGS_BEGIN, FLAGS_END, OPERATIONS_DOC, tableIn, withTable } from '../../scripts/flag-table';

const docs = fs.readFileSync(OPERATIONS_DOC, 'utf8');

t.test('the table in docs/operations.md is the one scripts/flag-table writes from engine/config.ts', async (t) => {
  t.equal(tableIn(docs), flagTableMarkdown(), 'docs/operations.md is up to date (run `node scripts/flag-table`)');
});

t.test('--help and the docs table name every flag with its variable, and each environment-only one', async (t) => {
  const { flags, envOnly } = configNames();
  t.ok(flags.length >= 20, `the engine has its flags (${flags.length})`);
  const help = helpText();
  const table = tableIn(docs) ?? '';
  for (const { flag, env } of flags) {
    t.match(help, new RegExp(`^  --${flag}\\b.* ${env} `, 'm'), `--help has --${flag} with ${env} on one line`);
    const row = new RegExp(`^\\| \`--${flag}\\b[^|]*\` \\| \`${env}\` \\|`, 'm');
    t.match(table, row, `the docs table has --${flag} with ${env}`);
  }
  for (const env of envOnly) {
    t.match(help, new RegExp(`^  ${env} `, 'm'), `--help has ${env}`);
    t.match(table, `| (environment only) | \`${env}\` |`, `the docs table has ${env}`);
  }
  const rows = table.trimEnd().split('\n');
  t.equal(rows.length, 2 + flags.length + envOnly.length, 'one row per flag and variable under the header');
});

t.test('a table that differs is seen, and rewriting replaces only the text between the markers', async (t) => {
  const text = `# Title\n\nbefore\n${FLAGS_BEGIN}\n| stale |\n${FLAGS_END}\nafter\n`;
  t.equal(tableIn(text), '| stale |\n');
  t.not(tableIn(text), flagTableMarkdown(), 'a stale table differs');
  const rewritten = withTable(text, flagTableMarkdown());
  t.equal(tableIn(rewritten), flagTableMarkdown(), 'the rewritten table is the flags');
  const expected = `# Title\n\nbefore\n${FLAGS_BEGIN}\n${flagTableMarkdown()}${FLAGS_END}\nafter\n`;
  t.equal(rewritten, expected, 'the text around the markers is kept');
  t.equal(withTable(rewritten, flagTableMarkdown()), rewritten, 'rewriting twice changes nothing');
  t.equal(tableIn('no markers'), null);
  t.equal(tableIn(`${FLAGS_END}\n${FLAGS_BEGIN}`), null, 'markers out of order are no table');
  t.throws(() => withTable('no markers', flagTableMarkdown()), /markers/);
});

t.test('each "Default N." in --help is the value the engine uses when the flag is not given', async (t) => {
  const parsed = parseConfig([], {})!;
  const defaults = defaultConfig();
  let checked = 0;
  for (const line of helpText().split('\n')) {
    const match = /^ {2}--([a-z-]+) N .* Default (\d+)[.,]/.exec(line);
    if (match === null) continue;
    const flagOf = (key: string): string => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    const key = (Object.keys(defaults) as (keyof EngineConfig)[]).find((k) => flagOf(k) === match[1]);
    t.ok(key, `--${match[1]} names a configuration field`);
    t.equal(parsed[key!], Number(match[2]), `--${match[1]} defaults to ${match[2]} as its help says`);
    checked++;
  }
  t.ok(checked >= 15, `the plain numeric defaults were checked (${checked})`);
});
