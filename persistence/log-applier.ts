// Moves write-behind log records into SQLite: one transaction per batch,
// statements prepared once, and the count of applied records per segment
// updated in the same transaction, so that every record is applied exactly
// once whatever moment the process dies at. Used by the persistence worker
// while the engine runs and by start-up recovery for the unapplied tail.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import type Database from 'better-sqlite3';
import type { Db } from './database';
import { LOG_BATCH_RECORDS_MAX, LOG_RECORD_BYTES } from './log-constants';
import {
  decodeLeadingRecords, decodeRecord, emptyRecord, PLACE_STATE, RECORD_TYPE, type LogRecord,
} from './log-record';
import { itemRowOf, sequenceOf } from './order-id';
import { eventPlaceOf } from './outcome-events';

/**
 * Won orders are inserted this many rows per statement: one call into SQLite
 * for 64 rows instead of 64 calls. Measured here under a buy flood, the
 * persistence thread's CPU per order went from 1.0 to 0.7 µs, CPU that the
 * buy path gets back on a small machine.
 */
const INSERT_ROWS = 64;
const ORDER_COLUMNS = 8;
/** Columns of an `events` row, inserted INSERT_ROWS rows per statement as orders are. */
const EVENT_COLUMNS = 10;

export class LogApplier {
  private readonly insertOrder: Database.Statement;
  private readonly insertOrders: Database.Statement;
  /** Parameters of won orders waiting for a multi-row insert. */
  private readonly pendingRows = new Array<number | null>(INSERT_ROWS * ORDER_COLUMNS).fill(null);
  private pendingCount = 0;
  private readonly updateOrder: Database.Statement;
  private readonly insertPlace: Database.Statement;
  private readonly offerPlace: Database.Statement;
  private readonly dropPlace: Database.Statement;
  private readonly insertEntry: Database.Statement;
  private readonly setApplied: Database.Statement;
  private readonly getApplied: Database.Statement;
  private readonly deleteApplied: Database.Statement;
  private readonly record = emptyRecord();
  private readonly insertEvent: Database.Statement;
  private readonly insertEvents: Database.Statement;
  /** Parameters of events waiting for a multi-row insert. */
  private readonly pendingEvents = new Array<number | null>(INSERT_ROWS * EVENT_COLUMNS).fill(null);
  private pendingEventCount = 0;
  private readonly maxEventSeq: Database.Statement;
  /**
   * The offset of the newest event this applier committed (or found at
   * start). A transaction numbers its events from the table's newest in
   * `eventSeq`, read inside it, so another applier on the same database
   * (recovery before the worker) cannot make two events share an offset.
   */
  lastEventSeq: number;
  private eventSeq = 0;
  private firstEventSeq = 0;
  private readonly applyTransaction: Database.Transaction<
    (segment: string, bytes: Buffer, count: number, firstRecord: number) => void>;
  /** Records applied since this applier was made. */
  recordsApplied = 0;
  /** Event time of the newest record applied, epoch ms (0 before any). */
  lastAppliedTimeMs = 0;

  constructor(db: Db) {
    const columns = 'id, item_row, user_id, state, created_at, pay_by, updated_at, idem_key';
    const values = `(${Array.from({ length: ORDER_COLUMNS }, () => '?').join(', ')})`;
    this.insertOrder = db.prepare(`INSERT INTO orders (${columns}) VALUES ${values} ON CONFLICT(id) DO NOTHING`);
    this.insertOrders = db.prepare(`INSERT INTO orders (${columns})
      VALUES ${Array.from({ length: INSERT_ROWS }, () => values).join(', ')} ON CONFLICT(id) DO NOTHING`);
    this.updateOrder = db.prepare('UPDATE orders SET state = ?, updated_at = ? WHERE id = ?');
    this.insertPlace = db.prepare('INSERT INTO waitlist (item_row, place, user_id, joined_at) VALUES (?, ?, ?, ?) ' +
      'ON CONFLICT(item_row, place) DO NOTHING');
    this.offerPlace = db.prepare('UPDATE waitlist SET order_id = ? WHERE item_row = ? AND place = ?');
    this.dropPlace = db.prepare('UPDATE waitlist SET dropped_at = ? WHERE item_row = ? AND place = ?');
    this.insertEntry = db.prepare('INSERT INTO fair_entries ' +
      '(item_row, draw_at, entrant, user_id, entered_at, idem_key) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING');
    this.setApplied = db.prepare('INSERT INTO log_applied (segment, records) VALUES (?, ?) ' +
      'ON CONFLICT(segment) DO UPDATE SET records = excluded.records');
    this.getApplied = db.prepare('SELECT records FROM log_applied WHERE segment = ?');
    this.deleteApplied = db.prepare('DELETE FROM log_applied WHERE segment = ?');
    const eventColumns = 'seq, type, state, order_id, item_row, user_id, at, pay_by, created_at, place';
    const eventValues = `(${Array.from({ length: EVENT_COLUMNS }, () => '?').join(', ')})`;
    this.insertEvent = db.prepare(`INSERT INTO events (${eventColumns}) VALUES ${eventValues}`);
    this.insertEvents = db.prepare(`INSERT INTO events (${eventColumns})
      VALUES ${Array.from({ length: INSERT_ROWS }, () => eventValues).join(', ')}`);
    this.maxEventSeq = db.prepare('SELECT COALESCE(MAX(seq), 0) FROM events').pluck();
    this.lastEventSeq = this.maxEventSeq.get() as number;
    this.applyTransaction = db.transaction((segment: string, bytes: Buffer, count: number, firstRecord: number) => {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      this.eventSeq = this.maxEventSeq.get() as number;
      this.firstEventSeq = this.eventSeq;
      this.pendingEventCount = 0;
      for (let i = 0; i < count; i++) this.applyOne(view, bytes, i * LOG_RECORD_BYTES);
      this.insertPending();
      this.insertPendingEvents();
      this.setApplied.run(segment, firstRecord + count);
    });
  }

