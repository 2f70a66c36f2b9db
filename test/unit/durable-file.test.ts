// Proves the one durable-write helper and the data directory's names:
// writeFileDurably leaves the whole new file under its name and no .tmp,
// and when writing fails part-way it removes the .tmp and leaves the old
// file exactly as it was; the names of the database, log, pid, snapshot and
// settlement files are the ones the runbook gives, and a snapshot's name
// gives back the time it was taken (and NaN for any other name).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import {
  databaseFile, databaseFiles, logDirectory, pidFile, settlementDirectory, settlementFiles, snapshotDirectory,
  snapshotFileName, snapshotTakenAt,
} from '../../persistence/data-directory';
import { IN_PROGRESS_SUFFIX, writeFileDurably, writeTextDurably } from '../../persistence/durable-file';

function tempDir(t: { teardown: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flash-durable-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('a durable write leaves the whole new file and no temporary file', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'report.json');
  writeTextDurably(file, 'first\n');
  t.equal(fs.readFileSync(file, 'utf8'), 'first\n');
  writeFileDurably(file, (fd) => {
    fs.writeSync(fd, 'second ');
    fs.writeSync(fd, 'in two writes\n');
  });
  t.equal(fs.readFileSync(file, 'utf8'), 'second in two writes\n', 'the new content replaces the old whole');
  t.same(fs.readdirSync(dir), ['report.json'], 'no .tmp is left');
});

t.test('a durable write that fails part-way removes its temporary file and keeps the old file', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'snapshot.json');
  writeTextDurably(file, 'old\n');
  t.throws(() => writeFileDurably(file, (fd) => {
    fs.writeSync(fd, 'half of the new');
    t.ok(fs.existsSync(file + IN_PROGRESS_SUFFIX), 'the new content goes to the .tmp while it is written');
    throw new Error('disk full');
  }), /disk full/, 'the error reaches the caller');
  t.equal(fs.readFileSync(file, 'utf8'), 'old\n', 'the old file is untouched');
  t.same(fs.readdirSync(dir), ['snapshot.json'], 'the .tmp is removed');
});

t.test('the data directory\'s files have the names the runbook gives', async (t) => {
  const dir = '/srv/flash';
  t.equal(databaseFile(dir), '/srv/flash/flash-sale.sqlite');
  const database = '/srv/flash/flash-sale.sqlite';
  t.same(databaseFiles(dir), [database, `${database}-wal`, `${database}-shm`]);
  t.equal(logDirectory(dir), '/srv/flash/log');
  t.equal(pidFile(dir), '/srv/flash/engine.pid');
  t.equal(snapshotDirectory(dir), '/srv/flash/snapshots');
  t.equal(settlementDirectory(dir), '/srv/flash/settlement');
  t.same(settlementFiles(dir, 'drop', 1_700_000_000_000), {
    report: '/srv/flash/settlement/drop-1700000000000-report.json',
    winners: '/srv/flash/settlement/drop-1700000000000-winners.ndjson',
  });
});

t.test('a snapshot\'s file name sorts by time and gives the time back', async (t) => {
  const takenAt = Date.parse('2026-12-03T08:15:30.123Z');
  t.equal(snapshotFileName(takenAt), 'snapshot-2026-12-03T08-15-30-123Z.json');
  t.equal(snapshotTakenAt(snapshotFileName(takenAt)), takenAt);
  t.ok(snapshotFileName(takenAt) < snapshotFileName(takenAt + 1), 'a later snapshot sorts after');
  for (const other of ['snapshot-2026-12-03T08-15-30-123Z.json.tmp', 'notes.txt', 'snapshot-latest.json']) {
    t.ok(Number.isNaN(snapshotTakenAt(other)), `${other} is no snapshot`);
  }
});
