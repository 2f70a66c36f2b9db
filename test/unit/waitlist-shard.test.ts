// Proves the shard's waitlist decisions (shard.ts joinWaitlist,
// waitlistPlace, offerReturned) on a real write-behind log and a real SQLite
// database, with an injected clock: a join is taken only while the item is
// sold out and gives places 1, 2, 3 ... with one record each; a unit that
// comes back (cancel, expiry, restock) becomes a new reservation of the
// first waiting place, with a pay window of its own, and never reaches
// `left` while anyone waits; a place whose user holds the limit is dropped;
// after the end units go back to stock. Throughout, left + units held ==
// stock. Finally the log is applied to SQLite (as start-up does) and the
// book loaded from it must equal the one that made it: places, offers and
// drops survive a restart.

import t, { type Test } from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { OUTCOME } from '../../engine/error-catalog';
import { ItemBook, loadItemBook, SETTING, SETTING_FIELDS } from '../../engine/item-book';
import { COUNTER_FIELDS, emptyOrderView, OP, Shard } from '../../engine/shard';
import { PLACE_VIEW, WAITING, DROPPED } from '../../engine/waitlist-queue';
import { openDatabase, upsertItem, type Db, type StoredItem } from '../../persistence/database';
import type { ItemDefinition } from '../../persistence/item-definition';
import { decodeLeadingRecords, holdsUnit, ORDER_STATE, PLACE_STATE, RECORD_TYPE, type LogRecord }
  from '../../persistence/log-record';
import { orderIdOf } from '../../persistence/order-id';
import { catchUpLog } from '../../persistence/recovery';
import { PROGRESS_FIELDS, segmentFileName, WriteBehindLog } from '../../persistence/write-behind-log';

const T0 = 1_900_000_000_000;
const PAY_MS = 60_000;
const BOOT_ID = 1_800_000_000_000;

interface Rig {
  db: Db;
  item: StoredItem;
  book: ItemBook;
  shard: Shard;
  log: WriteBehindLog;
  left: Int32Array;
  served: Int32Array;
  settings: Float64Array;
  out: ReturnType<typeof emptyOrderView>;
  run(op: number, userId: number, argument: number, nowMs: number): number;
  /** Units held by the book's orders. */
  held(): number;
  records(): LogRecord[];
  /** Applies the log to SQLite as start-up does and loads the item's book again. */
  reload(): ItemBook;
}

