// Proves the shard's decisions on ItemBooks built from StoredItem literals,
// with a real WriteBehindLog in a temporary directory and an injected clock
// (every call passes nowMs): buys win until stock is gone and then get
// sold_out (tried at stock - 1, stock and stock + 1), the per-user limit
// gives ok up to the limit and limit_reached after it, a buy at or after
// endsAt gets ended; in reserve mode, paying before payBy works, paying at
// exactly payBy expires the order and returns its unit once, cancelling
// twice returns the unit once, the sweep expires each due reservation once,
// and the refusals between states (already_paid, cancelled, expired,
// not_reserved, unknown_order) hold. Throughout, the shared `left` array must
// mirror book.left, and every state change must append exactly one log
// record (checked on log.pending before flush, and on the decoded file after)
// while refusals and repeats append none.

import t, { type Test } from 'tap';
import { AssertionError } from 'node:assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LOG_RECORD_BYTES } from '../../persistence/log-constants';
import { OUTCOME } from '../../engine/error-catalog';
import { ItemBook } from '../../engine/item-book';
import { COUNTER, COUNTER_FIELDS, emptyOrderView, OP, Shard, type OrderView } from '../../engine/shard';
import type { StoredItem } from '../../persistence/database';
import { decodeLeadingRecords, ORDER_STATE, RECORD_TYPE, type LogRecord } from '../../persistence/log-record';
import { orderIdOf } from '../../persistence/order-id';
import { PROGRESS_FIELDS, segmentFileName, WriteBehindLog } from '../../persistence/write-behind-log';

const T0 = 1_900_000_000_000;
const HOUR_MS = 3_600_000;
const PAY_WINDOW_SEC = 60;
const PAY_MS = PAY_WINDOW_SEC * 1000;
const BOOT_ID = 1_800_000_000_000;
/** `left` slots the shard must not touch start at this value. */
const UNTOUCHED = -7;

function storedItem(fields: Partial<StoredItem> = {}): StoredItem {
  return {
    row: 5, id: 'phone', name: 'Phone', price: 100, stock: 3, perUserLimit: 1, startsAt: T0, endsAt: T0 + HOUR_MS,
    mode: 'order', payWindowSec: PAY_WINDOW_SEC, challenge: false, fairWindowMs: 0, ...fields,
  };
}

interface Rig {
  shard: Shard;
  books: ItemBook[];
  log: WriteBehindLog;
  left: Int32Array;
  counters: Float64Array;
  out: OrderView;
  dir: string;
  /** A counter summed over all items. */
  total(counter: number): number;
  /** Runs an op on item `local` and returns its outcome. */
  run(op: number, userId: number, sequence: number, nowMs: number, local?: number): number;
  /** Runs an op and returns how many log records it appended. */
  appended(op: number, userId: number, sequence: number, nowMs: number,
    local?: number): { outcome: number; records: number };
  /** Flushes the log and decodes every record in the segment. */
  records(): LogRecord[];
}

