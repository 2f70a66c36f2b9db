// `node scripts/flag-table`: writes the engine's flag table (engine/config.ts,
// the table `--help` prints) as Markdown into docs/operations.md, between
// the markers below, so the documentation never describes other flags than
// the engine reads. With --check it changes nothing and exits 1 when the
// file's table differs.

import fs from 'node:fs';
import path from 'node:path';
import { flagTableMarkdown } from '../engine/config';
import { EXIT_FAILED, EXIT_OK, optionalString, runCommand, UsageError, type CommandSpec } from './script-cli';

export const FLAGS_BEGIN = '<!-- flags:begin -->';
export const FLAGS_END = '<!-- flags:end -->';

/** docs/operations.md of this checkout (dist/scripts/ is two levels below the root). */
export const OPERATIONS_DOC = path.resolve(__dirname, '..', '..', 'docs', 'operations.md');

const COMMAND: CommandSpec = {
  name: 'flag-table',
  usage: ['[--docs FILE] [--check]'],
  description: [
    "Writes the engine's flags, as `node engine/start --help` lists them, as a Markdown table into",
    `FILE between the lines ${FLAGS_BEGIN} and ${FLAGS_END}; the rest of FILE is left as it is.`,
  ],
  flags: [
    { name: 'docs', kind: 'string', value: 'FILE', help: 'The Markdown file to update. Default docs/operations.md.' },
    { name: 'check', kind: 'bool', help: 'Change nothing; exit 1 when the table in FILE differs from the flags.' },
  ],
  positionalsMax: 0,
};

/** The table between the markers of `text`, or null when the markers are missing or out of order. */
export function tableIn(text: string): string | null {
  const begin = text.indexOf(FLAGS_BEGIN);
  const end = text.indexOf(FLAGS_END);
  if (begin === -1 || end < begin) return null;
  return text.slice(begin + FLAGS_BEGIN.length, end).replace(/^\n/, '');
}

/** `text` with the table between its markers replaced by `table`. */
export function withTable(text: string, table: string): string {
  const begin = text.indexOf(FLAGS_BEGIN);
  const end = text.indexOf(FLAGS_END);
  if (begin === -1 || end < begin) throw new UsageError(`the file has no ${FLAGS_BEGIN} ... ${FLAGS_END} markers`);
  return `${text.slice(0, begin + FLAGS_BEGIN.length)}\n${table}${text.slice(end)}`;
}

export function main(argv: readonly string[]): Promise<number> {
  return runCommand(COMMAND, argv, (args) => {
    const file = optionalString(args, 'docs') ?? OPERATIONS_DOC;
    if (!fs.existsSync(file)) throw new UsageError(`--docs: ${file} does not exist`);
    const text = fs.readFileSync(file, 'utf8');
    const table = flagTableMarkdown();
    const updated = withTable(text, table);
    if (args.flags.get('check') === true) {
      if (tableIn(text) === table) return EXIT_OK;
      process.stderr.write(`flag-table: the table in ${file} differs from the engine's flags; ` +
        'run `node scripts/flag-table`\n');
      return EXIT_FAILED;
    }
    if (updated !== text) fs.writeFileSync(file, updated);
    process.stdout.write(`${file}: ${updated === text ? 'already up to date' : 'flag table written'}\n`);
    return EXIT_OK;
  });
}
