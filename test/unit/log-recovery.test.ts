// Proves that the write-behind log reaches SQLite exactly once, end to end in
// a temporary data directory: a segment written by WriteBehindLog (won, paid,
// cancelled and expired records for orders of two item rows) with a torn
// partial record appended is applied by catchUpLog into a fresh database,
// giving the right rows and states; the segment file and its log_applied row
// are gone afterwards, and a second catchUpLog changes nothing. Exactly-once
// is observed with SQLite triggers that count every row insert and update:
// applying from an offset already applied is refused, a catch-up after K
// records were applied by LogApplier applies only the rest, and a batch that
// fails half-way leaves neither rows nor bookkeeping behind.

import t, { type Test } from 'tap';
import { AssertionError } from 'node:assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LOG_BATCH_RECORDS_MAX, LOG_RECORD_BYTES } from '../../persistence/log-constants';
import { openDatabase, type Db } from '../../persistence/database';
import { LogApplier } from '../../persistence/log-applier';
import { logDirectory } from '../../persistence/data-directory';
import { ORDER_STATE, RECORD_TYPE } from '../../persistence/log-record';
import { orderIdOf } from '../../persistence/order-id';
import { catchUpLog } from '../../persistence/recovery';
import { PROGRESS_FIELDS, segmentFileName, WriteBehindLog } from '../../persistence/write-behind-log';

const BOOT_ID = 1_600_000_000_000;
const T0 = 1_700_000_000_000;
const PAY_MS = 900_000;

interface OrderRow {
  id: number; item_row: number; user_id: number; state: number; created_at: number; pay_by: number | null;
  updated_at: number;
}

