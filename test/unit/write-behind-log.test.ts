// Proves the write-behind log on a real file in a temporary directory: appends
// stay in memory until flush, one flush is one batch holding every pending
// record (file size = records * 48), a flush with nothing pending writes
// nothing, a full batch is written early, the progress SharedArrayBuffer shows
// the segment and the records written in this shard's slots only, the
// segment rotates once it passes its size limit, and segment names never
// repeat. Also proves scanSegment's torn-tail rule (empty file, whole records,
// 1..47 stray bytes, a bad last record, a bad record inside the last batch,
// and a bad record followed by good ones further back than one batch, which
// must throw) and readRecords' partial reads.

import t, { type Test } from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LOG_BATCH_RECORDS_MAX, LOG_RECORD_BYTES, LOG_SEGMENT_BYTES_MAX } from '../../persistence/log-constants';
import { readRecords, scanSegment } from '../../persistence/log-applier';
import { decodeRecord, emptyRecord, encodeRecord, ORDER_STATE, RECORD_TYPE } from '../../persistence/log-record';
import { orderIdOf } from '../../persistence/order-id';
import {
  PROGRESS_FIELDS, PROGRESS_RECORDS, PROGRESS_SEGMENT, SEGMENT_FILE, segmentFileName, WriteBehindLog,
} from '../../persistence/write-behind-log';

const BOOT_ID = 1_700_000_000_000;

