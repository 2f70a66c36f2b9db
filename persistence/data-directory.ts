// The names of everything the engine keeps in its data directory, made in
// one place so that the engine, the scripts and the operator's runbook agree:
//
//   DATA/flash-sale.sqlite        the database (with -wal and -shm beside it)
//   DATA/log/                     write-behind log segments (write-behind-log.ts)
//   DATA/engine.pid               the running engine's pid (a lock)
//   DATA/snapshots/               snapshot-<ISO time>.json
//   DATA/settlement/              <item>-<endsAt>-report.json and -winners.ndjson
//   DATA/draws/                   item-<row>-<drawAt>.json: a fair window's draw and its proof

import path from 'node:path';

export function databaseFile(dataDir: string): string {
  return path.join(dataDir, 'flash-sale.sqlite');
}

/** The files SQLite keeps for the database in WAL mode, the database itself first. */
export function databaseFiles(dataDir: string): string[] {
  const file = databaseFile(dataDir);
  return [file, `${file}-wal`, `${file}-shm`];
}

export function logDirectory(dataDir: string): string {
  return path.join(dataDir, 'log');
}

export function pidFile(dataDir: string): string {
  return path.join(dataDir, 'engine.pid');
}

export function snapshotDirectory(dataDir: string): string {
  return path.join(dataDir, 'snapshots');
}

/** A snapshot's file name, from when it was taken: names sort by time. */
export function snapshotFileName(takenAt: number): string {
  return `snapshot-${new Date(takenAt).toISOString().replace(/[:.]/g, '-')}.json`;
}

const SNAPSHOT_NAME = /^snapshot-(\d{4}-\d{2}-\d{2})T(\d{2})-(\d{2})-(\d{2})-(\d{3})Z\.json$/;

/** When a snapshot was taken, from its file name; NaN for any other name (a .tmp among them). */
export function snapshotTakenAt(name: string): number {
  const match = SNAPSHOT_NAME.exec(name);
  return match === null ? NaN : Date.parse(`${match[1]}T${match[2]}:${match[3]}:${match[4]}.${match[5]}Z`);
}

export function settlementDirectory(dataDir: string): string {
  return path.join(dataDir, 'settlement');
}

/** The two files one settled round of an item leaves: its report and its winners for the order system. */
export function settlementFiles(dataDir: string, itemId: string, endsAt: number): { report: string; winners: string } {
  const base = path.join(settlementDirectory(dataDir), `${itemId}-${endsAt}`);
  return { report: `${base}-report.json`, winners: `${base}-winners.ndjson` };
}

export function drawDirectory(dataDir: string): string {
  return path.join(dataDir, 'draws');
}

/** The published draw of the fair window of the item with this row that closed at drawAt (fair-window.ts). */
export function drawFile(drawDir: string, row: number, drawAt: number): string {
  return path.join(drawDir, `item-${row}-${drawAt}.json`);
}
