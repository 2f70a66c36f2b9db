// Runs the operator scripts as an operator would (`node scripts/<name>`
// from the repository root, as a child process) and gives tests what they
// need to prepare and corrupt data directories on purpose: copies, a
// writable handle on a copy's SQLite file, and the decoded records of its
// write-behind log segments.

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { databaseFile, logDirectory } from '../../persistence/data-directory';
import { decodeLeadingRecords, RECORD_TYPE, type LogRecord } from '../../persistence/log-record';
import { ROOT, tempDataDir } from './engine-process';

export interface ScriptResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node scripts/<name> ...args`; killed after timeoutMs so a hung script fails its test. */
export function runScript(name: string, args: string[], env: Record<string, string | undefined> = {},
  timeoutMs = 30_000): Promise<ScriptResult> {
  const merged: NodeJS.ProcessEnv = { ...process.env };
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) delete merged[key];
    else merged[key] = value;
  }
  const proc = spawn(process.execPath, [path.join('scripts', name), ...args],
    { cwd: ROOT, env: merged, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  proc.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => proc.once('close', (code) => {
    clearTimeout(timer);
    resolve({ code, stdout, stderr });
  }));
}

/**
 * A copy of a stopped engine's data directory (database, its WAL, the log),
 * to corrupt without touching the original.
 */
export function copyDataDir(from: string, label: string): string {
  const to = tempDataDir(label);
  fs.cpSync(from, to, { recursive: true });
  return to;
}

/** Opens a data directory's database for writing, runs `change`, closes it. */
export function changeDatabase(dataDir: string, change: (db: Database.Database) => void): void {
  const db = new Database(databaseFile(dataDir));
  try {
    change(db);
  } finally {
    db.close();
  }
}

export interface SegmentRecords {
  name: string;
  records: LogRecord[];
}

/** Every log segment in DIR/log with its good records, in name order. */
export function readSegments(dataDir: string): SegmentRecords[] {
  const logDir = logDirectory(dataDir);
  if (!fs.existsSync(logDir)) return [];
  return fs.readdirSync(logDir).filter((name) => name.endsWith('.wal')).sort().map((name) => {
    const records: LogRecord[] = [];
    decodeLeadingRecords(fs.readFileSync(path.join(logDir, name)), (record) => records.push({ ...record }));
    return { name, records };
  });
}

/**
 * A digest of every file in a data directory except SQLite's shared-memory
 * index, to prove a script changed nothing.
 */
export function digestDataDir(dataDir: string): string {
  const hash = crypto.createHash('sha256');
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (!entry.name.endsWith('-shm')) {
        hash.update(`${path.relative(dataDir, full)}\0`).update(fs.readFileSync(full));
      }
    }
  };
  walk(dataDir);
  return hash.digest('hex');
}

/**
 * Makes the last `count` records of a segment unapplied again, as if the
 * persistence thread had not reached them when the engine died: their order
 * rows are deleted and log_applied moved back. Only won records can be
 * un-applied this way (a later state change would need the earlier state),
 * so it throws unless those records are all wins. Returns the order ids.
 */
export function rewindPersister(dataDir: string, segment: SegmentRecords, count: number): number[] {
  const tail = segment.records.slice(segment.records.length - count);
  if (tail.length !== count || tail.some((record) => record.type !== RECORD_TYPE.won)) {
    throw new Error(`the last ${count} records of ${segment.name} are not all wins`);
  }
  changeDatabase(dataDir, (db) => {
    const row = db.prepare('SELECT records FROM log_applied WHERE segment = ?').get(segment.name);
    const applied = (row as { records: number } | undefined)?.records;
    if (applied !== segment.records.length) {
      throw new Error(`${segment.name}: ${applied} of ${segment.records.length} records applied; rewind needs all`);
    }
    db.transaction(() => {
      for (const record of tail) db.prepare('DELETE FROM orders WHERE id = ?').run(record.orderId);
      db.prepare('UPDATE log_applied SET records = ? WHERE segment = ?')
        .run(segment.records.length - count, segment.name);
    })();
  });
  return tail.map((record) => record.orderId);
}