  appliedRecords(segment: string): number {
    const row = this.getApplied.get(segment) as { records: number } | undefined;
    return row ? row.records : 0;
  }

  /** Applies `count` records held in `bytes`, which are records firstRecord.. of `segment`. */
  apply(segment: string, bytes: Buffer, count: number, firstRecord: number): void {
    assert.ok(count > 0 && count * LOG_RECORD_BYTES <= bytes.length);
    assert.equal(this.appliedRecords(segment), firstRecord, 'log records must be applied in order, exactly once');
    // BEGIN IMMEDIATE: the transaction reads (the newest event) before it
    // writes, and a deferred one would take its snapshot at that read; if the
    // main thread wrote meanwhile (an admin's restock or pause), its first
    // write would fail SQLITE_BUSY_SNAPSHOT, which no busy timeout retries.
    // Taking the write lock first waits (busy_timeout) instead.
    this.applyTransaction.immediate(segment, bytes, count, firstRecord);
    // One event per record, numbered without a gap from the last commit.
    assert.equal(this.eventSeq, this.firstEventSeq + count, 'every applied record has one event');
    this.lastEventSeq = this.eventSeq;
    this.recordsApplied += count;
  }

  /** Inserts the won orders that did not fill a whole multi-row statement, one row at a time. */
  private insertPending(): void {
    const rows = this.pendingRows;
    for (let i = 0; i < this.pendingCount; i++) {
      const at = i * ORDER_COLUMNS;
      this.insertOrder.run(rows[at], rows[at + 1], rows[at + 2], rows[at + 3], rows[at + 4], rows[at + 5],
        rows[at + 6], rows[at + 7]);
    }
    this.pendingCount = 0;
  }

  /** Queues the event row of the record in `this.record`, numbered next; full statements go at once. */
  private addEvent(r: LogRecord): void {
    const rows = this.pendingEvents;
    let at = this.pendingEventCount * EVENT_COLUMNS;
    rows[at++] = ++this.eventSeq;
    rows[at++] = r.type;
    rows[at++] = r.state;
    rows[at++] = r.orderId;
    rows[at++] = itemRowOf(r.orderId);
    rows[at++] = r.userId;
    rows[at++] = r.timeMs;
    rows[at++] = r.payBy === 0 ? null : r.payBy;
    rows[at++] = r.createdAt;
    rows[at] = eventPlaceOf(r);
    if (++this.pendingEventCount === INSERT_ROWS) {
      this.insertEvents.run(rows);
      this.pendingEventCount = 0;
    }
  }

  /** Inserts the events that did not fill a whole multi-row statement, one row at a time. */
  private insertPendingEvents(): void {
    const rows = this.pendingEvents;
    for (let i = 0; i < this.pendingEventCount; i++) {
      this.insertEvent.run(rows.slice(i * EVENT_COLUMNS, (i + 1) * EVENT_COLUMNS));
    }
    this.pendingEventCount = 0;
  }

  /** Drops the bookkeeping of a segment whose file has been deleted. */
  forget(segment: string): void {
    this.deleteApplied.run(segment);
  }

