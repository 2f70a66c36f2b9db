// `node scripts/reconcile`: checks a stopped engine's data directory, SQLite
// and the write-behind log, against each item's stock, and exits 1 with a
// precise report when anything disagrees. The rules are in
// reconciliation.ts. It only reads: the database is opened read-only and no
// log segment is applied or deleted, so it can run on the data directory of
// an engine that died (kill -9) before start-up has replayed its log, and on
// copies kept for an investigation.
//
// It refuses to run while an engine holds the directory: the persistence
// thread moves records from the log into SQLite all the time, so the two
// would not describe one moment.

import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { databaseFile, logDirectory } from '../persistence/data-directory';
import { readEnginePid } from './engine-pid';
import { reconcile, type Reconciliation } from './reconciliation';
import { dataDirOf, EXIT_FAILED, EXIT_OK, runCommand, UsageError, type CommandSpec } from './script-cli';

const COMMAND: CommandSpec = {
  name: 'reconcile',
  usage: ['[--data DIR] [--json]'],
  description: [
    "Checks a stopped engine's SQLite database and write-behind log against each item's stock:",
    'no unit sold twice (left = stock - held >= 0, after replaying the unapplied log tail in memory),',
    'no user over perUserLimit, every order on an item, and every log record applied exactly once',
    '(log_applied against each segment file, order rows and states against the applied records).',
    'Read-only. Exits 0 when consistent, 1 with a report naming items, orders, segments and',
    'record indexes otherwise. Refuses (exit 2) while an engine runs on DIR.',
  ],
  flags: [
    { name: 'data', kind: 'string', value: 'DIR',
      help: "The engine's data directory. Default FLASH_DATA, else ./data." },
    { name: 'json', kind: 'bool',
      help: 'Print the report as one JSON object (items, segments, findings, consistent).' },
  ],
  positionalsMax: 0,
};

function humanReport(dataDir: string, result: Reconciliation): string {
  const lines = [`reconcile ${dataDir}`];
  for (const item of result.items) {
    const tail = item.tailRecords > 0
      ? ` + ${item.tailRecords} unapplied log record(s) (${item.ordersFromTail} new order(s))`
      : '';
    lines.push(`  item "${item.id}" (row ${item.row}): stock ${item.stock}, held ${item.held}, left ${item.left}` +
      ` [SQLite: ${item.ordersInSqlite} orders, ${item.heldInSqlite} held${tail}], perUserLimit ${item.perUserLimit}`);
  }
  if (result.segments.length === 0) lines.push('  log: no segments (everything is in SQLite)');
  for (const s of result.segments) {
    lines.push(`  log ${s.name}: ${s.validRecords} records, ${s.applied} applied, ${s.tail} to replay` +
      `${s.tornBytes > 0 ? `, ${s.tornBytes} torn bytes` : ''}`);
  }
  for (const f of result.findings) lines.push(`${f.severity.toUpperCase()} ${f.check}: ${f.message}`);
  const errors = result.findings.filter((f) => f.severity === 'error').length;
  lines.push(result.consistent ? 'consistent: every check passed' : `INCONSISTENT: ${errors} error(s)`);
  return lines.join('\n') + '\n';
}

export function main(argv: readonly string[]): Promise<number> {
  return runCommand(COMMAND, argv, (args) => {
    const dataDir = path.resolve(dataDirOf(args, process.env));
    const file = databaseFile(dataDir);
    if (!fs.existsSync(file)) {
      throw new UsageError(`--data: ${dataDir} holds no engine database (${path.basename(file)})`);
    }
    const engine = readEnginePid(dataDir);
    if (engine.alive) {
      throw new UsageError(`--data: an engine (pid ${engine.pid}${engine.command ? `, "${engine.command}"` : ''}) ` +
        `is running on ${dataDir}; ` +
        `stop it first (SIGTERM), or remove ${engine.file} if that process is not the engine`);
    }
    const db = new Database(file, { readonly: true, fileMustExist: true });
    let result: Reconciliation;
    try {
      result = reconcile(db, logDirectory(dataDir));
    } finally {
      db.close();
    }
    if (engine.pid !== null) {
      result.findings.push({ severity: 'info', check: 'stale_pid_file',
        message: `${engine.file} names pid ${engine.pid}, which is not running: ` +
          'the engine did not stop cleanly, and start-up will replay the log' });
    }
    if (args.flags.get('json') === true) process.stdout.write(JSON.stringify({ dataDir, ...result }) + '\n');
    else process.stdout.write(humanReport(dataDir, result));
    return result.consistent ? EXIT_OK : EXIT_FAILED;
  });
}
