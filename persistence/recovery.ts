// Start-up recovery of the write-behind log: every segment left by earlier
// boots is applied to SQLite from where the database says it stopped, its
// torn tail (at most the last, unacknowledged batch) dropped, and then the
// segment files and their bookkeeping are removed. After this the database
// alone holds the whole state, and the shards load from it.

import fs from 'node:fs';
import path from 'node:path';
import type { Db } from './database';
import { fsyncDirectory } from './durable-file';
import { LogApplier, scanSegment } from './log-applier';
import { LOG_RECORD_BYTES, PERSIST_BATCH_RECORDS_MAX } from './log-constants';
import { SEGMENT_FILE } from './write-behind-log';

export interface CatchUpReport {
  segments: number;
  recordsApplied: number;
  tornBytes: number;
}


/** Applies and removes every log segment in `logDir`, oldest first. */
export function catchUpLog(db: Db, logDir: string, fsync: boolean): CatchUpReport {
  fs.mkdirSync(logDir, { recursive: true });
  // Names sort by boot, then shard, then segment: each shard's segments in the order written.
  const files = fs.readdirSync(logDir).filter((name) => SEGMENT_FILE.test(name)).sort();
  const applier = new LogApplier(db);
  const report: CatchUpReport = { segments: files.length, recordsApplied: 0, tornBytes: 0 };
  for (const name of files) {
    const bytes = fs.readFileSync(path.join(logDir, name));
    const scan = scanSegment(bytes);
    report.tornBytes += scan.tornBytes;
    let next = applier.appliedRecords(name);
    if (next > scan.validRecords) {
      throw new Error(`log segment ${name}: database says ${next} records applied ` +
        `but only ${scan.validRecords} are in the file`);
    }
    while (next < scan.validRecords) {
      const count = Math.min(PERSIST_BATCH_RECORDS_MAX, scan.validRecords - next);
      applier.apply(name, bytes.subarray(next * LOG_RECORD_BYTES, (next + count) * LOG_RECORD_BYTES), count, next);
      next += count;
      report.recordsApplied += count;
    }
  }
  // Everything is in SQLite now (durably so: the pragma matches --fsync).
  for (const name of files) fs.unlinkSync(path.join(logDir, name));
  if (fsync && files.length > 0) fsyncDirectory(logDir);
  for (const name of files) applier.forget(name);
  return report;
}