function rig(t: Test, fields: Partial<ItemDefinition> = {}): Rig {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flash-waitlist-'));
  const logDir = path.join(dir, 'log');
  const db = openDatabase(dir, { fsync: false });
  const log = new WriteBehindLog(logDir, BOOT_ID, 0, false, new Int32Array(new SharedArrayBuffer(PROGRESS_FIELDS * 4)));
  t.teardown(() => {
    log.close();
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const definition: ItemDefinition = { id: 'drop', name: 'Drop', price: 1, stock: 2, perUserLimit: 1, startsAt: T0,
    endsAt: T0 + 3_600_000, mode: 'reserve', payWindowSec: PAY_MS / 1000, challenge: false, fairWindowMs: 0,
    waitlist: true,
    ...fields };
  const item: StoredItem = { ...definition, row: upsertItem(db, definition, T0) };
  const settings = new Float64Array(SETTING_FIELDS);
  const book = new ItemBook(item, 0, item.stock, settings);
  const left = new Int32Array(1);
  const served = new Int32Array(1);
  const shard = new Shard(0, [book], log, left, new Float64Array(COUNTER_FIELDS), undefined, served);
  const out = emptyOrderView();
  return {
    db, item, book, shard, log, left, served, settings, out,
    run: (op, userId, argument, nowMs) => shard.run(op, 0, userId, argument, nowMs, out),
    held() {
      let held = 0;
      for (let sequence = 1; sequence <= book.orderCount; sequence++) if (holdsUnit(book.orderState[sequence]!)) held++;
      return held;
    },
    records() {
      log.flush();
      const all: LogRecord[] = [];
      decodeLeadingRecords(fs.readFileSync(path.join(logDir, segmentFileName(BOOT_ID, 0, 1))),
        (record) => all.push({ ...record }));
      return all;
    },
    reload() {
      log.flush();
      catchUpLog(db, logDir, false);
      return loadItemBook(db, item, 0, new Float64Array(SETTING_FIELDS));
    },
  };
}

/** Sells the whole stock, one unit each to users 1, 2, ...; returns the time after. */
function sellOut(r: Rig, nowMs = T0): number {
  for (let user = 1; user <= r.item.stock; user++) {
    if (r.run(OP.buy, user, 0, nowMs) !== OUTCOME.ok) throw new Error(`buy ${user} refused`);
  }
  return nowMs;
}

t.test('a join is refused until the item sells out; then places 1, 2, 3 ... in order, one each', async (t) => {
  const r = rig(t);
  t.equal(r.run(OP.joinWaitlist, 10, 0, T0), OUTCOME.not_sold_out, 'stock 2 left: buy instead');
  r.run(OP.buy, 1, 0, T0);
  t.equal(r.run(OP.joinWaitlist, 10, 0, T0), OUTCOME.not_sold_out, 'at left 1 too');
  r.run(OP.buy, 2, 0, T0);
  t.equal(r.run(OP.joinWaitlist, 1, 0, T0), OUTCOME.limit_reached, 'a user holding the limit cannot wait for more');
  for (let user = 10; user < 15; user++) {
    const before = r.log.pending;
    t.equal(r.run(OP.joinWaitlist, user, 0, T0 + user), OUTCOME.ok);
    t.same([r.out.place, r.out.createdAt, r.out.state], [user - 9, user - 10, PLACE_VIEW.waiting],
      `user ${user}: place ${user - 9}, ${user - 10} ahead`);
    t.equal(r.log.pending - before, 1, 'one record per new place');
  }
  const before = r.log.pending;
  t.equal(r.run(OP.joinWaitlist, 12, 0, T0 + 99), OUTCOME.ok);
  t.same([r.out.place, r.out.createdAt], [3, 2], 'joining again answers the same place');
  t.equal(r.log.pending, before, 'and writes nothing');
  t.equal(r.run(OP.waitlistPlace, 14, 0, T0), OUTCOME.ok);
  t.same([r.out.place, r.out.createdAt, r.out.state], [5, 4, PLACE_VIEW.waiting]);
  t.equal(r.run(OP.waitlistPlace, 99, 0, T0), OUTCOME.not_waiting);
  t.equal(r.run(OP.joinWaitlist, 20, 0, r.item.endsAt), OUTCOME.ended);
  const places = r.records().filter((record) => record.type === RECORD_TYPE.waitlisted);
  t.same(places.map((record) => [record.orderId, record.userId, record.state, record.timeMs]),
    [10, 11, 12, 13, 14].map((user) => [orderIdOf(r.item.row, user - 9), user, PLACE_STATE.waiting, T0 + user]));
});

t.test('an item without a waitlist refuses the join', async (t) => {
  const r = rig(t, { waitlist: false });
  sellOut(r);
  t.equal(r.run(OP.joinWaitlist, 10, 0, T0), OUTCOME.no_waitlist);
  t.equal(r.run(OP.waitlistPlace, 10, 0, T0), OUTCOME.not_waiting);
});

t.test('a cancel gives its unit to place 1 as a new reservation; left stays 0 while anyone waits', async (t) => {
  const r = rig(t);
  sellOut(r);
  r.run(OP.joinWaitlist, 10, 0, T0 + 1);
  r.run(OP.joinWaitlist, 11, 0, T0 + 2);
  const at = T0 + 5_000;
  t.equal(r.run(OP.cancel, 1, 1, at), OUTCOME.ok);
  t.equal(r.left[0], 0, 'the unit did not reach left');
  t.equal(r.book.orderCount, 3);
  t.same([r.book.orderUser[3], r.book.orderState[3], r.book.orderCreatedAt[3], r.book.orderPayBy[3]],
    [10, ORDER_STATE.reserved, at, at + PAY_MS], 'place 1\'s user holds a reservation with its own pay window');
  t.equal(r.served[0], 1, 'served is published');
  t.equal(r.run(OP.waitlistPlace, 10, 0, at), OUTCOME.ok);
  t.same([r.out.state, r.out.orderId, r.out.payBy, r.out.place], [PLACE_VIEW.offered, orderIdOf(r.item.row, 3),
    at + PAY_MS, 1]);
  t.equal(r.run(OP.waitlistPlace, 11, 0, at), OUTCOME.ok);
  t.same([r.out.state, r.out.createdAt], [PLACE_VIEW.waiting, 0], 'place 2 is now first');
  t.equal(r.left[0]! + r.held(), r.item.stock, 'left + held == stock');
  const tail = r.records().slice(-2);
  t.same(tail.map((record) => [record.type, record.state, record.orderId, record.place]), [
    [RECORD_TYPE.cancelled, ORDER_STATE.cancelled, orderIdOf(r.item.row, 1), 0],
    [RECORD_TYPE.won, ORDER_STATE.reserved, orderIdOf(r.item.row, 3), 1],
  ], 'the cancel\'s record, then the offer\'s, naming place 1');
  t.equal(r.run(OP.buy, 50, 0, at), OUTCOME.sold_out, 'a buyer who polls gets nothing');
});

t.test('an offer that expires passes to place 2; when nobody waits the unit goes back to left', async (t) => {
  const r = rig(t, { stock: 1 });
  sellOut(r);
  r.run(OP.joinWaitlist, 10, 0, T0);
  r.run(OP.joinWaitlist, 11, 0, T0);
  t.equal(r.shard.sweep(T0 + PAY_MS), 1, 'the buy\'s reservation expires');
  t.same([r.book.orderUser[2], r.left[0], r.served[0]], [10, 0, 1]);
  t.equal(r.shard.sweep(T0 + 2 * PAY_MS - 1), 0, 'the offer runs its own window');
  t.equal(r.shard.sweep(T0 + 2 * PAY_MS), 1);
  t.same([r.book.orderUser[3], r.book.orderPayBy[3], r.left[0], r.served[0]], [11, T0 + 3 * PAY_MS, 0, 2]);
  t.equal(r.run(OP.pay, 11, 3, T0 + 2 * PAY_MS + 1), OUTCOME.ok, 'the offered user pays');
  t.equal(r.run(OP.waitlistPlace, 10, 0, T0), OUTCOME.ok);
  t.same([r.out.state, r.out.orderId], [PLACE_VIEW.offered, orderIdOf(r.item.row, 2)], 'place 1 keeps its offer');
  const r2 = rig(t, { stock: 1 });
  sellOut(r2);
  r2.run(OP.joinWaitlist, 10, 0, T0);
  r2.shard.sweep(T0 + PAY_MS);
  r2.shard.sweep(T0 + 2 * PAY_MS);
  t.equal(r2.left[0], 1, 'the last offer expired with nobody waiting: the unit is for sale');
});

t.test('many reservations expiring in one sweep go to the places in order, each place once', async (t) => {
  const r = rig(t, { stock: 50 });
  sellOut(r);
  for (let user = 100; user < 130; user++) r.run(OP.joinWaitlist, user, 0, T0 + 1);
  t.equal(r.shard.sweep(T0 + PAY_MS), 50);
  t.equal(r.book.orderCount, 80, '30 offers');
  t.same(Array.from({ length: 30 }, (_, i) => r.book.orderUser[51 + i]), Array.from({ length: 30 }, (_, i) => 100 + i));
  t.same([r.left[0], r.held(), r.served[0]], [20, 30, 30]);
  for (let sequence = 2; sequence <= 80; sequence++) {
    t.ok(r.book.orderPayBy[sequence]! >= r.book.orderPayBy[sequence - 1]!, `payBy never decreases at ${sequence}`);
  }
  t.equal(r.shard.sweep(T0 + 2 * PAY_MS), 30, 'the offers expire in turn, and nobody waits any more');
  t.same([r.left[0], r.held()], [50, 0]);
});

t.test('a place whose user holds the limit by its turn is dropped, and the next place gets the unit', async (t) => {
  const r = rig(t, { stock: 2, perUserLimit: 2 });
  r.run(OP.buy, 1, 0, T0);
  r.run(OP.buy, 2, 0, T0);
  t.equal(r.run(OP.joinWaitlist, 1, 0, T0), OUTCOME.ok, 'user 1 holds 1 of 2: may wait');
  r.run(OP.joinWaitlist, 3, 0, T0);
  r.settings[SETTING.perUserLimit] = 1; // an admin lowered the limit between rounds
  t.equal(r.run(OP.cancel, 2, 2, T0 + 10), OUTCOME.ok);
  t.same([r.book.orderUser[3], r.served[0], r.left[0]], [3, 2, 0], 'place 2 got the unit');
  t.equal(r.run(OP.waitlistPlace, 1, 0, T0), OUTCOME.ok);
  t.equal(r.out.state, PLACE_VIEW.dropped);
  const last = r.records().slice(-2);
  t.same(last.map((record) => [record.type, record.state, record.orderId]), [
    [RECORD_TYPE.waitlisted, PLACE_STATE.dropped, orderIdOf(r.item.row, 1)],
    [RECORD_TYPE.won, ORDER_STATE.reserved, orderIdOf(r.item.row, 3)],
  ]);
});

t.test('a restock serves the waiting places first and puts the rest in left', async (t) => {
  const r = rig(t);
  sellOut(r);
  for (const user of [10, 11, 12]) r.run(OP.joinWaitlist, user, 0, T0);
  t.equal(r.run(OP.restock, 0, 5, T0 + 7), OUTCOME.ok);
  t.same([r.book.stock, r.left[0], r.held(), r.served[0]], [7, 2, 5, 3]);
  t.same([r.book.orderUser[3], r.book.orderUser[4], r.book.orderUser[5]], [10, 11, 12]);
  const r2 = rig(t);
  sellOut(r2);
  for (const user of [10, 11, 12]) r2.run(OP.joinWaitlist, user, 0, T0);
  r2.run(OP.restock, 0, 2, T0 + 7);
  t.same([r2.left[0], r2.served[0], r2.book.waitlist!.waiting], [0, 2, 1], 'fewer units than places: all offered');
});

t.test('after the end a unit that comes back goes to left, not to a place', async (t) => {
  const r = rig(t, { payWindowSec: 7200 });
  sellOut(r);
  r.run(OP.joinWaitlist, 10, 0, T0);
  t.equal(r.run(OP.cancel, 1, 1, r.item.endsAt), OUTCOME.ok);
  t.same([r.left[0], r.served[0], r.book.orderCount], [1, 0, 2]);
});

t.test('places, offers and drops are in SQLite after the log is applied, and a reload gives the same book',
  async (t) => {
  const r = rig(t, { stock: 3, perUserLimit: 2 });
  r.run(OP.buy, 1, 0, T0);
  r.run(OP.buy, 2, 0, T0);
  r.run(OP.buy, 3, 0, T0);
  for (const user of [1, 10, 11, 12, 13]) r.run(OP.joinWaitlist, user, 0, T0 + 1);
  r.settings[SETTING.perUserLimit] = 1;
  r.run(OP.cancel, 2, 2, T0 + 2); // place 1 (user 1) dropped, place 2 (user 10) offered
  r.run(OP.cancel, 3, 3, T0 + 3); // place 3 (user 11) offered
  r.settings[SETTING.perUserLimit] = 2;
  const book = r.reload();
  const queue = book.waitlist!;
  t.same([queue.count, queue.head, queue.served], [5, 4, 3]);
  t.same([1, 2, 3, 4, 5].map((place) => queue.outcomeOf(place)), [DROPPED, 4, 5, WAITING, WAITING]);
  t.same([1, 2, 3, 4, 5].map((place) => queue.userAt(place)), [1, 10, 11, 12, 13]);
  t.same([book.left, book.orderCount, book.orderUser[4], book.orderUser[5]], [0, 5, 10, 11]);
  t.equal(book.left + 3, book.stock, 'left + held == stock after the reload');
  const rows = r.db.prepare('SELECT place, user_id, order_id, dropped_at FROM waitlist ORDER BY place').raw().all();
  t.same(rows, [[1, 1, null, T0 + 2], [2, 10, orderIdOf(r.item.row, 4), null], [3, 11, orderIdOf(r.item.row, 5), null],
    [4, 12, null, null], [5, 13, null, null]]);
  const served = new Int32Array(1);
  new Shard(0, [book], r.log, new Int32Array(1), new Float64Array(COUNTER_FIELDS), undefined, served);
  t.equal(served[0], 3, 'a shard publishes the loaded served at start-up');
});