/** Builds a shard whose books sit at global indexes 2, 3, ... of an 8-slot `left` array. */
function rig(t: Test, items: StoredItem[]): Rig {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flash-shard-'));
  const log = new WriteBehindLog(dir, BOOT_ID, 0, false, new Int32Array(new SharedArrayBuffer(PROGRESS_FIELDS * 4)));
  t.teardown(() => {
    log.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const books = items.map((item, local) => new ItemBook(item, 2 + local, item.stock));
  const left = new Int32Array(8).fill(UNTOUCHED);
  const counters = new Float64Array(8 * COUNTER_FIELDS);
  const shard = new Shard(0, books, log, left, counters);
  const out = emptyOrderView();
  const run = (op: number, userId: number, sequence: number, nowMs: number, local = 0): number =>
    shard.run(op, local, userId, sequence, nowMs, out);
  return {
    shard, books, log, left, counters, out, dir, run,
    total(counter) {
      let sum = 0;
      for (let at = counter; at < counters.length; at += COUNTER_FIELDS) sum += counters[at]!;
      return sum;
    },
    appended(op, userId, sequence, nowMs, local = 0) {
      const before = log.pending;
      const outcome = run(op, userId, sequence, nowMs, local);
      return { outcome, records: log.pending - before };
    },
    records() {
      log.flush();
      const bytes = fs.readFileSync(path.join(dir, segmentFileName(BOOT_ID, 0, 1)));
      const all: LogRecord[] = [];
      const count = decodeLeadingRecords(bytes, (record) => all.push({ ...record }));
      if (count * LOG_RECORD_BYTES !== bytes.length) throw new Error(`record ${count} does not decode`);
      return all;
    },
  };
}

t.test('the shard publishes each book\'s stock into `left` at its global index and touches no other slot',
  async (t) => {
  const r = rig(t, [storedItem({ stock: 3 }), storedItem({ row: 6, id: 'cap', stock: 9 })]);
  t.same([...r.left], [UNTOUCHED, UNTOUCHED, 3, 9, UNTOUCHED, UNTOUCHED, UNTOUCHED, UNTOUCHED]);
  t.equal(r.run(OP.buy, 1, 0, T0, 1), OUTCOME.ok);
  t.same([...r.left], [UNTOUCHED, UNTOUCHED, 3, 8, UNTOUCHED, UNTOUCHED, UNTOUCHED, UNTOUCHED],
    'a buy of item 1 lowers only its slot');
  t.equal(r.out.orderId, orderIdOf(6, 1), 'the order id carries item 1\'s row');
});

t.test('buys win one unit each until stock runs out, then sold_out; each win appends one record', async (t) => {
  const stock = 3;
  const r = rig(t, [storedItem({ stock })]);
  const book = r.books[0]!;
  for (let user = 1; user <= stock; user++) {
    const { outcome, records } = r.appended(OP.buy, user, 0, T0 + user);
    t.equal(outcome, OUTCOME.ok, `buy ${user} of ${stock} wins`);
    t.equal(records, 1, `buy ${user} appended one record`);
    t.same({ ...r.out },
      { orderId: orderIdOf(5, user), userId: user, state: ORDER_STATE.confirmed, createdAt: T0 + user, payBy: 0,
        place: 0 });
    t.equal(book.left, stock - user);
    t.equal(r.left[2], book.left, '`left` mirrors book.left');
  }
  const refused = r.appended(OP.buy, stock + 1, 0, T0 + 10);
  t.equal(refused.outcome, OUTCOME.sold_out, `buy ${stock + 1} of ${stock} is sold_out`);
  t.equal(refused.records, 0, 'a refusal appends nothing');
  t.equal(r.run(OP.buy, 1, 0, T0 + 11), OUTCOME.sold_out, 'a holder at the limit is told sold_out, not limit_reached');
  t.equal(book.left, 0);
  t.equal(r.left[2], 0);
  t.equal(book.orderCount, stock, 'no order was made for the refusals');
  t.equal(r.total(COUNTER.won), stock);
  t.equal(r.total(COUNTER.soldOut), 2);
  t.equal(r.total(COUNTER.limitReached), 0);
  t.same(r.records().map((rec) => [rec.type, rec.state, rec.orderId, rec.userId, rec.timeMs, rec.payBy, rec.createdAt]),
    [1, 2, 3].map((u) => [RECORD_TYPE.won, ORDER_STATE.confirmed, orderIdOf(5, u), u, T0 + u, 0, T0 + u]),
    'the file holds the three wins');
});

t.test('an item with stock 0 refuses the first buy as sold_out', async (t) => {
  const r = rig(t, [storedItem({ stock: 0 })]);
  t.equal(r.left[2], 0);
  t.same(r.appended(OP.buy, 1, 0, T0), { outcome: OUTCOME.sold_out, records: 0 });
});

t.test('with perUserLimit 2 a user gets ok, ok, then limit_reached; other users are unaffected', async (t) => {
  const r = rig(t, [storedItem({ stock: 10, perUserLimit: 2 })]);
  t.same(r.appended(OP.buy, 7, 0, T0), { outcome: OUTCOME.ok, records: 1 }, 'limit - 1');
  t.same(r.appended(OP.buy, 7, 0, T0), { outcome: OUTCOME.ok, records: 1 }, 'limit');
  t.same(r.appended(OP.buy, 7, 0, T0), { outcome: OUTCOME.limit_reached, records: 0 }, 'limit + 1');
  t.equal(r.books[0]!.holdings.get(7), 2);
  t.equal(r.run(OP.buy, 7 + 2 ** 32, 0, T0), OUTCOME.ok, 'a user differing only above bit 32 has his own count');
  t.equal(r.run(OP.buy, 8, 0, T0), OUTCOME.ok);
  t.equal(r.books[0]!.left, 6);
  t.equal(r.left[2], 6);
  t.equal(r.total(COUNTER.limitReached), 1);
  t.equal(r.total(COUNTER.won), 4);
});

t.test('a buy before endsAt wins; at endsAt and after it gets ended and changes nothing', async (t) => {
  const r = rig(t, [storedItem({ stock: 5 })]);
  const endsAt = T0 + HOUR_MS;
  t.equal(r.run(OP.buy, 1, 0, endsAt - 1), OUTCOME.ok, 'one millisecond before endsAt');
  t.same(r.appended(OP.buy, 2, 0, endsAt), { outcome: OUTCOME.ended, records: 0 }, 'exactly at endsAt');
  t.same(r.appended(OP.buy, 3, 0, endsAt + 1), { outcome: OUTCOME.ended, records: 0 }, 'after endsAt');
  t.equal(r.books[0]!.left, 4);
  t.equal(r.left[2], 4);
  t.equal(r.total(COUNTER.won), 1);
  t.equal(r.total(COUNTER.soldOut) + r.total(COUNTER.limitReached), 0, 'ended is neither sold out nor a limit');
});

t.test('reserve mode: a buy reserves with payBy = now + pay window, and paying before payBy makes it paid',
  async (t) => {
  const r = rig(t, [storedItem({ mode: 'reserve', stock: 2 })]);
  t.same(r.appended(OP.buy, 1, 0, T0), { outcome: OUTCOME.ok, records: 1 });
  t.same({ ...r.out },
    { orderId: orderIdOf(5, 1), userId: 1, state: ORDER_STATE.reserved, createdAt: T0, payBy: T0 + PAY_MS,
      place: 0 });
  t.equal(r.left[2], 1, 'a reservation holds a unit');
  t.same(r.appended(OP.pay, 1, 1, T0 + PAY_MS - 1), { outcome: OUTCOME.ok, records: 1 },
    'pay one millisecond before payBy');
  t.equal(r.out.state, ORDER_STATE.paid);
  t.equal(r.out.payBy, T0 + PAY_MS, 'payBy is kept');
  t.same(r.appended(OP.pay, 1, 1, T0 + PAY_MS + 5), { outcome: OUTCOME.ok, records: 0 },
    'paying again, even after payBy, answers the paid order and appends nothing');
  t.equal(r.out.state, ORDER_STATE.paid);
  t.equal(r.shard.sweep(T0 + 10 * PAY_MS), 0, 'a paid order never expires');
  t.equal(r.left[2], 1, 'the paid order keeps its unit');
  t.same(r.appended(OP.cancel, 1, 1, T0 + PAY_MS + 6), { outcome: OUTCOME.already_paid, records: 0 },
    'a paid order cannot be cancelled');
  t.equal(r.left[2], 1);
  t.equal(r.total(COUNTER.paid), 1);
  t.same(r.records().map((rec) => [rec.type, rec.state, rec.timeMs, rec.payBy, rec.createdAt]), [
    [RECORD_TYPE.won, ORDER_STATE.reserved, T0, T0 + PAY_MS, T0],
    [RECORD_TYPE.paid, ORDER_STATE.paid, T0 + PAY_MS - 1, T0 + PAY_MS, T0],
  ]);
});

t.test('reserve mode: paying at exactly payBy gets expired and returns the unit once', async (t) => {
  const r = rig(t, [storedItem({ mode: 'reserve', stock: 2 })]);
  r.run(OP.buy, 1, 0, T0);
  const book = r.books[0]!;
  t.equal(book.left, 1);
  t.same(r.appended(OP.pay, 1, 1, T0 + PAY_MS), { outcome: OUTCOME.expired, records: 1 },
    'pay at payBy expires the order, one record');
  t.equal(book.left, 2, 'the unit came back');
  t.equal(r.left[2], 2);
  t.equal(book.holdings.get(1), 0, 'the user no longer holds it');
  t.same(r.appended(OP.pay, 1, 1, T0 + PAY_MS + 1), { outcome: OUTCOME.expired, records: 0 },
    'paying again is still expired');
  t.same(r.appended(OP.cancel, 1, 1, T0 + PAY_MS + 2), { outcome: OUTCOME.expired, records: 0 },
    'cancelling an expired order is expired');
  t.equal(r.shard.sweep(T0 + 2 * PAY_MS), 0, 'the sweep finds nothing more to expire');
  t.equal(book.left, 2, 'the unit came back exactly once');
  t.equal(r.total(COUNTER.expired), 1);
  t.equal(r.run(OP.getOrder, 1, 1, T0 + PAY_MS + 3), OUTCOME.ok);
  t.equal(r.out.state, ORDER_STATE.expired, 'the order reads expired');
  t.same(r.records().map((rec) => [rec.type, rec.state, rec.timeMs]), [
    [RECORD_TYPE.won, ORDER_STATE.reserved, T0],
    [RECORD_TYPE.expired, ORDER_STATE.expired, T0 + PAY_MS],
  ]);
});

t.test('reserve mode: cancelling at exactly payBy expires the order instead', async (t) => {
  const r = rig(t, [storedItem({ mode: 'reserve', stock: 1 })]);
  r.run(OP.buy, 1, 0, T0);
  t.same(r.appended(OP.cancel, 1, 1, T0 + PAY_MS), { outcome: OUTCOME.expired, records: 1 });
  t.equal(r.left[2], 1);
  t.equal(r.total(COUNTER.cancelled), 0);
  t.equal(r.total(COUNTER.expired), 1);
});

t.test('reserve mode: cancelling twice returns the unit once and answers the cancelled order both times', async (t) => {
  const r = rig(t, [storedItem({ mode: 'reserve', stock: 3 })]);
  r.run(OP.buy, 1, 0, T0);
  r.run(OP.buy, 2, 0, T0);
  const book = r.books[0]!;
  const before = book.left;
  t.same(r.appended(OP.cancel, 1, 1, T0 + 5), { outcome: OUTCOME.ok, records: 1 });
  t.equal(r.out.state, ORDER_STATE.cancelled);
  t.equal(book.left, before + 1, 'left went up by one');
  t.same(r.appended(OP.cancel, 1, 1, T0 + 6), { outcome: OUTCOME.ok, records: 0 }, 'the second cancel appends nothing');
  t.equal(r.out.state, ORDER_STATE.cancelled);
  t.equal(book.left, before + 1, 'left went up by exactly one in all');
  t.equal(r.left[2], before + 1);
  t.same(r.appended(OP.pay, 1, 1, T0 + 7), { outcome: OUTCOME.cancelled, records: 0 },
    'a cancelled order cannot be paid');
  t.equal(r.shard.sweep(T0 + PAY_MS), 1, 'the sweep expires only the other reservation');
  t.equal(book.left, 3);
  t.equal(r.total(COUNTER.cancelled), 1);
});

t.test('reserve mode: a cancelled reservation frees the user\'s place under the per-user limit', async (t) => {
  const r = rig(t, [storedItem({ mode: 'reserve', stock: 5, perUserLimit: 1 })]);
  t.equal(r.run(OP.buy, 1, 0, T0), OUTCOME.ok);
  t.equal(r.run(OP.buy, 1, 0, T0), OUTCOME.limit_reached);
  t.equal(r.run(OP.cancel, 1, 1, T0), OUTCOME.ok);
  t.equal(r.run(OP.buy, 1, 0, T0), OUTCOME.ok, 'the user may buy again');
  t.equal(r.out.orderId, orderIdOf(5, 2), 'as a new order');
  t.equal(r.run(OP.buy, 1, 0, T0), OUTCOME.limit_reached);
  t.equal(r.shard.sweep(T0 + PAY_MS), 1, 'the second reservation expires');
  t.equal(r.run(OP.buy, 1, 0, T0 + PAY_MS), OUTCOME.ok, 'and an expired one frees the place too');
});

t.test('the sweep expires each due reservation exactly once, at payBy and not before', async (t) => {
  const r = rig(t, [storedItem({ mode: 'reserve', stock: 5 })]);
  const book = r.books[0]!;
  r.run(OP.buy, 1, 0, T0); // seq 1, due at T0 + PAY_MS
  r.run(OP.buy, 2, 0, T0 + 10); // seq 2, paid below
  r.run(OP.buy, 3, 0, T0 + 20); // seq 3
  r.run(OP.buy, 4, 0, T0 + 30); // seq 4
  r.run(OP.pay, 2, 2, T0 + 40);
  t.equal(book.left, 1);
  const pending = r.log.pending;
  t.equal(r.shard.sweep(T0 + PAY_MS - 1), 0, 'nothing is due one millisecond before the first payBy');
  t.equal(r.shard.sweep(T0 + PAY_MS), 1, 'the first reservation expires at its payBy');
  t.equal(r.log.pending, pending + 1, 'one record for it');
  t.equal(r.shard.sweep(T0 + PAY_MS), 0, 'sweeping again at the same time expires nothing');
  t.equal(r.shard.sweep(T0 + PAY_MS + 20), 1, 'seq 3 (the paid seq 2 is skipped)');
  t.equal(r.shard.sweep(T0 + PAY_MS + 1000), 1, 'seq 4');
  t.equal(r.shard.sweep(T0 + PAY_MS + 2000), 0, 'the second sweep after everything is due finds nothing');
  t.equal(r.log.pending, pending + 3, 'one record per expired reservation');
  t.equal(book.left, 4, 'three units back, the paid one still held');
  t.equal(r.left[2], 4);
  t.equal(r.total(COUNTER.expired), 3);
  t.same([1, 2, 3, 4].map((seq) => book.orderState[seq]),
    [ORDER_STATE.expired, ORDER_STATE.paid, ORDER_STATE.expired, ORDER_STATE.expired]);
  t.equal(r.run(OP.pay, 1, 1, T0 + PAY_MS + 3000), OUTCOME.expired, 'a swept order cannot be paid');
  t.equal(r.run(OP.cancel, 3, 3, T0 + PAY_MS + 3000), OUTCOME.expired, 'nor cancelled');
  t.equal(book.left, 4);
  const expired = r.records().filter((rec) => rec.type === RECORD_TYPE.expired);
  t.same(expired.map((rec) => [rec.orderId, rec.state, rec.timeMs]), [
    [orderIdOf(5, 1), ORDER_STATE.expired, T0 + PAY_MS],
    [orderIdOf(5, 3), ORDER_STATE.expired, T0 + PAY_MS + 20],
    [orderIdOf(5, 4), ORDER_STATE.expired, T0 + PAY_MS + 1000],
  ], 'one expired record per order, stamped with the sweep time');
});

t.test('the sweep leaves order-mode items alone', async (t) => {
  const r = rig(t, [storedItem({ stock: 2 }), storedItem({ row: 6, id: 'res', mode: 'reserve', stock: 2 })]);
  r.run(OP.buy, 1, 0, T0, 0);
  r.run(OP.buy, 1, 0, T0, 1);
  t.equal(r.shard.sweep(T0 + 10 * PAY_MS), 1, 'only the reservation expires');
  t.same([r.left[2], r.left[3]], [1, 2]);
});

t.test('order mode: cancel and pay of a confirmed order get not_reserved', async (t) => {
  const r = rig(t, [storedItem({ stock: 2 })]);
  r.run(OP.buy, 1, 0, T0);
  t.same(r.appended(OP.cancel, 1, 1, T0), { outcome: OUTCOME.not_reserved, records: 0 });
  t.same(r.appended(OP.pay, 1, 1, T0), { outcome: OUTCOME.not_reserved, records: 0 });
  t.equal(r.left[2], 1, 'the unit stays sold');
  t.equal(r.books[0]!.orderState[1], ORDER_STATE.confirmed);
});

t.test('another user\'s order, sequence 0 and a sequence not yet used are unknown_order for every order op',
  async (t) => {
  const r = rig(t, [storedItem({ mode: 'reserve', stock: 3 })]);
  r.run(OP.buy, 1, 0, T0);
  for (const op of [OP.getOrder, OP.pay, OP.cancel]) {
    t.same(r.appended(op, 2, 1, T0), { outcome: OUTCOME.unknown_order, records: 0 }, `op ${op} by another user`);
    t.equal(r.run(op, 1 + 2 ** 32, 1, T0), OUTCOME.unknown_order, `op ${op} by a user equal below bit 32`);
    t.equal(r.run(op, 1, 0, T0), OUTCOME.unknown_order, `op ${op} on sequence 0`);
    t.equal(r.run(op, 1, 2, T0), OUTCOME.unknown_order, `op ${op} on the next, unused sequence`);
    t.equal(r.run(op, 1, 1000, T0), OUTCOME.unknown_order, `op ${op} past the order arrays`);
  }
  t.equal(r.books[0]!.orderState[1], ORDER_STATE.reserved, 'the owner\'s order is unchanged');
  t.equal(r.left[2], 2);
  t.equal(r.run(OP.getOrder, 1, 1, T0 + 1), OUTCOME.ok, 'the owner reads it');
  t.same({ ...r.out },
    { orderId: orderIdOf(5, 1), userId: 1, state: ORDER_STATE.reserved, createdAt: T0, payBy: T0 + PAY_MS,
      place: 0 });
});

t.test('reading an order after its payBy reports it reserved until a sweep or an action expires it', async (t) => {
  const r = rig(t, [storedItem({ mode: 'reserve', stock: 1 })]);
  r.run(OP.buy, 1, 0, T0);
  t.same(r.appended(OP.getOrder, 1, 1, T0 + PAY_MS), { outcome: OUTCOME.ok, records: 0 }, 'reading appends nothing');
  t.equal(r.out.state, ORDER_STATE.reserved, 'a read does not expire the order');
  t.equal(r.shard.sweep(T0 + PAY_MS), 1);
  r.run(OP.getOrder, 1, 1, T0 + PAY_MS);
  t.equal(r.out.state, ORDER_STATE.expired);
});

t.test('an item local index the shard does not own or an unknown op fails loudly', async (t) => {
  const r = rig(t, [storedItem()]);
  t.throws(() => r.shard.run(OP.buy, 1, 1, 0, T0, r.out), AssertionError);
  t.throws(() => r.shard.run(99, 0, 1, 0, T0, r.out), /unknown shard op 99/);
  t.equal(r.log.pending, 0);
});

t.test('orders beyond the initial order arrays are kept (the arrays grow)', async (t) => {
  const stock = 100;
  const item = storedItem({ stock, perUserLimit: stock });
  const r = rig(t, [item]);
  r.books[0] = new ItemBook(item, 2, 1); // start with the smallest arrays
  const book = r.books[0];
  for (let i = 1; i <= stock; i++) if (r.run(OP.buy, 9, 0, T0 + i) !== OUTCOME.ok) t.fail(`buy ${i}`);
  t.equal(book.orderCount, stock);
  t.ok(book.orderUser.length > stock, 'the arrays grew');
  t.equal(r.run(OP.getOrder, 9, stock, T0), OUTCOME.ok);
  t.equal(r.out.createdAt, T0 + stock, 'the last order kept its time');
  t.equal(r.run(OP.getOrder, 9, 1, T0), OUTCOME.ok);
  t.equal(r.out.createdAt, T0 + 1, 'the first order survived the growth');
  t.equal(r.run(OP.buy, 9, 0, T0), OUTCOME.sold_out);
  t.equal(r.log.pending, stock);
});

t.test('restoring an order at sequence 0 or twice at one sequence fails an assertion', async (t) => {
  const book = new ItemBook(storedItem({ stock: 3 }), 0, 4);
  t.throws(() => book.restoreOrder(0, 5, ORDER_STATE.confirmed, T0, 0), AssertionError, 'sequence 0 is refused');
  book.restoreOrder(1, 5, ORDER_STATE.confirmed, T0, 0);
  t.throws(() => book.restoreOrder(1, 6, ORDER_STATE.confirmed, T0, 0), AssertionError,
    'the same sequence twice is refused');
  t.equal(book.left, 2, 'only the one good restore took a unit');
  t.equal(book.orderCount, 1);
});

t.test('counters are per item, and a shard starts them from the orders it recovered', async (t) => {
  const r = rig(t, [storedItem({ row: 5, stock: 5 }), storedItem({ row: 6, id: 'tv', stock: 5 })]);
  t.equal(r.run(OP.buy, 1, 0, T0 + 1, 1), OUTCOME.ok);
  t.equal(r.counters[3 * COUNTER_FIELDS + COUNTER.won], 1, 'the win is counted on the second item (global index 3)');
  t.equal(r.counters[2 * COUNTER_FIELDS + COUNTER.won], 0, 'and not on the first');
  const book = new ItemBook(storedItem({ stock: 4, mode: 'reserve' }), 0, 4);
  book.restoreOrder(1, 10, ORDER_STATE.paid, T0, T0 + 1000);
  book.restoreOrder(2, 11, ORDER_STATE.expired, T0, T0 + 1000);
  book.restoreOrder(3, 12, ORDER_STATE.reserved, T0, T0 + 1000);
  const counters = new Float64Array(COUNTER_FIELDS);
  new Shard(0, [book], r.log, new Int32Array(1), counters);
  t.equal(counters[COUNTER.won], 3, 'recovered orders count as won');
  t.equal(counters[COUNTER.paid], 1);
  t.equal(counters[COUNTER.expired], 1);
  t.equal(counters[COUNTER.cancelled], 0);
});