function tempDir(t: Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flash-wbl-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function progressArray(shards: number): Int32Array {
  return new Int32Array(new SharedArrayBuffer(shards * PROGRESS_FIELDS * 4));
}

function appendWon(log: WriteBehindLog, sequence: number): void {
  log.append(RECORD_TYPE.won, ORDER_STATE.confirmed, orderIdOf(1, sequence), 1000 + sequence, 5000 + sequence, 0,
    5000 + sequence);
}

/** A buffer of `count` valid records, each with a distinct order id. */
function segmentBytes(count: number, extraBytes = 0): Buffer {
  const bytes = Buffer.alloc(count * LOG_RECORD_BYTES + extraBytes);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const record = {
    type: RECORD_TYPE.won, state: ORDER_STATE.confirmed, orderId: 0, userId: 7, timeMs: 1, payBy: 0, createdAt: 1,
    key: 0, place: 0,
  };
  for (let i = 0; i < count; i++) {
    record.orderId = orderIdOf(3, i + 1);
    encodeRecord(view, bytes, i * LOG_RECORD_BYTES, record);
  }
  return bytes;
}

function corrupt(bytes: Buffer, recordIndex: number): void {
  bytes[recordIndex * LOG_RECORD_BYTES + 20]! ^= 0x40;
}

t.test('segment file names sort by boot, shard and segment and match SEGMENT_FILE', async (t) => {
  const name = segmentFileName(BOOT_ID, 7, 12);
  t.equal(name, '1700000000000-007-000012.wal');
  t.same(SEGMENT_FILE.exec(name)?.slice(1), ['1700000000000', '007', '000012']);
  t.notOk(SEGMENT_FILE.test(`${name}.tmp`), 'other files in the log directory are not segments');
  const names = [segmentFileName(BOOT_ID, 0, 10), segmentFileName(BOOT_ID, 0, 9), segmentFileName(BOOT_ID - 1, 5, 1)];
  t.same([...names].sort(),
    [segmentFileName(BOOT_ID - 1, 5, 1), segmentFileName(BOOT_ID, 0, 9), segmentFileName(BOOT_ID, 0, 10)]);
});

t.test('appends wait in memory; one flush writes them all in one batch', async (t) => {
  const dir = tempDir(t);
  const progress = progressArray(3);
  const log = new WriteBehindLog(dir, BOOT_ID, 1, false, progress);
  const file = path.join(dir, segmentFileName(BOOT_ID, 1, 1));
  t.equal(fs.statSync(file).size, 0, 'the first segment exists and is empty');
  t.same([...progress], [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0], 'shard 1 published segment 1 with 0 records');
  const count = 37;
  for (let sequence = 1; sequence <= count; sequence++) appendWon(log, sequence);
  t.equal(log.pending, count);
  t.equal(fs.statSync(file).size, 0, 'nothing is written before flush');
  t.equal(log.batchesWritten, 0);
  log.flush();
  t.equal(log.pending, 0);
  t.equal(fs.statSync(file).size, count * LOG_RECORD_BYTES, 'the file holds exactly the records');
  t.equal(log.batchesWritten, 1, 'one batch for one flush');
  t.equal(log.recordsWritten, count);
  t.equal(progress[1 * PROGRESS_FIELDS + PROGRESS_SEGMENT], 1);
  t.equal(progress[1 * PROGRESS_FIELDS + PROGRESS_RECORDS], count);
  t.same([...progress.subarray(0, PROGRESS_FIELDS)], [0, 0, 0, 0], 'shard 0\'s slots are untouched');
  t.same([...progress.subarray(2 * PROGRESS_FIELDS)], [0, 0, 0, 0], 'shard 2\'s slots are untouched');
  t.same(log.position, { segment: segmentFileName(BOOT_ID, 1, 1), records: count });

  const bytes = fs.readFileSync(file);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const record = emptyRecord();
  let good = 0;
  for (let i = 0; i < count; i++) {
    if (decodeRecord(view, bytes, i * LOG_RECORD_BYTES, record) && record.orderId === orderIdOf(1, i + 1) &&
      record.userId === 1001 + i && record.timeMs === 5001 + i && record.type === RECORD_TYPE.won) good++;
  }
  t.equal(good, count, 'every record on disk decodes to what was appended, in order');
  log.close();
});

t.test('a flush with nothing pending writes nothing and counts no batch', async (t) => {
  const dir = tempDir(t);
  const progress = progressArray(1);
  const log = new WriteBehindLog(dir, BOOT_ID, 0, false, progress);
  log.flush();
  t.equal(log.batchesWritten, 0, 'an empty log flushes no batch');
  appendWon(log, 1);
  appendWon(log, 2);
  log.flush();
  log.flush();
  log.flush();
  t.equal(log.batchesWritten, 1, 'flushes after the batch went out count nothing');
  t.equal(fs.statSync(path.join(dir, segmentFileName(BOOT_ID, 0, 1))).size, 2 * LOG_RECORD_BYTES);
  appendWon(log, 3);
  log.flush();
  t.equal(log.batchesWritten, 2, 'a second batch is a second write');
  t.equal(progress[PROGRESS_RECORDS], 3);
  t.equal(fs.statSync(path.join(dir, segmentFileName(BOOT_ID, 0, 1))).size, 3 * LOG_RECORD_BYTES,
    'batches are appended, not overwritten');
  log.close();
});

t.test('a full batch is written early when one more record is appended', async (t) => {
  const dir = tempDir(t);
  const log = new WriteBehindLog(dir, BOOT_ID, 0, false, progressArray(1));
  for (let sequence = 1; sequence <= LOG_BATCH_RECORDS_MAX; sequence++) appendWon(log, sequence);
  t.equal(log.pending, LOG_BATCH_RECORDS_MAX, 'a batch of exactly LOG_BATCH_RECORDS_MAX stays pending');
  t.equal(log.batchesWritten, 0);
  appendWon(log, LOG_BATCH_RECORDS_MAX + 1);
  t.equal(log.batchesWritten, 1, 'record LOG_BATCH_RECORDS_MAX + 1 pushed the full batch out');
  t.equal(log.pending, 1);
  t.equal(fs.statSync(path.join(dir, segmentFileName(BOOT_ID, 0, 1))).size, LOG_BATCH_RECORDS_MAX * LOG_RECORD_BYTES);
  log.close();
  t.equal(log.batchesWritten, 2, 'close flushed the last record');
  t.equal(fs.statSync(path.join(dir, segmentFileName(BOOT_ID, 0, 1))).size,
    (LOG_BATCH_RECORDS_MAX + 1) * LOG_RECORD_BYTES);
});

t.test('with fsync on, flush still writes one batch and the records reach the file', async (t) => {
  const dir = tempDir(t);
  const log = new WriteBehindLog(dir, BOOT_ID, 0, true, progressArray(1));
  appendWon(log, 1);
  log.flush();
  t.equal(fs.statSync(path.join(dir, segmentFileName(BOOT_ID, 0, 1))).size, LOG_RECORD_BYTES);
  t.equal(log.batchesWritten, 1);
  log.close();
});

t.test('a second log for the same boot and shard refuses to reuse an existing segment name', async (t) => {
  const dir = tempDir(t);
  const log = new WriteBehindLog(dir, BOOT_ID, 0, false, progressArray(2));
  t.throws(() => new WriteBehindLog(dir, BOOT_ID, 0, false, progressArray(2)), { code: 'EEXIST' });
  const other = new WriteBehindLog(dir, BOOT_ID, 1, false, progressArray(2));
  t.pass('another shard of the same boot gets its own segment');
  other.close();
  log.close();
});

t.test('the segment rotates at the first flush that reaches LOG_SEGMENT_BYTES_MAX', async (t) => {
  const dir = tempDir(t);
  const progress = progressArray(1);
  const log = new WriteBehindLog(dir, BOOT_ID, 0, false, progress);
  const batchBytes = LOG_BATCH_RECORDS_MAX * LOG_RECORD_BYTES;
  const batchesToFill = Math.ceil(LOG_SEGMENT_BYTES_MAX / batchBytes);
  let sequence = 0;
  for (let batch = 0; batch < batchesToFill - 1; batch++) {
    for (let i = 0; i < LOG_BATCH_RECORDS_MAX; i++) appendWon(log, ++sequence);
    log.flush();
  }
  t.equal(progress[PROGRESS_SEGMENT], 1, 'still segment 1 one batch short of the limit');
  t.equal(progress[PROGRESS_RECORDS], sequence);
  for (let i = 0; i < LOG_BATCH_RECORDS_MAX; i++) appendWon(log, ++sequence);
  log.flush();
  const firstRecords = batchesToFill * LOG_BATCH_RECORDS_MAX;
  t.equal(sequence, firstRecords);
  t.equal(fs.statSync(path.join(dir, segmentFileName(BOOT_ID, 0, 1))).size, firstRecords * LOG_RECORD_BYTES,
    'segment 1 kept all its records');
  t.ok(firstRecords * LOG_RECORD_BYTES >= LOG_SEGMENT_BYTES_MAX, 'segment 1 passed the limit by less than one batch');
  t.ok((firstRecords - LOG_BATCH_RECORDS_MAX) * LOG_RECORD_BYTES < LOG_SEGMENT_BYTES_MAX);
  t.equal(progress[PROGRESS_SEGMENT], 2, 'progress shows segment 2');
  t.equal(progress[PROGRESS_RECORDS], 0, 'with no records yet');
  t.same(log.position, { segment: segmentFileName(BOOT_ID, 0, 2), records: 0 });
  t.equal(fs.statSync(path.join(dir, segmentFileName(BOOT_ID, 0, 2))).size, 0, 'segment 2 exists and is empty');
  appendWon(log, ++sequence);
  log.flush();
  t.equal(fs.statSync(path.join(dir, segmentFileName(BOOT_ID, 0, 2))).size, LOG_RECORD_BYTES,
    'the next record goes to segment 2');
  t.equal(progress[PROGRESS_RECORDS], 1);
  t.equal(log.recordsWritten, sequence);
  log.close();
});

t.test('scanSegment of an empty file finds no records and no torn bytes', async (t) => {
  t.same(scanSegment(Buffer.alloc(0)), { validRecords: 0, tornBytes: 0 });
});

t.test('scanSegment of whole good records keeps them all', async (t) => {
  t.same(scanSegment(segmentBytes(1)), { validRecords: 1, tornBytes: 0 });
  t.same(scanSegment(segmentBytes(250)), { validRecords: 250, tornBytes: 0 });
});

t.test('scanSegment drops a torn last record of every length from 1 to 47 bytes', async (t) => {
  const seven = segmentBytes(7);
  const wrong: number[] = [];
  for (let torn = 1; torn < LOG_RECORD_BYTES; torn++) {
    // Six whole records and the first `torn` bytes of a real seventh, as a torn write leaves them.
    const scan = scanSegment(seven.subarray(0, 6 * LOG_RECORD_BYTES + torn));
    if (scan.validRecords !== 6 || scan.tornBytes !== torn) wrong.push(torn);
  }
  t.same(wrong, [], 'every partial length is dropped and counted as torn bytes');
  t.same(scanSegment(segmentBytes(0, 47)), { validRecords: 0, tornBytes: 47 }, 'a file holding only a torn record');
});

t.test('scanSegment drops a last record that fails its checksum', async (t) => {
  const bytes = segmentBytes(10);
  corrupt(bytes, 9);
  t.same(scanSegment(bytes), { validRecords: 9, tornBytes: LOG_RECORD_BYTES });
  const zeros = segmentBytes(9, LOG_RECORD_BYTES + 10); // a zero-filled record and 10 stray zero bytes
  t.same(scanSegment(zeros), { validRecords: 9, tornBytes: LOG_RECORD_BYTES + 10 });
});

t.test('scanSegment treats a bad record followed by good ones inside the last batch as a torn tail', async (t) => {
  const bytes = segmentBytes(30);
  corrupt(bytes, 12);
  t.same(scanSegment(bytes), { validRecords: 12, tornBytes: 18 * LOG_RECORD_BYTES },
    'records from the bad one on are dropped');
});

t.test('scanSegment throws on a bad record followed by a good one further back than one batch', async (t) => {
  const extra = 10;
  const whole = LOG_BATCH_RECORDS_MAX + extra; // the last batch starts at record `extra`
  const early = segmentBytes(whole);
  corrupt(early, 3);
  t.throws(() => scanSegment(early), /corrupt at record 3 \(a valid record follows at 4\)/,
    'a bad record far from the tail');
  const justOutside = segmentBytes(whole);
  corrupt(justOutside, extra - 1);
  t.throws(() => scanSegment(justOutside), /corrupt at record 9/, 'a bad record one before the last batch');
  const firstOfBatch = segmentBytes(whole);
  corrupt(firstOfBatch, extra);
  t.same(scanSegment(firstOfBatch), { validRecords: extra, tornBytes: LOG_BATCH_RECORDS_MAX * LOG_RECORD_BYTES },
    'a bad first record of the last batch is a torn tail');
  const allBadAfter = segmentBytes(whole);
  for (let i = 3; i < whole; i++) corrupt(allBadAfter, i);
  t.same(scanSegment(allBadAfter), { validRecords: 3, tornBytes: (whole - 3) * LOG_RECORD_BYTES },
    'with no good record after it, a long bad tail is only dropped');
});

t.test('readRecords reads whole records from an offset, bounded by the buffer and maxRecords', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'segment.wal');
  const bytes = segmentBytes(10, 20);
  fs.writeFileSync(file, bytes);
  const fd = fs.openSync(file, 'r');
  t.teardown(() => fs.closeSync(fd));
  const buffer = Buffer.alloc(4 * LOG_RECORD_BYTES + 5);
  t.equal(readRecords(fd, 0, 100, buffer), 4, 'the buffer holds 4 whole records');
  t.same(buffer.subarray(0, 4 * LOG_RECORD_BYTES), bytes.subarray(0, 4 * LOG_RECORD_BYTES));
  t.equal(readRecords(fd, 2, 3, buffer), 3, 'maxRecords bounds the read');
  t.same(buffer.subarray(0, 3 * LOG_RECORD_BYTES), bytes.subarray(2 * LOG_RECORD_BYTES, 5 * LOG_RECORD_BYTES),
    'from record 2 on');
  t.equal(readRecords(fd, 8, 100, buffer), 2, 'the torn 20 bytes at the end are not a record');
  t.equal(readRecords(fd, 10, 100, buffer), 0, 'nothing whole after the last record');
  t.equal(readRecords(fd, 50, 100, buffer), 0, 'nothing past the end of the file');
});