  private applyOne(view: DataView, bytes: Buffer, offset: number): void {
    const r = this.record;
    // Records reach here only after a check, so a bad one is a bug or disk corruption.
    assert.ok(decodeRecord(view, bytes, offset, r), 'log record failed its checksum while being applied');
    if (r.timeMs > this.lastAppliedTimeMs) this.lastAppliedTimeMs = r.timeMs;
    this.addEvent(r);
    if (r.type === RECORD_TYPE.won) {
      const rows = this.pendingRows;
      let at = this.pendingCount * ORDER_COLUMNS;
      rows[at++] = r.orderId;
      rows[at++] = itemRowOf(r.orderId);
      rows[at++] = r.userId;
      rows[at++] = r.state;
      rows[at++] = r.createdAt;
      rows[at++] = r.payBy === 0 ? null : r.payBy;
      rows[at++] = r.timeMs;
      rows[at] = r.key === 0 ? null : r.key;
      if (++this.pendingCount === INSERT_ROWS) {
        this.insertOrders.run(rows);
        this.pendingCount = 0;
      }
      if (r.place > 0) this.applyOffer(r.orderId, r.place);
    } else if (r.type === RECORD_TYPE.waitlisted) {
      this.applyPlace(r.orderId, r.userId, r.state, r.timeMs);
    } else if (r.type === RECORD_TYPE.entered) {
      // An entry into a fair window (log-record.ts): row and entrant number where an order id would be.
      this.insertEntry.run(itemRowOf(r.orderId), r.payBy, sequenceOf(r.orderId), r.userId, r.timeMs,
        r.key === 0 ? null : r.key);
    } else {
      // The order may be among the rows not inserted yet.
      this.insertPending();
      const result = this.updateOrder.run(r.state, r.timeMs, r.orderId);
      assert.equal(result.changes, 1, `log record changes order ${r.orderId}, which is not in the database`);
    }
  }

  /** A waitlist offer: its order is inserted with this transaction, and the place it went to says so. */
  private applyOffer(orderId: number, place: number): void {
    const result = this.offerPlace.run(orderId, itemRowOf(orderId), place);
    assert.equal(result.changes, 1, `waitlist offer ${orderId} names place ${place}, which is not in the database`);
  }

  /** A waitlisted record: `placeId` is orderIdOf(item row, place) (log-record.ts). */
  private applyPlace(placeId: number, userId: number, state: number, timeMs: number): void {
    const itemRow = itemRowOf(placeId);
    const place = sequenceOf(placeId);
    if (state === PLACE_STATE.waiting) {
      this.insertPlace.run(itemRow, place, userId, timeMs);
      return;
    }
    const result = this.dropPlace.run(timeMs, itemRow, place);
    assert.equal(result.changes, 1, `waitlist place ${place} of item row ${itemRow} is dropped, not in the database`);
  }
}

/** Reads up to `maxRecords` whole records from record `firstRecord` of a segment; returns how many were read. */
export function readRecords(fd: number, firstRecord: number, maxRecords: number, buffer: Buffer): number {
  const want = Math.min(maxRecords, Math.floor(buffer.length / LOG_RECORD_BYTES)) * LOG_RECORD_BYTES;
  let got = 0;
  while (got < want) {
    const n = fs.readSync(fd, buffer, got, want - got, firstRecord * LOG_RECORD_BYTES + got);
    if (n === 0) break;
    got += n;
  }
  return Math.floor(got / LOG_RECORD_BYTES);
}

export interface SegmentScan {
  /** Leading records that are whole and pass their checksum. */
  validRecords: number;
  /** Bytes after them: a torn last write, dropped at replay. */
  tornBytes: number;
}

/**
 * Finds how much of a segment file is good. Only the tail can be torn: one
 * write() of a batch interrupted by a crash. A bad record followed by a good
 * one is corruption, and start-up refuses to guess.
 */
export function scanSegment(bytes: Buffer): SegmentScan {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const record = emptyRecord();
  const whole = Math.floor(bytes.length / LOG_RECORD_BYTES);
  const valid = decodeLeadingRecords(bytes);
  // One batch is one write(); after power loss without --fsync its pages may
  // reach the disk out of order, so good records may follow a bad one inside
  // the last batch. None of that batch was acknowledged with --fsync on.
  const lastBatchStart = whole - LOG_BATCH_RECORDS_MAX;
  for (let later = valid + 1; later < whole; later++) {
    if (later >= lastBatchStart && valid >= lastBatchStart) break;
    if (decodeRecord(view, bytes, later * LOG_RECORD_BYTES, record)) {
      throw new Error(`log segment is corrupt at record ${valid} (a valid record follows at ${later}); ` +
        'not a torn tail');
    }
  }
  return { validRecords: valid, tornBytes: bytes.length - valid * LOG_RECORD_BYTES };
}