function tempDataDir(t: Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flash-recovery-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Opens a database whose triggers count the order rows inserted and updated. */
function openCountingDatabase(t: Test, dataDir: string): Db {
  const db = openDatabase(dataDir, { fsync: false });
  t.teardown(() => db.close());
  db.exec(`CREATE TABLE test_writes (kind TEXT PRIMARY KEY, n INTEGER NOT NULL);
    INSERT INTO test_writes VALUES ('insert', 0), ('update', 0);
    CREATE TRIGGER test_count_insert AFTER INSERT ON orders BEGIN ` +
    `UPDATE test_writes SET n = n + 1 WHERE kind = 'insert'; END;
    CREATE TRIGGER test_count_update AFTER UPDATE ON orders BEGIN ` +
    `UPDATE test_writes SET n = n + 1 WHERE kind = 'update'; END;`);
  return db;
}

function writes(db: Db): { insert: number; update: number } {
  const rows = db.prepare('SELECT kind, n FROM test_writes').all() as Array<{ kind: 'insert' | 'update'; n: number }>;
  return Object.fromEntries(rows.map((r) => [r.kind, r.n])) as { insert: number; update: number };
}

function orders(db: Db): OrderRow[] {
  return db.prepare('SELECT id, item_row, user_id, state, created_at, pay_by, updated_at FROM orders ORDER BY id')
    .all() as OrderRow[];
}

function logApplied(db: Db): Array<{ segment: string; records: number }> {
  return db.prepare('SELECT * FROM log_applied').all() as Array<{ segment: string; records: number }>;
}

/**
 * Writes the sale history below with WriteBehindLog (two batches), closes the
 * log and returns the segment's path. 10 records: 6 wins, 4 updates.
 *
 *   row 1 (reserve): seq 1 user 11 won, paid | seq 2 user 12 won, cancelled | seq 3 user 13 won, expired
 *   row 2 (order):   seq 1 user 21 won       | seq 2 user 11 won            | seq 3 user 22 won, reserved only
 */
function writeSale(logDir: string): string {
  const log = new WriteBehindLog(logDir, BOOT_ID, 0, false, new Int32Array(new SharedArrayBuffer(PROGRESS_FIELDS * 4)));
  const won = (row: number, seq: number, user: number, at: number, reserve: boolean): void =>
    log.append(RECORD_TYPE.won, reserve ? ORDER_STATE.reserved : ORDER_STATE.confirmed, orderIdOf(row, seq), user, at,
      reserve ? at + PAY_MS : 0, at);
  won(1, 1, 11, T0 + 1, true);
  won(1, 2, 12, T0 + 2, true);
  won(1, 3, 13, T0 + 3, true);
  won(2, 1, 21, T0 + 4, false);
  log.flush();
  won(2, 2, 11, T0 + 5, false);
  log.append(RECORD_TYPE.paid, ORDER_STATE.paid, orderIdOf(1, 1), 11, T0 + 100, T0 + 1 + PAY_MS, T0 + 1);
  log.append(RECORD_TYPE.cancelled, ORDER_STATE.cancelled, orderIdOf(1, 2), 12, T0 + 200, T0 + 2 + PAY_MS, T0 + 2);
  log.append(RECORD_TYPE.expired, ORDER_STATE.expired, orderIdOf(1, 3), 13, T0 + 3 + PAY_MS, T0 + 3 + PAY_MS, T0 + 3);
  won(1, 4, 22, T0 + 300, true);
  log.append(RECORD_TYPE.paid, ORDER_STATE.paid, orderIdOf(1, 4), 22, T0 + 400, T0 + 300 + PAY_MS, T0 + 300);
  log.close();
  return path.join(logDir, segmentFileName(BOOT_ID, 0, 1));
}
const SALE_RECORDS = 10;
const SALE_WINS = 6;

const EXPECTED_ORDERS: OrderRow[] = [
  { id: orderIdOf(1, 1), item_row: 1, user_id: 11, state: ORDER_STATE.paid, created_at: T0 + 1,
    pay_by: T0 + 1 + PAY_MS, updated_at: T0 + 100 },
  { id: orderIdOf(1, 2), item_row: 1, user_id: 12, state: ORDER_STATE.cancelled, created_at: T0 + 2,
    pay_by: T0 + 2 + PAY_MS, updated_at: T0 + 200 },
  { id: orderIdOf(1, 3), item_row: 1, user_id: 13, state: ORDER_STATE.expired, created_at: T0 + 3,
    pay_by: T0 + 3 + PAY_MS, updated_at: T0 + 3 + PAY_MS },
  { id: orderIdOf(1, 4), item_row: 1, user_id: 22, state: ORDER_STATE.paid, created_at: T0 + 300,
    pay_by: T0 + 300 + PAY_MS, updated_at: T0 + 400 },
  { id: orderIdOf(2, 1), item_row: 2, user_id: 21, state: ORDER_STATE.confirmed, created_at: T0 + 4,
    pay_by: null, updated_at: T0 + 4 },
  { id: orderIdOf(2, 2), item_row: 2, user_id: 11, state: ORDER_STATE.confirmed, created_at: T0 + 5,
    pay_by: null, updated_at: T0 + 5 },
];

t.test('catchUpLog applies a segment with a torn tail, deletes it, and a second run is a no-op', async (t) => {
  const dataDir = tempDataDir(t);
  const logDir = logDirectory(dataDir);
  const segment = writeSale(logDir);
  t.equal(fs.statSync(segment).size, SALE_RECORDS * LOG_RECORD_BYTES);
  const tornBytes = 30;
  fs.appendFileSync(segment, fs.readFileSync(segment).subarray(0, tornBytes)); // the start of an 11th record
  const db = openCountingDatabase(t, dataDir);
  t.same(orders(db), [], 'the database starts empty');

  const report = catchUpLog(db, logDir, false);
  t.same(report, { segments: 1, recordsApplied: SALE_RECORDS, tornBytes });
  t.same(orders(db), EXPECTED_ORDERS, 'every order has its final state, times and item row');
  t.same(writes(db), { insert: SALE_WINS, update: SALE_RECORDS - SALE_WINS }, 'each record was applied once');
  t.notOk(fs.existsSync(segment), 'the segment file is deleted');
  t.same(fs.readdirSync(logDir), [], 'the log directory is empty');
  t.same(logApplied(db), [], 'log_applied has no row for the deleted segment');

  const again = catchUpLog(db, logDir, true);
  t.same(again, { segments: 0, recordsApplied: 0, tornBytes: 0 }, 'a second catch-up finds nothing');
  t.same(orders(db), EXPECTED_ORDERS, 'and changes no row');
  t.same(writes(db), { insert: SALE_WINS, update: SALE_RECORDS - SALE_WINS });
});

t.test('catchUpLog ignores files in the log directory that are not segments', async (t) => {
  const dataDir = tempDataDir(t);
  const logDir = logDirectory(dataDir);
  writeSale(logDir);
  fs.writeFileSync(path.join(logDir, 'notes.txt'), 'not a segment');
  const db = openCountingDatabase(t, dataDir);
  t.same(catchUpLog(db, logDir, false), { segments: 1, recordsApplied: SALE_RECORDS, tornBytes: 0 });
  t.same(fs.readdirSync(logDir), ['notes.txt'], 'the other file is left alone');
});

t.test('catchUpLog resumes a segment after the records LogApplier already applied, applying the rest once',
  async (t) => {
  for (const applied of [1, 4, SALE_RECORDS - 1, SALE_RECORDS]) {
    const dataDir = tempDataDir(t);
    const logDir = logDirectory(dataDir);
    const segment = writeSale(logDir);
    const name = path.basename(segment);
    const bytes = fs.readFileSync(segment);
    const db = openCountingDatabase(t, dataDir);
    const applier = new LogApplier(db);
    applier.apply(name, bytes.subarray(0, applied * LOG_RECORD_BYTES), applied, 0);
    t.equal(applier.appliedRecords(name), applied, `${applied} records recorded as applied`);
    t.equal(applier.recordsApplied, applied);
    const before = writes(db);
    const report = catchUpLog(db, logDir, false);
    t.equal(report.recordsApplied, SALE_RECORDS - applied,
      `after ${applied}, catch-up applies only the other ${SALE_RECORDS - applied}`);
    const after = writes(db);
    t.equal(after.insert + after.update - before.insert - before.update, SALE_RECORDS - applied,
      'and the database saw exactly that many writes');
    t.same(writes(db), { insert: SALE_WINS, update: SALE_RECORDS - SALE_WINS }, 'every record was applied once in all');
    t.same(orders(db), EXPECTED_ORDERS);
    t.same(logApplied(db), []);
  }
});

t.test('LogApplier refuses to apply records from an offset that is not where it stopped', async (t) => {
  const dataDir = tempDataDir(t);
  const segment = writeSale(logDirectory(dataDir));
  const name = path.basename(segment);
  const bytes = fs.readFileSync(segment);
  const db = openCountingDatabase(t, dataDir);
  const applier = new LogApplier(db);
  t.throws(() => applier.apply(name, bytes.subarray(4 * LOG_RECORD_BYTES), 2, 4), AssertionError,
    'a gap before the first record is refused');
  applier.apply(name, bytes, 4, 0);
  t.throws(() => applier.apply(name, bytes, 4, 0), AssertionError, 'the same records a second time are refused');
  t.throws(() => applier.apply(name, bytes.subarray(2 * LOG_RECORD_BYTES), 2, 2), AssertionError,
    'an overlap is refused');
  t.same(writes(db), { insert: 4, update: 0 }, 'the refused calls wrote nothing');
  t.equal(applier.appliedRecords(name), 4);
  t.equal(applier.recordsApplied, 4);
  applier.apply(name, bytes.subarray(4 * LOG_RECORD_BYTES), SALE_RECORDS - 4, 4);
  t.equal(applier.appliedRecords(name), SALE_RECORDS, 'applying from where it stopped is accepted');
  t.same(orders(db), EXPECTED_ORDERS);
  t.throws(() => applier.apply(name, bytes, 0, SALE_RECORDS), AssertionError, 'a count of 0 is refused');
  t.throws(() => applier.apply(name, bytes.subarray(0, 2 * LOG_RECORD_BYTES), 3, SALE_RECORDS), AssertionError,
    'a count past the bytes given is refused');
  applier.forget(name);
  t.equal(applier.appliedRecords(name), 0, 'forget drops the segment\'s bookkeeping');
});

t.test('a batch that fails part-way is rolled back whole, rows and bookkeeping alike', async (t) => {
  const dataDir = tempDataDir(t);
  const segment = writeSale(logDirectory(dataDir));
  const name = path.basename(segment);
  const bytes = Buffer.from(fs.readFileSync(segment));
  const db = openCountingDatabase(t, dataDir);
  const applier = new LogApplier(db);
  // Record 5 (the paid of row 1 seq 1) without record 0 (its win): the update finds no order.
  const orphan = bytes.subarray(LOG_RECORD_BYTES, 6 * LOG_RECORD_BYTES);
  t.throws(() => applier.apply(name, orphan, 5, 0), AssertionError,
    'an update of an order not in the database fails an assertion');
  t.same(orders(db), [], 'the wins before it in the batch were rolled back');
  t.same(logApplied(db), [], 'and so was the count of applied records');
  t.equal(applier.recordsApplied, 0);
  const corrupt = Buffer.from(bytes.subarray(0, 3 * LOG_RECORD_BYTES));
  corrupt[2 * LOG_RECORD_BYTES + 10]! ^= 1;
  t.throws(() => applier.apply(name, corrupt, 3, 0), AssertionError,
    'a record failing its checksum fails an assertion');
  t.same(orders(db), [], 'nothing of that batch stays either');
  applier.apply(name, bytes, SALE_RECORDS, 0);
  t.same(orders(db), EXPECTED_ORDERS, 'the good segment still applies from record 0');
});

t.test('catchUpLog refuses a database that claims more records than the segment holds, and keeps the file',
  async (t) => {
  const dataDir = tempDataDir(t);
  const logDir = logDirectory(dataDir);
  const segment = writeSale(logDir);
  const db = openCountingDatabase(t, dataDir);
  db.prepare('INSERT INTO log_applied (segment, records) VALUES (?, ?)').run(path.basename(segment), SALE_RECORDS + 1);
  t.throws(() => catchUpLog(db, logDir, false), /database says 11 records applied but only 10 are in the file/);
  t.ok(fs.existsSync(segment), 'the segment is kept for a person to look at');
  t.same(writes(db), { insert: 0, update: 0 });
});

t.test('catchUpLog refuses a segment corrupt before its last batch, applying nothing and keeping the file',
  async (t) => {
  const dataDir = tempDataDir(t);
  const logDir = logDirectory(dataDir);
  const log = new WriteBehindLog(logDir, BOOT_ID, 0, false, new Int32Array(new SharedArrayBuffer(PROGRESS_FIELDS * 4)));
  const count = LOG_BATCH_RECORDS_MAX + 5;
  for (let sequence = 1; sequence <= count; sequence++) {
    log.append(RECORD_TYPE.won, ORDER_STATE.confirmed, orderIdOf(1, sequence), sequence, T0, 0, T0);
  }
  log.close();
  const segment = path.join(logDir, segmentFileName(BOOT_ID, 0, 1));
  const fd = fs.openSync(segment, 'r+');
  fs.writeSync(fd, Buffer.from([0xff]), 0, 1, 2 * LOG_RECORD_BYTES + 30); // record 2 of LOG_BATCH_RECORDS_MAX + 5
  fs.closeSync(fd);
  const db = openCountingDatabase(t, dataDir);
  t.throws(() => catchUpLog(db, logDir, false), /corrupt at record 2/);
  t.ok(fs.existsSync(segment), 'the segment is kept');
  t.same(writes(db), { insert: 0, update: 0 }, 'not even the good records before the bad one were applied');
});

t.test('catchUpLog applies several segments of several shards, each once', async (t) => {
  const dataDir = tempDataDir(t);
  const logDir = logDirectory(dataDir);
  const progress = new Int32Array(new SharedArrayBuffer(2 * PROGRESS_FIELDS * 4));
  const logs = [new WriteBehindLog(logDir, BOOT_ID, 0, false, progress),
    new WriteBehindLog(logDir, BOOT_ID, 1, false, progress)];
  // Shard 0 owns row 1, shard 1 owns row 2; a later boot pays an order of the earlier one.
  logs[0]!.append(RECORD_TYPE.won, ORDER_STATE.reserved, orderIdOf(1, 1), 5, T0, T0 + PAY_MS, T0);
  logs[1]!.append(RECORD_TYPE.won, ORDER_STATE.confirmed, orderIdOf(2, 1), 6, T0, 0, T0);
  for (const log of logs) log.close();
  const later = new WriteBehindLog(logDir, BOOT_ID + 1, 0, false, progress);
  later.append(RECORD_TYPE.paid, ORDER_STATE.paid, orderIdOf(1, 1), 5, T0 + 10, T0 + PAY_MS, T0);
  later.close();
  const db = openCountingDatabase(t, dataDir);
  t.same(catchUpLog(db, logDir, false), { segments: 3, recordsApplied: 3, tornBytes: 0 });
  t.same(orders(db).map((o) => [o.id, o.state]),
    [[orderIdOf(1, 1), ORDER_STATE.paid], [orderIdOf(2, 1), ORDER_STATE.confirmed]],
    'the later boot\'s segment was applied after the earlier one');
  t.same(fs.readdirSync(logDir), []);
  t.same(logApplied(db), []);
});

t.test('hundreds of wins in one batch, with transitions of orders not yet inserted, land exactly once', async (t) => {
  const dataDir = tempDataDir(t);
  const logDir = logDirectory(dataDir);
  const log = new WriteBehindLog(logDir, BOOT_ID, 0, false, new Int32Array(new SharedArrayBuffer(PROGRESS_FIELDS * 4)));
  // 200 wins (more than three multi-row inserts), and after win 130 a pay of
  // win 129, which is still waiting in the multi-row buffer when it comes.
  for (let seq = 1; seq <= 200; seq++) {
    log.append(RECORD_TYPE.won, ORDER_STATE.reserved, orderIdOf(3, seq), 1000 + seq, T0 + seq, T0 + seq + PAY_MS,
      T0 + seq);
    if (seq === 130) {
      log.append(RECORD_TYPE.paid, ORDER_STATE.paid, orderIdOf(3, 129), 1129, T0 + 500, T0 + 129 + PAY_MS, T0 + 129);
    }
  }
  log.close();
  const db = openCountingDatabase(t, dataDir);
  const report = catchUpLog(db, logDir, false);
  t.equal(report.recordsApplied, 201);
  const rows = orders(db);
  t.equal(rows.length, 200, 'every win is a row');
  t.same(writes(db), { insert: 200, update: 1 }, 'each row inserted once, one update');
  t.equal(rows.find((r) => r.id === orderIdOf(3, 129))!.state, ORDER_STATE.paid, 'the pay reached its order');
  t.ok(rows.every((r, i) => r.id === orderIdOf(3, i + 1) && r.user_id === 1001 + i), 'rows in order with their users');
});

t.test('a won record\'s idempotency key reaches orders.idem_key, with the order; no key is NULL', async (t) => {
  const dataDir = tempDataDir(t);
  const logDir = logDirectory(dataDir);
  const progress = new Int32Array(new SharedArrayBuffer(PROGRESS_FIELDS * 4));
  const log = new WriteBehindLog(logDir, BOOT_ID, 0, false, progress);
  // More than one multi-row insert's worth, so both insert statements carry keys.
  for (let sequence = 1; sequence <= 70; sequence++) {
    log.append(RECORD_TYPE.won, ORDER_STATE.confirmed, orderIdOf(1, sequence), sequence, T0 + sequence, 0,
      T0 + sequence, sequence % 2 === 0 ? 2 ** 52 - sequence : 0);
  }
  log.append(RECORD_TYPE.cancelled, ORDER_STATE.cancelled, orderIdOf(1, 2), 2, T0 + 500, 0, T0 + 2);
  log.close();
  const db = openCountingDatabase(t, dataDir);
  t.same(catchUpLog(db, logDir, false), { segments: 1, recordsApplied: 71, tornBytes: 0 });
  const rows = db.prepare('SELECT id, idem_key, created_at, updated_at FROM orders ORDER BY id').all() as
    { id: number; idem_key: number | null; created_at: number; updated_at: number }[];
  t.equal(rows.length, 70);
  t.ok(rows.every((row, i) => row.idem_key === ((i + 1) % 2 === 0 ? 2 ** 52 - (i + 1) : null)),
    'each order has its buy\'s key, or NULL');
  t.ok(rows.every((row, i) => row.created_at === T0 + i + 1), 'a won record\'s time is its createdAt');
  t.equal(rows[1]!.updated_at, T0 + 500, 'a later transition keeps the key and updates the time');
  t.equal(rows[1]!.idem_key, 2 ** 52 - 2);
});
