// Proves the numbering of the outcome stream where it is made, in
// LogApplier: every applied record gets one event, offsets 1, 2, 3 … in the
// order records are applied (across segments, i.e. shards, and across
// batches of more and fewer than one multi-row statement), carrying the
// record's fields; a batch that fails is rolled back with its events and
// the next one continues without a gap; two appliers on one database (the
// start-up recovery, then the persistence worker) never give two events one
// offset. Also the names of record types and the reader's JSON shape.

import t, { type Test } from 'tap';
import { AssertionError } from 'node:assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { deleteItem, openDatabase, upsertItem, type Db } from '../../persistence/database';
import { LogApplier } from '../../persistence/log-applier';
import { LOG_RECORD_BYTES } from '../../persistence/log-constants';
import { encodeFields, ORDER_STATE, PLACE_STATE, RECORD_TYPE } from '../../persistence/log-record';
import { orderIdOf } from '../../persistence/order-id';
import { eventLines, eventName, EventReader } from '../../persistence/outcome-events';

const T0 = 1_700_000_000_000;

function openTempDatabase(t: Test): Db {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flash-events-'));
  const db = openDatabase(dir, { fsync: false });
  t.teardown(() => {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  for (const id of ['a', 'b']) {
    upsertItem(db, { id, name: id, price: 1, stock: 1000, perUserLimit: 1, startsAt: T0, endsAt: T0 + 1e9,
      mode: 'reserve', payWindowSec: 60, challenge: false, fairWindowMs: 0 }, T0);
  }
  return db;
}

interface Fields { type: number; state: number; orderId: number; userId: number; timeMs: number; payBy: number }

/** Records as a segment holds them: a won record's time is its createdAt. */
function records(list: readonly Fields[]): Buffer {
  const bytes = Buffer.alloc(list.length * LOG_RECORD_BYTES);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  list.forEach((r, i) => encodeFields(view, bytes, i * LOG_RECORD_BYTES, r.type, r.state, r.orderId, r.userId,
    r.timeMs, r.payBy, r.type === RECORD_TYPE.won ? r.timeMs : T0, 0));
  return bytes;
}

/** `count` wins of item row `row`, orders `first`.. , users 1000 + sequence. */
function wins(row: number, first: number, count: number): Fields[] {
  return Array.from({ length: count }, (_, i) => ({
    type: RECORD_TYPE.won, state: ORDER_STATE.reserved, orderId: orderIdOf(row, first + i), userId: 1000 + first + i,
    timeMs: T0 + first + i, payBy: T0 + 60_000 + first + i,
  }));
}

function eventRows(db: Db): { seq: number; type: number; order_id: number; user_id: number; item_row: number }[] {
  return db.prepare('SELECT seq, type, order_id, user_id, item_row FROM events ORDER BY seq').all() as
    { seq: number; type: number; order_id: number; user_id: number; item_row: number }[];
}

t.test('every applied record gets the next offset, in apply order, across segments and batch sizes', async (t) => {
  const db = openTempDatabase(t);
  const applier = new LogApplier(db);
  // 100 wins: one full 64-row statement and 36 single rows; then 1; then 64 exactly.
  const shard0 = wins(1, 1, 100);
  applier.apply('s0', records(shard0), 100, 0);
  const shard1 = wins(2, 1, 1);
  applier.apply('s1', records(shard1), 1, 0);
  const more = wins(1, 101, 64);
  applier.apply('s0', records(more), 64, 100);
  const changes: Fields[] = [
    { ...shard1[0]!, type: RECORD_TYPE.paid, state: ORDER_STATE.paid, timeMs: T0 + 5000 },
    { ...shard0[0]!, type: RECORD_TYPE.cancelled, state: ORDER_STATE.cancelled, timeMs: T0 + 6000 },
    { ...shard0[1]!, type: RECORD_TYPE.expired, state: ORDER_STATE.expired, timeMs: T0 + 7000 },
  ];
  applier.apply('s1', records(changes), 3, 1);
  const all = [...shard0, ...shard1, ...more, ...changes];
  const rows = eventRows(db);
  t.equal(rows.length, all.length, 'one event per record');
  t.same(rows.map((r) => r.seq), all.map((_, i) => i + 1), 'offsets 1..N with no gap');
  t.same(rows.map((r) => [r.type, r.order_id, r.user_id]), all.map((r) => [r.type, r.orderId, r.userId]),
    'each event carries its record, in the order applied');
  t.same(rows.slice(100, 101).map((r) => r.item_row), [2], 'the item row is taken from the order id');
  t.equal(applier.lastEventSeq, all.length, 'the applier knows the newest offset it committed');

  const events = new EventReader(db).after(all.length - 3, 10);
  t.same(events, [
    { offset: 166, type: 'paid', order: String(orderIdOf(2, 1)), item: 'b', user: 1001, state: 'paid',
      at: T0 + 5000, payBy: T0 + 60_001 },
    { offset: 167, type: 'cancelled', order: String(orderIdOf(1, 1)), item: 'a', user: 1001, state: 'cancelled',
      at: T0 + 6000, payBy: T0 + 60_001 },
    { offset: 168, type: 'expired', order: String(orderIdOf(1, 2)), item: 'a', user: 1002, state: 'expired',
      at: T0 + 7000, payBy: T0 + 60_002 },
  ], 'the reader gives names, the item id and the order id as a string');
  t.equal(new EventReader(db).head(), 168);
  t.same(new EventReader(db).after(0, 2).map((e) => e.offset), [1, 2], 'limit bounds a read');
  t.equal(eventLines(events).split('\n').length, 4, 'one line per event, each ended');
});

t.test('a failed batch leaves no event, and the next batch continues without a gap', async (t) => {
  const db = openTempDatabase(t);
  const applier = new LogApplier(db);
  applier.apply('s0', records(wins(1, 1, 70)), 70, 0);
  // A paid record for an order that does not exist fails its assertion after 69 good wins in the same batch.
  const bad = [...wins(1, 71, 69), { ...wins(1, 999, 1)[0]!, type: RECORD_TYPE.paid, state: ORDER_STATE.paid }];
  t.throws(() => applier.apply('s0', records(bad), bad.length, 70), AssertionError);
  t.equal(eventRows(db).length, 70, 'the failed batch\'s events were rolled back with it');
  applier.apply('s0', records(wins(1, 71, 5)), 5, 70);
  t.same(eventRows(db).map((r) => r.seq), Array.from({ length: 75 }, (_, i) => i + 1), 'offsets 1..75');
});

t.test('two appliers on one database, made before either applied, never share an offset', async (t) => {
  const db = openTempDatabase(t);
  const recovery = new LogApplier(db);
  const worker = new LogApplier(db);
  recovery.apply('s0', records(wins(1, 1, 3)), 3, 0);
  worker.apply('s1', records(wins(2, 1, 2)), 2, 0);
  t.same(eventRows(db).map((r) => [r.seq, r.item_row]), [[1, 1], [2, 1], [3, 1], [4, 2], [5, 2]]);
  t.equal(worker.lastEventSeq, 5);
});

t.test('a deleted item\'s events say item null', async (t) => {
  const db = openTempDatabase(t);
  new LogApplier(db).apply('s0', records(wins(2, 1, 1)), 1, 0);
  deleteItem(db, 2);
  t.equal(new EventReader(db).after(0, 1)[0]!.item, null);
});

t.test('record types have one event name each; a won record with a waitlist place is an offer', async (t) => {
  t.same([1, 2, 3, 4, 5, 6].map((type) => eventName(type, null)),
    ['won', 'paid', 'cancelled', 'expired', 'entered', 'waitlisted']);
  t.equal(eventName(RECORD_TYPE.won, 3), 'offered');
  t.equal(eventName(RECORD_TYPE.paid, 3), 'paid', 'a place matters only on a won record');
  t.throws(() => eventName(7, null), /no event name for record type 7/);
});

t.test('entries, waitlist places and offers become events of their own, no order where there is none', async (t) => {
  const db = openTempDatabase(t);
  const applier = new LogApplier(db);
  const bytes = Buffer.alloc(5 * LOG_RECORD_BYTES);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const drawAt = T0 + 500;
  // An entry into item a's fair window (entrant 1), a place on item a's
  // waitlist (place 3), the order won by the offer to that place, and
  // place 4 joined and dropped.
  encodeFields(view, bytes, 0, RECORD_TYPE.entered, 0, orderIdOf(1, 1), 7, T0, drawAt, T0, 42);
  encodeFields(view, bytes, LOG_RECORD_BYTES, RECORD_TYPE.waitlisted, PLACE_STATE.waiting, orderIdOf(1, 3), 8,
    T0 + 1, 0, T0 + 1, 0);
  encodeFields(view, bytes, 2 * LOG_RECORD_BYTES, RECORD_TYPE.won, ORDER_STATE.reserved, orderIdOf(1, 9), 8,
    T0 + 2, T0 + 60_002, T0 + 2, 0, 3);
  encodeFields(view, bytes, 3 * LOG_RECORD_BYTES, RECORD_TYPE.waitlisted, PLACE_STATE.waiting, orderIdOf(1, 4), 9,
    T0 + 3, 0, T0 + 3, 0);
  encodeFields(view, bytes, 4 * LOG_RECORD_BYTES, RECORD_TYPE.waitlisted, PLACE_STATE.dropped, orderIdOf(1, 4), 9,
    T0 + 4, 0, T0 + 4, 0);
  applier.apply('s0', bytes, 5, 0);
  t.same(new EventReader(db).after(0, 10), [
    { offset: 1, type: 'entered', order: null, item: 'a', user: 7, state: 'entered', at: T0, payBy: null, drawAt },
    { offset: 2, type: 'waitlisted', order: null, item: 'a', user: 8, state: 'waiting', at: T0 + 1, payBy: null,
      place: 3 },
    { offset: 3, type: 'offered', order: String(orderIdOf(1, 9)), item: 'a', user: 8, state: 'reserved', at: T0 + 2,
      payBy: T0 + 60_002, place: 3 },
    { offset: 4, type: 'waitlisted', order: null, item: 'a', user: 9, state: 'waiting', at: T0 + 3, payBy: null,
      place: 4 },
    { offset: 5, type: 'waitlisted', order: null, item: 'a', user: 9, state: 'dropped', at: T0 + 4, payBy: null,
      place: 4 },
  ], 'entered, waitlisted and offered events, each with what it names');
});
