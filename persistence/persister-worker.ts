// The persistence worker thread: the one writer of orders into SQLite. It
// follows each shard's log segments (positions published in the shared
// `progress` array), applies new records in transactions of at most
// PERSIST_BATCH_RECORDS_MAX, deletes a segment once its shard has moved on
// and every record is applied, and on the drain command applies everything,
// checkpoints the SQLite WAL and exits.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { openDatabase } from './database';
import { fsyncDirectory } from './durable-file';
import { LogApplier, readRecords } from './log-applier';
import { LOG_RECORD_BYTES, PERSIST_BATCH_RECORDS_MAX, PERSIST_POLL_MS } from './log-constants';
import {
  PROGRESS_APPLIED_RECORDS, PROGRESS_APPLIED_SEGMENT, PROGRESS_FIELDS, PROGRESS_RECORDS, PROGRESS_SEGMENT,
  segmentFileName,
} from './write-behind-log';

export interface PersisterSetup {
  dataDir: string;
  logDir: string;
  bootId: number;
  shardCount: number;
  fsync: boolean;
  /**
   * Shared views, allocated by the engine's SharedState: each shard's log
   * progress (PROGRESS_*), the control words ([CONTROL_WAKE] wake counter,
   * [CONTROL_COMMAND] command), and the event time of the newest record in
   * SQLite. Typed arrays over SharedArrayBuffers reach the worker as views on
   * the same memory.
   */
  progress: Int32Array;
  control: Int32Array;
  appliedTime: Float64Array;
  /** The offset of the newest event committed to SQLite, for the main thread's readers of the stream. */
  eventsHead: Float64Array;
}

export const CONTROL_WAKE = 0;
export const CONTROL_COMMAND = 1;
export const COMMAND_DRAIN = 1;

interface Cursor {
  segment: number;
  applied: number;
  fd: number;
}

/** The worker's side of persistence: follows every shard's log and applies it (persister.ts holds the handle). */
class LogFollower {
  private readonly db;
  private readonly applier: LogApplier;
  private readonly progress: Int32Array;
  private readonly cursors: Cursor[];
  private readonly buffer = Buffer.alloc(PERSIST_BATCH_RECORDS_MAX * LOG_RECORD_BYTES);
  private readonly appliedTime: Float64Array;

  constructor(private readonly setup: PersisterSetup) {
    this.db = openDatabase(setup.dataDir, { fsync: setup.fsync });
    this.applier = new LogApplier(this.db);
    this.progress = setup.progress;
    this.cursors = Array.from({ length: setup.shardCount }, () => ({ segment: 1, applied: 0, fd: -1 }));
    this.appliedTime = setup.appliedTime;
    setup.eventsHead[0] = this.applier.lastEventSeq;
  }

  private fileOf(shard: number, segment: number): string {
    return segmentFileName(this.setup.bootId, shard, segment);
  }

  /** Applies what is new in every shard's log; true when anything was applied. */
  pass(): boolean {
    let moved = false;
    for (let shard = 0; shard < this.cursors.length; shard++) moved = this.follow(shard) || moved;
    return moved;
  }

  private follow(shard: number): boolean {
    const cursor = this.cursors[shard]!;
    const base = shard * PROGRESS_FIELDS;
    // Segment first, then count: the writer resets the count before it moves to a new segment.
    const writerSegment = Atomics.load(this.progress, base + PROGRESS_SEGMENT);
    const written = Atomics.load(this.progress, base + PROGRESS_RECORDS);
    if (writerSegment === 0) return false;
    const name = this.fileOf(shard, cursor.segment);
    if (cursor.fd === -1) cursor.fd = fs.openSync(path.join(this.setup.logDir, name), 'r');
    const finished = cursor.segment < writerSegment;
    const limit = finished ? Math.floor(fs.fstatSync(cursor.fd).size / LOG_RECORD_BYTES) : written;
    let moved = false;
    while (cursor.applied < limit) {
      const count = readRecords(cursor.fd, cursor.applied,
        Math.min(PERSIST_BATCH_RECORDS_MAX, limit - cursor.applied), this.buffer);
      assert.ok(count > 0, `log segment ${name} is shorter than its writer says`);
      this.applier.apply(name, this.buffer, count, cursor.applied);
      cursor.applied += count;
      moved = true;
    }
    Atomics.store(this.progress, base + PROGRESS_APPLIED_SEGMENT, cursor.segment);
    Atomics.store(this.progress, base + PROGRESS_APPLIED_RECORDS, cursor.applied);
    if (moved) {
      this.appliedTime[0] = this.applier.lastAppliedTimeMs;
      this.setup.eventsHead[0] = this.applier.lastEventSeq;
    }
    if (finished) {
      this.retire(shard, cursor);
      return true;
    }
    return moved;
  }

  /** Deletes a fully applied segment and moves the cursor to the next. */
  private retire(shard: number, cursor: Cursor): void {
    const name = this.fileOf(shard, cursor.segment);
    fs.closeSync(cursor.fd);
    fs.unlinkSync(path.join(this.setup.logDir, name));
    if (this.setup.fsync) fsyncDirectory(this.setup.logDir);
    this.applier.forget(name);
    cursor.segment++;
    cursor.applied = 0;
    cursor.fd = -1;
  }

  /** After the shards closed their logs: apply the rest, remove the segments, checkpoint. */
  drain(): number {
    while (this.pass()) { /* until nothing is left */ }
    for (let shard = 0; shard < this.cursors.length; shard++) {
      const cursor = this.cursors[shard]!;
      if (cursor.fd !== -1) this.retire(shard, cursor);
    }
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    this.db.close();
    return this.applier.recordsApplied;
  }

  get recordsApplied(): number {
    return this.applier.recordsApplied;
  }
}

function main(): void {
  assert.ok(parentPort, 'persister-worker runs only as a worker thread');
  const setup = workerData as PersisterSetup;
  const control = setup.control;
  const follower = new LogFollower(setup);
  parentPort.postMessage({ type: 'ready' });
  for (;;) {
    const wake = Atomics.load(control, CONTROL_WAKE);
    if (Atomics.load(control, CONTROL_COMMAND) === COMMAND_DRAIN) {
      const records = follower.drain();
      parentPort.postMessage({ type: 'drained', records });
      return;
    }
    if (!follower.pass()) Atomics.wait(control, CONTROL_WAKE, wake, PERSIST_POLL_MS);
  }
}

// Imported on the main thread for its types and constants; runs only as a worker.
if (!isMainThread) main();
