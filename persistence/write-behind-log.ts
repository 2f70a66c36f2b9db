// The write-behind log of one shard: decided orders are appended to an
// in-memory batch, and the batch goes to the segment file in one write()
// before any answer about those orders leaves the process. A write() that has
// returned is in the kernel's page cache and survives the process dying by
// kill -9; with `fsync` on, each batch is also fdatasync'ed (group commit)
// and survives power loss.
//
// Segments are named <bootId>-<shard>-<segment>.wal so that names never repeat
// across boots. The shard is the only writer of its segments; it publishes
// its current segment number and the records written to it in `progress`, a
// SharedArrayBuffer the persistence worker reads to know what to apply.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fsyncDirectory } from './durable-file';
import { LOG_BATCH_RECORDS_MAX, LOG_RECORD_BYTES, LOG_SEGMENT_BYTES_MAX } from './log-constants';
import { encodeFields } from './log-record';

/**
 * Int32 slots per shard in the progress array: the shard writes the first
 * two, the persistence worker the last two (one writer per slot).
 */
export const PROGRESS_FIELDS = 4;
export const PROGRESS_SEGMENT = 0;
export const PROGRESS_RECORDS = 1;
export const PROGRESS_APPLIED_SEGMENT = 2;
export const PROGRESS_APPLIED_RECORDS = 3;

export function segmentFileName(bootId: number, shard: number, segment: number): string {
  return `${String(bootId).padStart(13, '0')}-${String(shard).padStart(3, '0')}-` +
    `${String(segment).padStart(6, '0')}.wal`;
}

export const SEGMENT_FILE = /^(\d{13})-(\d{3})-(\d{6})\.wal$/;

export class WriteBehindLog {
  private readonly batch = Buffer.alloc(LOG_BATCH_RECORDS_MAX * LOG_RECORD_BYTES);
  private readonly view = new DataView(this.batch.buffer, this.batch.byteOffset, this.batch.byteLength);
  private batchRecords = 0;
  private fd = -1;
  private segment = 0;
  private segmentRecords = 0;
  /** Records written to disk since start, for stats. */
  recordsWritten = 0;
  /** Batches written since start, for stats (records / batches = batching factor). */
  batchesWritten = 0;

  constructor(
    private readonly dir: string,
    private readonly bootId: number,
    private readonly shard: number,
    private readonly fsync: boolean,
    private readonly progress: Int32Array,
  ) {
    fs.mkdirSync(dir, { recursive: true });
    this.openSegment(1);
  }

  get pending(): number {
    return this.batchRecords;
  }

  get position(): { segment: string; records: number } {
    return { segment: segmentFileName(this.bootId, this.shard, this.segment), records: this.segmentRecords };
  }

  /**
   * Appends a record (log-record.ts); `key` is a won buy's idempotency key,
   * `place` a won waitlist offer's place, 0 for none and for other types.
   */
  append(type: number, state: number, orderId: number, userId: number, timeMs: number, payBy: number,
    createdAt: number, key = 0, place = 0): void {
    if (this.batchRecords === LOG_BATCH_RECORDS_MAX) this.flush();
    const offset = this.batchRecords * LOG_RECORD_BYTES;
    encodeFields(this.view, this.batch, offset, type, state, orderId, userId, timeMs, payBy, createdAt, key, place);
    this.batchRecords++;
  }

  /** Writes the batch in one write() (and fdatasync with --fsync). Call before answering. */
  flush(): void {
    if (this.batchRecords === 0) return;
    const bytes = this.batchRecords * LOG_RECORD_BYTES;
    let written = 0;
    while (written < bytes) written += fs.writeSync(this.fd, this.batch, written, bytes - written);
    if (this.fsync) fs.fdatasyncSync(this.fd);
    this.segmentRecords += this.batchRecords;
    this.recordsWritten += this.batchRecords;
    this.batchesWritten++;
    this.batchRecords = 0;
    Atomics.store(this.progress, this.shard * PROGRESS_FIELDS + PROGRESS_RECORDS, this.segmentRecords);
    if (this.segmentRecords * LOG_RECORD_BYTES >= LOG_SEGMENT_BYTES_MAX) this.openSegment(this.segment + 1);
  }

  close(): void {
    this.flush();
    if (this.fd !== -1) fs.closeSync(this.fd);
    this.fd = -1;
  }

  private openSegment(segment: number): void {
    assert.equal(this.batchRecords, 0);
    const file = path.join(this.dir, segmentFileName(this.bootId, this.shard, segment));
    const fd = fs.openSync(file, 'wx');
    if (this.fsync) fsyncDirectory(this.dir);
    if (this.fd !== -1) fs.closeSync(this.fd);
    this.fd = fd;
    this.segment = segment;
    this.segmentRecords = 0;
    // The persistence worker reads the record count after the segment number
    // changes, so the count is reset first.
    Atomics.store(this.progress, this.shard * PROGRESS_FIELDS + PROGRESS_RECORDS, 0);
    Atomics.store(this.progress, this.shard * PROGRESS_FIELDS + PROGRESS_SEGMENT, segment);
  }
}
